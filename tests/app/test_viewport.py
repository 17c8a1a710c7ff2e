"""Which viewport the app picks, and that each one puts the session's shape on screen."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtGui import QGuiApplication, QImage

from gan3d_studio.qt_viewport import QtViewport
from gan3d_studio.viewport import (
    NativeViewport,
    ViewportUnavailable,
    opengl_renderer,
    viewport_kind,
)
from tests.app.conftest import both_viewports, open_model

LLVMPIPE = "llvmpipe (LLVM 15.0.6, 256 bits)"
BACKGROUND = (0xEE, 0xF1, 0xF6)


def not_asked() -> str:
    raise AssertionError("the renderer was asked although it decides nothing here")


def test_software_opengl_gets_the_native_window_where_there_is_one():
    for platform, renderer, expected in (
        ("xcb", LLVMPIPE, "native"),
        ("xcb", "softpipe", "native"),
        ("cocoa", "Apple Software Renderer", "native"),
        ("windows", "NVIDIA GeForce RTX 3060/PCIe/SSE2", "qt"),
        ("xcb", "Mesa Intel(R) UHD Graphics 620 (KBL GT2)", "qt"),
        ("xcb", "", "qt"),  # no OpenGL context at all: nothing is faster
    ):
        assert viewport_kind(platform, "", lambda r=renderer: r) == expected, renderer
    # Native Wayland has no windows VTK can draw into: pyvistaqt's widget, whatever the GL.
    assert viewport_kind("wayland", "", not_asked) == "qt"
    assert viewport_kind("wayland-egl", "auto", not_asked) == "qt"


def test_gan3d_viewport_overrides_the_choice_or_says_why_it_cannot():
    assert viewport_kind("xcb", "qt", not_asked) == "qt"
    assert viewport_kind("xcb", "NATIVE", not_asked) == "native"
    assert viewport_kind("windows", "native", not_asked) == "native"
    with pytest.raises(ViewportUnavailable, match=r"VTK cannot draw into Qt's 'wayland'"):
        viewport_kind("wayland", "native", not_asked)
    with pytest.raises(ViewportUnavailable, match=r"GAN3D_VIEWPORT=opengl: use auto, qt or"):
        viewport_kind("xcb", "opengl", not_asked)
    for platform in ("offscreen", "minimal", "vnc"):
        with pytest.raises(ViewportUnavailable, match=f"cannot draw on Qt's '{platform}'"):
            viewport_kind(platform, "", not_asked)


def test_the_renderer_is_the_one_vtk_draws_with(qapp):
    import pyvista as pv

    assert opengl_renderer() == pv.GPUInfo().renderer  # e.g. llvmpipe on this display


def screen_pixels(widget) -> tuple[np.ndarray, QRect]:
    """What the screen shows of ``widget``: uint8 (H, W, 3), and which part of it that is
    (the window is larger than the virtual screen)."""
    screen = QGuiApplication.primaryScreen()
    corner = widget.mapToGlobal(QPoint(0, 0))
    visible = QRect(corner, widget.size()).intersected(screen.geometry())
    pixmap = screen.grabWindow(0, visible.x(), visible.y(), visible.width(), visible.height())
    image = pixmap.toImage().convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), -1)
    # A copy: the view into the QImage's memory dies with it.
    pixels = rows[:, : 3 * image.width()].reshape(image.height(), image.width(), 3).copy()
    return pixels, visible.translated(-corner)


def covered(image: np.ndarray) -> np.ndarray:
    """Where an (H, W, 3) picture is not the viewport's background."""
    return np.abs(image[..., :3].astype(int) - BACKGROUND).max(axis=2) > 16


@both_viewports
def test_each_viewport_puts_the_shape_on_screen(qtbot, window, cvaegan_checkpoint, request):
    kind = request.node.callspec.params["window"]
    viewport = window.viewport
    assert type(viewport) is {"qt": QtViewport, "native": NativeViewport}[kind]
    framed = []
    viewport.frame_drawn.connect(lambda: framed.append(window.session.shown))
    open_model(qtbot, window, cvaegan_checkpoint)
    # frame_drawn: a frame of the shown shape reached the screen
    qtbot.waitUntil(lambda: bool(framed) and framed[-1] is window.session.shown, timeout=10_000)
    pixels, part = screen_pixels(viewport)
    frame = viewport.grab_image()[part.top() : part.bottom() + 1, part.left() : part.right() + 1]
    on_screen, rendered = covered(pixels), covered(frame)
    assert 0.02 < on_screen.mean() < 0.8  # the shape, not an empty or a garbage frame
    overlap = (on_screen & rendered).sum() / (on_screen | rendered).sum()
    assert overlap > 0.9  # the screen shows the frame VTK rendered, where it rendered it

"""The 3D viewport: a pyvista plotter that draws the session's shape.

It binds to the :class:`~gan3d_studio.session.Session`: each shape the session shows is
drawn, and with no model yet it shows how to open one. Only the GUI thread calls it.
pyvistaqt's own drag-and-drop (which opens any dropped file as a mesh) is replaced: dropped
paths are handed to whoever listens to ``files_dropped``.

The plotter is pyvistaqt's ``QtInteractor`` (``gan3d_studio.qt_viewport.QtViewport``),
which runs wherever Qt has OpenGL, native Wayland included. On software OpenGL it is slow:
a ``QOpenGLWidget`` makes Qt composite the whole window through OpenGL on every repaint, a
slider's or a status message's too. There, where Qt's windows are native ones VTK can draw
into (X11, Windows, macOS), the same viewport draws into its own native window instead
(:class:`NativeViewport`); :func:`make_viewport` picks one by the OpenGL renderer, and the
``GAN3D_VIEWPORT`` environment variable (``qt`` or ``native``) overrides it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyvista as pv
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication, QOffscreenSurface, QOpenGLContext
from PySide6.QtWidgets import QWidget
from pyvista.plotting.plotter import BasePlotter

from gan3d_studio.native_plotter import NATIVE_WINDOW_PLATFORMS, NativePlotter
from gan3d_studio.session import Session
from gan3d_studio.wire import ShapeResult

SURFACE_COLOUR = (0.78, 0.80, 0.86)
LIGHTING = "three lights"
CAMERA_PRESETS = {
    "front": ((0.0, -1.0, 0.0), (0.0, 0.0, 1.0)),
    "side": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "top": ((0.0, 0.0, 1.0), (0.0, 1.0, 0.0)),
    "isometric": ((1.0, -1.0, 0.8), (0.0, 0.0, 1.0)),
}
# Keys VTK has no use for here, left to the window: Left / Right step through photos.
PASSED_ON_KEYS = (Qt.Key.Key_Left, Qt.Key.Key_Right)
OPEN_MODEL_PROMPT = "Open a model: File > Open, or drop a .safetensors here"
VIEWPORT_VARIABLE = "GAN3D_VIEWPORT"  # auto (the default), qt or native
# Qt platforms whose windows can show a QOpenGLWidget (not offscreen, minimal, vnc, ...).
OPENGL_WINDOW_PLATFORMS = ("xcb", "wayland", "windows", "cocoa")
# Words in the GL_RENDERER strings of CPU rasterisers: Mesa's llvmpipe, softpipe and
# "Software Rasterizer", Apple's "Software Renderer", Google's SwiftShader.
SOFTWARE_RENDERERS = ("llvmpipe", "softpipe", "software", "swiftshader")
GL_RENDERER = 0x1F01


def _dropped_paths(event) -> list[Path]:
    mime = event.mimeData()
    if mime is None or not mime.hasUrls():
        return []
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]


def _reaches_past(bounds, fitted, tolerance: float = 0.5) -> bool:
    """Whether box ``bounds`` (x0, x1, y0, y1, z0, z1) reaches past box ``fitted`` by more
    than ``tolerance`` (half a voxel) on any side."""
    lows, highs = np.asarray(bounds[::2]), np.asarray(bounds[1::2])
    return bool((lows < np.asarray(fitted[::2]) - tolerance).any()
                or (highs > np.asarray(fitted[1::2]) + tolerance).any())  # fmt: skip


def _aspect(size) -> float | None:
    """Width over height of a QSize; None for an empty or unknown one (Qt's -1 x -1)."""
    return size.width() / size.height() if size.width() > 0 and size.height() > 0 else None


def _shape_dataset(result: ShapeResult, side: int) -> pv.PolyData:
    """Points (with occupancy) or a triangle surface (with normals, if any), centred, in
    voxels of a ``side``^3 grid over the same box: a finer surface keeps the model's size."""
    grid = np.asarray(result.voxels.shape, np.float32)
    vertices = (result.vertices - (grid - 1) / 2.0) * (side / grid)
    if result.view.mode == "points":
        cloud = pv.PolyData(vertices)
        cloud["occupancy"] = result.values
        return cloud
    surface = pv.PolyData.from_regular_faces(vertices, result.faces)
    if len(result.normals):
        surface.point_data["Normals"] = result.normals
        surface.point_data.active_normals_name = "Normals"
    return surface


class ShapeView:
    """Draws the session's shown :class:`ShapeResult` (mesh or points); emits dropped file
    paths. Mixed into a pyvista plotter widget, before it."""

    files_dropped = Signal(list)
    frame_drawn = Signal()  # a frame reached the screen

    def __init__(self, session: Session, parent: QWidget | None = None, **plotter_options) -> None:
        # No anti-aliasing while interacting: with software OpenGL (Mesa llvmpipe) MSAA doubles
        # the cost of a frame and FXAA triples it (benchmarks/bench_app.py); screenshots get FXAA.
        # Three lights, not pyvista's five-light kit: they look alike on these shapes, and
        # on llvmpipe the GUI's CPU per 32^3 slider frame is 10-15 % lower.
        super().__init__(parent, multi_samples=0, lighting=LIGHTING, **plotter_options)
        # Flat: a gradient background costs a fifth of every frame on software OpenGL.
        self.set_background("#eef1f6")
        self.add_axes()
        # VTK's own character keys (w wireframe, s surface, e and q quit, 3 stereo, p pick,
        # f fly to) would change the drawing behind the View panel's back: the window's keys
        # (View > Camera, H) are the app's
        self.iren.interactor.RemoveObservers("CharEvent")
        self._actor = None
        self._actor_style: tuple[str, bool] | None = None  # (mode, wireframe) it was made for
        self._grid_size: int | None = None  # the model's grid: the camera's distance
        self._camera_given = False  # a session's camera, kept by the first shape drawn
        # the box of the shape the camera was last fitted to: only a shape reaching past it
        # can make the camera back off (a view zoomed in stays zoomed in)
        self._fitted_bounds: tuple | None = None
        self._message_actor = None
        self.message: str | None = None  # the hint shown in an empty scene
        self.setAcceptDrops(True)
        self._session = session
        session.shape_shown.connect(self.show_shape)
        if session.shown is not None:
            self.show_shape(session.shown)
        elif session.model is None:
            self.show_message(OPEN_MODEL_PROMPT)

    # -- drag and drop (replaces pyvistaqt's mesh opener) -----------------------------------------

    def dragEnterEvent(self, event) -> None:
        if _dropped_paths(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        if _dropped_paths(event):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = _dropped_paths(event)
        if paths:
            event.acceptProposedAction()
            self.files_dropped.emit(paths)

    def keyPressEvent(self, event) -> None:
        if event.key() in PASSED_ON_KEYS:
            event.ignore()  # on to the parent, the window
        else:
            super().keyPressEvent(event)

    def resizeEvent(self, event) -> None:
        """Keep what the view's narrower side shows: VTK keeps its height, so a window
        narrowed after a shape was fitted cut the shape off at the sides. (The native
        viewport calls this with no event when the screen's scale changes.)"""
        super().resizeEvent(event)
        narrow = self._narrow_share()
        if narrow is None:
            return
        camera = self.camera
        camera.SetUseHorizontalViewAngle(narrow < 1.0)  # the angle spans the narrower side
        before = getattr(self, "_narrow_before", None)  # as last applied: no step is lost
        if camera.parallel_projection and before is not None:  # its scale is the height's
            camera.parallel_scale *= before / narrow
        self._narrow_before = narrow

    def _narrow_share(self) -> float | None:
        """The narrower side over the height: 1 in a wide view, width / height in a tall
        one; None while the view has no size."""
        aspect = _aspect(self.size())
        return None if aspect is None else min(aspect, 1.0)

    def redraw(self) -> None:
        """Schedule one repaint; Qt's paint renders the scene once (render() would draw it,
        then the repaint it triggers would draw it again)."""
        self.update()

    # -- drawing ----------------------------------------------------------------------------------

    def show_message(self, text: str) -> None:
        """A centred hint in an empty scene (e.g. 'Open a model')."""
        self.clear_shape()
        if self._message_actor is not None:
            self.remove_actor(self._message_actor, render=False)
        self._message_actor = self.add_text(
            text, position="upper_edge", font_size=14, color="#333344"
        )
        self.message = text
        self.redraw()

    def clear_shape(self) -> None:
        if self._actor is not None:
            self.remove_actor(self._actor, render=False)
            self._actor = None
            self._actor_style = None

    def show_shape(self, result: ShapeResult, reset_camera: bool = False) -> None:
        """Replace the drawn shape by ``result`` (centred on the grid's middle).

        While the drawing style stays the same, the one actor is kept and only its data is
        swapped: pyvista's add_mesh costs more than the frame itself on software OpenGL.
        """
        if self._message_actor is not None:
            self.remove_actor(self._message_actor, render=False)
            self._message_actor = None
            self.message = None
        first = self._grid_size is None
        model = self._session.model
        self._grid_size = model.resolution if model is not None else result.voxels.shape[0]
        if result.empty:
            self.show_message("Empty shape at this threshold")
            return
        dataset = _shape_dataset(result, self._grid_size)
        style = (result.view.mode, result.view.wireframe)
        if self._actor is not None and style == self._actor_style:
            self._actor.mapper.dataset = dataset
        else:
            if self._actor is not None:
                self.remove_actor(self._actor, render=False)
            self._actor = self._add_actor(dataset, result.view)
            self._actor_style = style
        if (first and not self._camera_given) or reset_camera:
            self.set_camera("isometric", render=False)
        else:
            if self._fitted_bounds is None:  # a session's camera, kept for its first shape
                self._fitted_bounds = dataset.bounds
            if _reaches_past(dataset.bounds, self._fitted_bounds) and not self._in_view(
                dataset.bounds
            ):  # larger than the shape the view was fitted to: back off, looking the same way
                self._fit_camera()
            else:  # the camera stays (zoomed in, perhaps); its planes take this shape in
                self.reset_camera_clipping_range()
        self.redraw()

    def _add_actor(self, dataset: pv.PolyData, view) -> pv.Actor:
        if view.mode == "points":
            return self.add_mesh(
                dataset, scalars="occupancy", cmap="viridis", clim=(0, 1), point_size=6,
                render_points_as_spheres=True, show_scalar_bar=False, reset_camera=False,
                render=False,
            )  # fmt: skip
        # The surfaces are closed and wound outwards (marching cubes on a padded grid, and
        # the blocks' exposed faces), so back faces are always hidden: culling them draws
        # the same picture and halves a frame's cost on software OpenGL.
        actor = self.add_mesh(
            dataset, color=SURFACE_COLOUR, show_edges=view.wireframe, culling="back",
            reset_camera=False, render=False,
        )  # fmt: skip
        # Smooth mode shades with the worker's vertex normals; blocks stay flat.
        actor.prop.interpolation = "gouraud" if view.mode == "smooth" else "flat"
        return actor

    def set_camera(self, preset: str, render: bool = True) -> None:
        """front, side, top, isometric, or reset: as f3d's Enter, back to the first view
        (isometric), with the shape fitted in it."""
        self._look_along(*CAMERA_PRESETS["isometric" if preset == "reset" else preset])
        self._fit_camera()
        if render:
            self.redraw()

    def view_from(self, azimuth: float, elevation: float) -> None:
        """Look from a camera placed as the renderer places one (degrees; z up), e.g. where
        the staged model estimated a photo was taken: the shape as the photo shows it."""
        azimuth, elevation = np.radians(azimuth), np.radians(elevation)
        direction = (np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth),
                     np.sin(elevation))  # fmt: skip
        self._look_along(direction, (0.0, 0.0, 1.0))
        self._fit_camera()
        self.redraw()

    def _fit_camera(self) -> None:
        """Zoom to the shape drawn, keeping the direction, and remember its box."""
        self.reset_camera(render=False)
        self._fitted_bounds = self.renderer.ComputeVisiblePropBounds()

    def _in_view(self, bounds) -> bool:
        """Whether every corner of ``bounds`` (x0, x1, y0, y1, z0, z1) lies in front of the
        camera and projects inside the view."""
        renderer, (width, height) = self.renderer, self.renderer.GetSize()
        position = np.asarray(self.camera.position)
        looking = np.asarray(self.camera.direction)
        for x in bounds[:2]:
            for y in bounds[2:4]:
                for z in bounds[4:]:
                    if np.dot(np.array([x, y, z]) - position, looking) <= 0:
                        return False  # behind the camera: it is inside the shape
                    renderer.SetWorldPoint(x, y, z, 1.0)
                    renderer.WorldToDisplay()
                    column, row, _ = renderer.GetDisplayPoint()
                    if not (0 <= column <= width and 0 <= row <= height):
                        return False
        return True

    def _look_along(self, direction, up) -> None:
        """Put the camera on ``direction`` from the grid's centre, looking at it."""
        distance = 2.6 * (self._grid_size or 32)
        self.camera.position = tuple(distance * np.asarray(direction) / np.linalg.norm(direction))
        self.camera.focal_point = (0.0, 0.0, 0.0)
        self.camera.up = up

    def camera_state(self) -> dict:
        """Where the camera is, as a session file keeps it."""
        camera = self.camera
        return {
            "position": [float(v) for v in camera.position],
            "focal_point": [float(v) for v in camera.focal_point],
            "up": [float(v) for v in camera.up],
            "parallel": bool(camera.parallel_projection),
            # the orthographic view's zoom: half what its narrower side shows (VTK's parallel
            # scale in a wide view), so a session saved in a tall window opens alike in a wide one
            "parallel_scale": float(camera.parallel_scale * (self._narrow_share() or 1.0)),
        }

    def set_camera_state(self, state: dict) -> None:
        """Put the camera where :meth:`camera_state` found it (checked by the session);
        the first shape drawn after it keeps it."""
        self.camera.position = tuple(state["position"])
        self.camera.focal_point = tuple(state["focal_point"])
        self.camera.up = tuple(state["up"])
        if state["parallel"] != bool(self.camera.parallel_projection):
            self.toggle_orthographic()
        if "parallel_scale" in state:  # older files keep none
            self.camera.parallel_scale = state["parallel_scale"] / (self._narrow_share() or 1.0)
        self._camera_given = True
        self._fitted_bounds = None  # kept as it is for the next shape, whatever its size
        self.redraw()

    def toggle_orthographic(self) -> None:
        """Switch between perspective and orthographic (parallel) projection."""
        if self.camera.parallel_projection:
            self.disable_parallel_projection()
        else:
            self.enable_parallel_projection()  # scaled by the view angle, which spans
            narrow = self._narrow_share()  # the width in a tall view (see resizeEvent)
            if self.camera.GetUseHorizontalViewAngle() and narrow is not None:
                self.camera.parallel_scale /= narrow  # and the scale is always the height's
        self.redraw()

    def grab_frames(self, results: Sequence[ShapeResult]) -> list[np.ndarray]:
        """Each of ``results`` drawn and grabbed (an animation's frames); then the session's
        shape is drawn again."""
        try:
            frames = []
            for result in results:
                self.show_shape(result)
                frames.append(self.grab_image())
            return frames
        finally:
            if self._session.shown is not None:
                self.show_shape(self._session.shown)

    def grab_image(self, transparent: bool = False) -> np.ndarray:
        """The current frame, anti-aliased: uint8 (H, W, 3), or (H, W, 4) with the
        background fully transparent and the orientation axes left out when
        ``transparent`` (a shape to composite, the object alone)."""
        self.enable_anti_aliasing("fxaa")
        if transparent:
            self.hide_axes()
        try:
            # Draw now: a scheduled repaint may not have happened yet (QtInteractor.render
            # only emits a signal, and on macOS from another thread).
            BasePlotter.render(self)
            return self.screenshot(return_img=True, transparent_background=transparent)
        finally:
            if transparent:
                self.show_axes()
            self.disable_anti_aliasing()


class NativeViewport(ShapeView, NativePlotter):
    """The viewport in a native window VTK draws into: the fallback on software OpenGL."""

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if not self.closed:
            self.frame_drawn.emit()


class ViewportUnavailable(RuntimeError):
    """No viewport can draw here, or not the one ``GAN3D_VIEWPORT`` asks for."""


def opengl_renderer() -> str:
    """The GL_RENDERER string of the OpenGL Qt gives this process (e.g.
    ``"llvmpipe (LLVM 15.0.6, 256 bits)"``); empty where there is none."""
    context, surface = QOpenGLContext(), QOffscreenSurface()
    surface.create()
    if not context.create() or not context.makeCurrent(surface):
        return ""
    try:
        return context.functions().glGetString(GL_RENDERER) or ""
    finally:
        context.doneCurrent()


def viewport_kind(
    platform: str, asked: str = "", renderer: Callable[[], str] = opengl_renderer
) -> str:
    """``"qt"`` or ``"native"``, on Qt's ``platform``: as ``asked`` (``GAN3D_VIEWPORT``: qt,
    native, or auto if empty) says, and on auto native where it is much faster, on software
    OpenGL (``renderer()``, asked only then) on a platform with native windows.

    Raises
    ------
    ViewportUnavailable
        On a Qt platform without OpenGL windows, for native where there are no native
        windows, and for an unknown ``asked``.
    """
    asked = asked.lower() or "auto"
    if asked not in ("auto", "qt", "native"):
        raise ViewportUnavailable(f"{VIEWPORT_VARIABLE}={asked}: use auto, qt or native")
    if platform.split("-")[0] not in OPENGL_WINDOW_PLATFORMS:  # wayland-egl is Wayland too
        raise ViewportUnavailable(
            f"the 3D view cannot draw on Qt's {platform!r} platform (no OpenGL windows)"
        )
    native_possible = platform in NATIVE_WINDOW_PLATFORMS
    if asked == "native" and not native_possible:
        raise ViewportUnavailable(
            f"{VIEWPORT_VARIABLE}=native: VTK cannot draw into Qt's {platform!r} windows; "
            "use X11 (QT_QPA_PLATFORM=xcb) or the default viewport"
        )
    if asked != "auto":
        return asked
    if not native_possible:
        return "qt"
    return "native" if any(word in renderer().lower() for word in SOFTWARE_RENDERERS) else "qt"


def make_viewport(session: Session, parent: QWidget | None = None) -> ShapeView:
    """The viewport :func:`viewport_kind` picks here, bound to ``session``."""
    kind = viewport_kind(QGuiApplication.platformName(), os.environ.get(VIEWPORT_VARIABLE, ""))
    if kind == "native":
        return NativeViewport(session, parent)
    # Imported only where it draws: pyvistaqt's Qt shims (qtpy) cost 0.2 s of start-up.
    from gan3d_studio.qt_viewport import QtViewport

    return QtViewport(session, parent)

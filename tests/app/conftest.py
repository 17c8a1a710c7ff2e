"""App fixtures: hermetic settings, a real window on a virtual display, no leaked threads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("PySide6", reason="the app needs PySide6")

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config, items) -> None:
    """Without any display (no X/Wayland and no Xvfb for pytest-xvfb to start), Qt would
    abort the whole run; skip the app tests instead and say how to get them running."""
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return
    reason = "no display: install Xvfb (apt-get install xvfb) so pytest-xvfb can start one"
    for item in items:
        if HERE in Path(item.fspath).parents:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def settings(tmp_path):
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture(scope="session")
def engine_process():
    """One engine process for the app tests (starting one costs seconds: it imports torch)."""
    from gan3d_studio.engine_process import EngineProcess

    process = EngineProcess()
    yield process
    process.close()


# For tests that must pass with either viewport: pyvistaqt's, or the native window that
# software OpenGL (this virtual display's llvmpipe) gets by default.
both_viewports = pytest.mark.parametrize("window", ["qt", "native"], indirect=True)


@pytest.fixture
def window(request, qtbot, settings, engine_process, monkeypatch):
    """The real main window; on teardown it is closed and its worker thread must be gone.
    Its viewport is the one the app picks, or ``request.param`` (see ``both_viewports``)."""
    from PySide6.QtWidgets import QMessageBox

    from gan3d_studio.main_window import MainWindow

    monkeypatch.setenv("GAN3D_VIEWPORT", getattr(request, "param", "auto"))

    win = MainWindow(settings, device="cpu", engine=engine_process)
    # no modal question about unsaved work in the middle of a test (tests of it set their own)
    monkeypatch.setattr(win, "ask_to_save_work", lambda action: QMessageBox.StandardButton.Discard)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()
    assert not win.controller.worker.thread.isRunning(), "worker QThread left running"


def open_model(qtbot, window, path) -> None:
    with qtbot.waitSignal(window.controller.shape_shown, timeout=30_000):
        window.controller.open_model(path)


def frame(window):
    return window.viewport.grab_image().astype(int)

"""A pyvista plotter drawn into a native child window: the viewport on software OpenGL.

pyvistaqt's ``QtInteractor`` is a ``QOpenGLWidget``: Qt then composites the whole main window
through OpenGL on every repaint, a status-bar text change included. On software OpenGL (Mesa
llvmpipe, the only OpenGL on many Linux desktops without a GPU driver, in VMs and on CI) that
full-window pass cost 18 ms of CPU in a 1400x900 window, and a 3D frame twice that on top.
VTK's own ``QWidget``-based interactor instead lets VTK draw straight into a native window:
the rest of the interface stays plain raster painting (0.5 ms for the same status change).
Such windows exist on Qt's X11, Windows and macOS platforms, not on native Wayland.
"""

from __future__ import annotations

import contextlib

import vtkmodules.qt
from PySide6.QtCore import QEvent

# Read by the import below: the native-window base class, bound to the Qt we use.
vtkmodules.qt.QVTKRWIBase = "QWidget"
vtkmodules.qt.PyQtImpl = "PySide6"

from pyvista.plotting.plotter import BasePlotter  # noqa: E402
from pyvista.plotting.render_window_interactor import RenderWindowInteractor  # noqa: E402
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor  # noqa: E402

# Qt platforms on which a widget's native window is one VTK can draw into (the viewport's
# choice checks this before making a NativePlotter).
NATIVE_WINDOW_PLATFORMS = ("xcb", "windows", "cocoa")
# Qt 6.6 and later tell a widget when it moves to a screen with another scale factor.
_PIXEL_RATIO_CHANGE = getattr(QEvent.Type, "DevicePixelRatioChange", None)


class _ClosedInteractor:
    """Stands in for VTK's interactor after close(): Qt still delivers enter/leave, mouse and
    timer events to the widget, and they must find something that ignores them."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


@contextlib.contextmanager
def _base_plotter_init_skipped():
    """PySide6 runs every base class's ``__init__`` from the Qt one (cooperative multiple
    inheritance); BasePlotter's must run once, later, with its own arguments."""
    init = BasePlotter.__init__
    BasePlotter.__init__ = lambda *args, **kwargs: None
    try:
        yield
    finally:
        BasePlotter.__init__ = init


class NativePlotter(QVTKRenderWindowInteractor, BasePlotter):
    """The pyvista plotting API (add_mesh, camera, screenshot, ...) on a native Qt widget.

    ``render()`` draws now; ``update()`` asks Qt for a repaint, which draws once.
    """

    def __init__(self, parent=None, multi_samples: int = 0, lighting: str = "light kit") -> None:
        with _base_plotter_init_skipped():
            QVTKRenderWindowInteractor.__init__(self, parent)
        BasePlotter.__init__(self, lighting=lighting)
        self.ren_win = self.GetRenderWindow()
        self.ren_win.SetMultiSamples(multi_samples)
        for renderer in self.renderers:
            renderer.view_isometric()
            self.ren_win.AddRenderer(renderer)
        self.iren = RenderWindowInteractor(self, interactor=self.ren_win.GetInteractor())
        self.iren.initialize()
        self.enable_trackball_style()
        self._first_time = False  # BasePlotter: this window renders on request, not on show()

    @property
    def closed(self) -> bool:
        return getattr(self, "_closed", True)  # BasePlotter sets it

    def render(self) -> None:
        if self.closed:
            return  # the render window is finalized: touching OpenGL now could crash
        self._rendered = True
        BasePlotter.render(self)

    def _getPixelRatio(self) -> float:
        # VTK's version asks the screen under the mouse cursor, not the one showing the widget.
        return self.devicePixelRatioF()

    def event(self, event) -> bool:
        if event.type() == _PIXEL_RATIO_CHANGE:
            self.resizeEvent(None)  # moved to a screen with another scale: resize the frame
        return super().event(event)

    def resizeEvent(self, event) -> None:
        if not self.closed:  # VTK's resize needs the render window close() released
            super().resizeEvent(event)

    def closeEvent(self, event) -> None:
        self.close()
        event.accept()

    def close(self) -> None:
        """Release VTK's window, its OpenGL context and its X connection, now (idempotent):
        left to the garbage collector, the connection would outlive a virtual display."""
        if self.closed:
            return
        self._Timer.stop()
        render_window = self._RenderWindow
        BasePlotter.close(self)
        render_window.Finalize()
        # The last references: VTK closes its X connection when the window is destroyed.
        self._RenderWindow = None
        self._Iren = _ClosedInteractor()
        self.hide()  # nothing draws it any more

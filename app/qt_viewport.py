"""The viewport on pyvistaqt's ``QtInteractor``, in a module of its own: pyvistaqt is imported
only where it draws (:func:`gan3d_studio.viewport.make_viewport`)."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget
from pyvistaqt import QtInteractor

from gan3d_studio.session import Session
from gan3d_studio.viewport import ShapeView


class QtViewport(ShapeView, QtInteractor):
    """The viewport on pyvistaqt's ``QtInteractor``: VTK renders into an OpenGL framebuffer
    that Qt composites into the window."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        # auto_update off: nothing changes the scene behind the viewport's back, and each
        # timed render would cost a whole frame.
        super().__init__(session, parent, auto_update=False)
        self._painted = False
        # pyvista's own keys (q, b and C pick, v, +/-) are its plotter window's; the app's
        # keys are the main window's shortcuts.
        self.iren.clear_key_event_callbacks()
        self.frameSwapped.connect(self._frame_swapped)

    def paintGL(self) -> None:
        super().paintGL()
        self._painted = not self._closed

    def _frame_swapped(self) -> None:
        # Qt swaps after every composition of the window; a frame is drawn when this widget
        # painted one for it.
        if self._painted:
            self._painted = False
            self.frame_drawn.emit()

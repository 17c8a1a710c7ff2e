"""Widgets the panels share."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QSlider, QWidget


class ScrollSafeSlider(QSlider):
    """A slider the mouse wheel moves only once it has the focus (a click or Tab gave it):
    a wheel turned to scroll a dock passes over sliders, and each notch would edit the
    shape and record it."""

    def __init__(self, orientation: Qt.Orientation = Qt.Orientation.Horizontal, parent=None):
        super().__init__(orientation, parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # not WheelFocus: the wheel gives none

    def wheelEvent(self, event) -> None:
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()  # on to the dock's scroll area


class _EnterStaysHere(QObject):
    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and event.key() in (
            Qt.Key.Key_Return,
            Qt.Key.Key_Enter,
        ):
            event.accept()  # not the window's shortcut: the key goes to the widget
            return True
        return super().eventFilter(watched, event)


def keep_enter(*widgets: QWidget) -> None:
    """Enter and Return typed in ``widgets`` (or in editors opened inside them: the key's
    shortcut check reaches their parents) stay there: the window's Enter resets the camera
    (f3d's key), and took a seed typed in its box, or a bookmark's new name."""
    for widget in widgets:
        keeper = _EnterStaysHere(widget)  # lives as long as the widget
        widget.installEventFilter(keeper)

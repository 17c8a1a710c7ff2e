"""Widgets the panels share."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSlider


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

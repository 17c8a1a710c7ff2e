"""History panel: every shape shown, newest last; click one, or move to it with the arrow
keys, to go back to it."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker
from PySide6.QtWidgets import QListWidget, QVBoxLayout, QWidget

from gan3d_studio.session import Session


class HistoryPanel(QWidget):
    def __init__(self, session: Session, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self.list = QListWidget()
        QVBoxLayout(self).addWidget(self.list)
        session.history_changed.connect(self.refresh)
        # the highlighted row is the shape shown, whether a click or a key moved it
        self.list.currentRowChanged.connect(self._row_chosen)
        self.refresh()

    def _row_chosen(self, row: int) -> None:
        if 0 <= row < len(self.session.history) and row != self.session.history_index:
            self.session.go_to(row)

    def refresh(self) -> None:
        with QSignalBlocker(self.list):  # rebuilding the list chooses nothing
            self.list.clear()
            for index, state in enumerate(self.session.history):
                self.list.addItem(f"{index + 1}. {state.source}")
            if self.session.history_index >= 0:
                self.list.setCurrentRow(self.session.history_index)

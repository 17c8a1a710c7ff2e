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
            model = self.session.model
            names = model.class_names if model is not None and model.conditional else ()
            for index, state in enumerate(self.session.history):
                # the class tells apart a photo read again as another class
                shown_as = f" ({names[state.label]})" if names else ""
                self.list.addItem(f"{index + 1}. {state.source}{shown_as}")
            if self.session.history_index >= 0:
                self.list.setCurrentRow(self.session.history_index)

"""History panel: every shape shown, newest last; click to go back to one."""

from __future__ import annotations

from PySide6.QtWidgets import QListWidget, QVBoxLayout, QWidget

from gan3d_studio.session import Session


class HistoryPanel(QWidget):
    def __init__(self, session: Session, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self.list = QListWidget()
        QVBoxLayout(self).addWidget(self.list)
        session.history_changed.connect(self.refresh)
        self.list.itemClicked.connect(lambda item: self.session.go_to(self.list.row(item)))
        self.refresh()

    def refresh(self) -> None:
        self.list.clear()
        for index, state in enumerate(self.session.history):
            self.list.addItem(f"{index + 1}. {state.source}")
        if self.session.history_index >= 0:
            self.list.setCurrentRow(self.session.history_index)

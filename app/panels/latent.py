"""Latent panel: principal directions as sliders, raw dimensions in a searchable table.

The widgets mirror the current latent both ways: each slider shows the latent's coordinate
along its direction in sigmas, and moving it changes only that coordinate. Dragging previews
(no history entry); releasing records the edit.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gan3d_studio.session import LatentState, ModelInfo, Session

SLIDER_STEPS_PER_SIGMA = 100
SIGMA_RANGE = 3


class LatentPanel(QWidget):
    """Emits ``edited(state, record)`` for every slider or table change."""

    edited = Signal(object, bool)

    def __init__(self, session: Session, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self.sliders: list[QSlider] = []
        self._labels: list[QLabel] = []
        self._directions = np.zeros((0, 0), np.float32)
        self._scales = np.zeros(0, np.float32)
        self._base: LatentState | None = None
        self._updating = False
        self.slider_grid = QGridLayout()
        self.reset_button = QPushButton("Reset sliders")
        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter dimensions (e.g. 12)")
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["dim", "value"])
        self.table.verticalHeader().hide()
        self.table.setMinimumHeight(120)
        layout = QVBoxLayout(self)
        layout.addLayout(self.slider_grid)
        layout.addWidget(self.reset_button)
        layout.addWidget(QLabel("Raw dimensions"))
        layout.addWidget(self.search)
        layout.addWidget(self.table)
        self.reset_button.clicked.connect(self.reset)
        self.search.textChanged.connect(self._filter)
        self.table.itemChanged.connect(self._table_edited)
        session.model_changed.connect(self.set_model)
        session.latent_changed.connect(self.show_latent)
        self.set_model(session.model)

    def set_model(self, info: ModelInfo | None) -> None:
        for widget in self.sliders + self._labels:
            widget.deleteLater()
        self.sliders, self._labels = [], []
        self._base = None
        if info is None:
            self.table.setRowCount(0)
            return
        self._directions, self._scales = info.directions, info.direction_scales
        for index in range(len(self._directions)):
            label = QLabel(f"Direction {index + 1}")
            slider = QSlider(Qt.Orientation.Horizontal)
            span = SIGMA_RANGE * SLIDER_STEPS_PER_SIGMA
            slider.setRange(-span, span)
            slider.setToolTip(f"Principal direction {index + 1}, ±{SIGMA_RANGE} σ")
            slider.valueChanged.connect(lambda value, i=index: self._slider_moved(i, value))
            slider.sliderReleased.connect(self._commit)
            self.slider_grid.addWidget(label, index, 0)
            self.slider_grid.addWidget(slider, index, 1)
            self.sliders.append(slider)
            self._labels.append(label)
        self._updating = True
        self.table.setRowCount(info.latent_dim)
        for row in range(info.latent_dim):
            item = QTableWidgetItem(str(row))
            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.table.setItem(row, 0, item)
            self.table.setItem(row, 1, QTableWidgetItem("0"))
        self._updating = False

    def coordinates(self, latent: np.ndarray) -> np.ndarray:
        """The latent along each direction, in sigmas."""
        return (self._directions @ latent) / self._scales

    def show_latent(self, state: LatentState | None) -> None:
        """Mirror ``state`` in the sliders and the table (without echoing edits back)."""
        if state is None or not self.sliders:
            return
        if not self._is_own_edit(state):
            self._base = state
        self._updating = True
        try:
            for slider, value in zip(self.sliders, self.coordinates(state.latent)):
                if not slider.isSliderDown():
                    slider.setValue(round(float(value) * SLIDER_STEPS_PER_SIGMA))
            for row, value in enumerate(state.latent):
                self.table.item(row, 1).setText(f"{value:.3f}")
        finally:
            self._updating = False

    def _is_own_edit(self, state: LatentState) -> bool:
        return state.source.startswith("edited")

    def _slider_moved(self, index: int, value: int) -> None:
        current = self.session.current
        if self._updating or current is None:
            return
        target = value / SLIDER_STEPS_PER_SIGMA
        delta = (target - self.coordinates(current.latent)[index]) * self._scales[index]
        latent = current.latent + delta * self._directions[index]
        state = LatentState(
            latent.astype(np.float32), current.label, f"edited direction {index + 1}"
        )
        dragging = self.sliders[index].isSliderDown()
        self.edited.emit(state, not dragging)

    def _commit(self) -> None:
        current = self.session.current
        if current is not None:
            self.edited.emit(current, True)

    def _table_edited(self, item: QTableWidgetItem) -> None:
        current = self.session.current
        if self._updating or current is None or item.column() != 1:
            return
        try:
            value = float(item.text())
        except ValueError:
            self.show_latent(current)
            return
        latent = current.latent.copy()
        latent[item.row()] = value
        self.edited.emit(LatentState(latent, current.label, f"edited dimension {item.row()}"), True)

    def _filter(self, text: str) -> None:
        for row in range(self.table.rowCount()):
            self.table.setRowHidden(row, bool(text) and text.strip() not in str(row))

    def reset(self) -> None:
        if self._base is not None:
            self.edited.emit(
                LatentState(self._base.latent, self._base.label, "edited: reset"), True
            )

"""Latent panel: principal directions as sliders, raw dimensions in a searchable table.

The widgets mirror the current latent both ways: each slider shows the latent's coordinate
along its direction in sigmas, and moving it changes only that coordinate. Dragging previews
(no history entry); releasing records the edit.

The table is a view over a model that holds the latent as an array: a new latent is one
``dataChanged`` and the view formats only the rows it shows. (A QTableWidget took 15 ms
per slider step at 200 dimensions, on the GUI thread, in the middle of every drag.)
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtWidgets import (
    QGridLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from gan3d_studio.panels.widgets import ScrollSafeSlider, keep_enter
from gan3d_studio.session import EDIT_SOURCE_PREFIX, Session
from gan3d_studio.wire import LatentState, ModelInfo

SLIDER_STEPS_PER_SIGMA = 100
SIGMA_RANGE = 3
DIMENSION_COLUMN, VALUE_COLUMN = 0, 1
FLOAT32_MAX = float(np.finfo(np.float32).max)  # a Python float: compared without a cast


class LatentTableModel(QAbstractTableModel):
    """Rows of (dimension, value) over one latent; emits ``value_edited(dimension, value)``
    when the user types a number into the value column (other text is refused)."""

    value_edited = Signal(int, float)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._latent = np.zeros(0, np.float32)

    def set_latent(self, latent: np.ndarray) -> None:
        resized = len(latent) != len(self._latent)  # another model: new rows
        if resized:
            self.beginResetModel()
        self._latent = np.array(latent, np.float32)
        if resized:
            self.endResetModel()
        elif len(latent):
            self.dataChanged.emit(
                self.index(0, VALUE_COLUMN), self.index(len(latent) - 1, VALUE_COLUMN)
            )

    def rowCount(self, parent: QModelIndex | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(self._latent)

    def columnCount(self, parent: QModelIndex | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else 2

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return ("dim", "value")[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or role not in (
            Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole
        ):  # fmt: skip
            return None
        if index.column() == DIMENSION_COLUMN:
            return str(index.row())
        value = self._latent[index.row()]
        # The editor opens on the exact value, so confirming it unchanged changes nothing.
        return f"{value:.3f}" if role == Qt.ItemDataRole.DisplayRole else f"{value:.9g}"

    def flags(self, index):
        flags = super().flags(index)
        if index.column() == VALUE_COLUMN:
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags

    def setData(self, index, value, role=Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or index.column() != VALUE_COLUMN:
            return False
        try:
            number = float(value)
        except (TypeError, ValueError):
            return False
        if not abs(number) <= FLOAT32_MAX:  # also NaN and inf
            return False
        if np.float32(number) != self._latent[index.row()]:
            # The panel records the edit and the new latent comes back through set_latent.
            self.value_edited.emit(index.row(), number)
        return True


class LatentPanel(QWidget):
    """Emits ``edited(state, record)`` for every slider or table change."""

    edited = Signal(object, bool)

    def __init__(self, session: Session, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self.sliders: list[ScrollSafeSlider] = []
        self._labels: list[QLabel] = []
        self._directions = np.zeros((0, 0), np.float32)
        self._scales = np.zeros(0, np.float32)
        self._centre: np.ndarray | None = None
        self._updating = False
        self.slider_grid = QGridLayout()
        self.reset_button = QPushButton("Reset sliders")
        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter dimensions (e.g. 12)")
        self.table_model = LatentTableModel(self)
        self._filtered = QSortFilterProxyModel(self)
        self._filtered.setSourceModel(self.table_model)
        self._filtered.setFilterKeyColumn(DIMENSION_COLUMN)
        self.table = QTableView()
        self.table.setModel(self._filtered)
        self.table.verticalHeader().hide()
        self.table.setMinimumHeight(120)
        keep_enter(self.table.viewport())  # a value typed in its editor
        layout = QVBoxLayout(self)
        layout.addLayout(self.slider_grid)
        layout.addWidget(self.reset_button)
        layout.addWidget(QLabel("Raw dimensions"))
        layout.addWidget(self.search)
        layout.addWidget(self.table)
        self.reset_button.clicked.connect(self.reset)
        self.search.textChanged.connect(
            lambda text: self._filtered.setFilterFixedString(text.strip())
        )
        self.table_model.value_edited.connect(self._table_edited)
        session.model_changed.connect(self.set_model)
        session.latent_changed.connect(self.show_latent)
        self.set_model(session.model)

    def set_model(self, info: ModelInfo | None) -> None:
        for widget in self.sliders + self._labels:
            widget.deleteLater()
        self.sliders, self._labels = [], []
        if info is None:
            self.table_model.set_latent(np.zeros(0, np.float32))
            return
        self._directions, self._scales = info.directions, info.direction_scales
        self._centre = info.direction_centre
        for index in range(len(self._directions)):
            label = QLabel(f"Direction {index + 1}")
            slider = ScrollSafeSlider()
            span = SIGMA_RANGE * SLIDER_STEPS_PER_SIGMA
            slider.setRange(-span, span)
            slider.setToolTip(f"Principal direction {index + 1}, ±{SIGMA_RANGE} σ")
            slider.valueChanged.connect(lambda value, i=index: self._slider_moved(i, value))
            slider.sliderReleased.connect(self._commit)
            self.slider_grid.addWidget(label, index, 0)
            self.slider_grid.addWidget(slider, index, 1)
            self.sliders.append(slider)
            self._labels.append(label)
        self.table_model.set_latent(np.zeros(info.latent_dim, np.float32))

    def coordinates(self, latent: np.ndarray) -> np.ndarray:
        """The latent along each direction, in sigmas from the centre of the latents."""
        if self._centre is not None:
            latent = latent - self._centre
        return (self._directions @ latent) / self._scales

    def show_latent(self, state: LatentState | None) -> None:
        """Mirror ``state`` in the sliders and the table (without echoing edits back)."""
        if state is None or not self.sliders:
            return
        self._updating = True
        try:
            for slider, value in zip(self.sliders, self.coordinates(state.latent)):
                if not slider.isSliderDown():
                    slider.setValue(round(float(value) * SLIDER_STEPS_PER_SIGMA))
            self.table_model.set_latent(state.latent)
        finally:
            self._updating = False

    def _slider_moved(self, index: int, value: int) -> None:
        current = self.session.current
        if self._updating or current is None:
            return
        target = value / SLIDER_STEPS_PER_SIGMA
        delta = (target - self.coordinates(current.latent)[index]) * self._scales[index]
        latent = current.latent + delta * self._directions[index]
        state = LatentState(
            latent.astype(np.float32), current.label, f"{EDIT_SOURCE_PREFIX} direction {index + 1}"
        )
        dragging = self.sliders[index].isSliderDown()
        self.edited.emit(state, not dragging)

    def _commit(self) -> None:
        current = self.session.current
        if current is not None:
            self.edited.emit(current, True)

    def _table_edited(self, dimension: int, value: float) -> None:
        current = self.session.current
        if current is None:
            return
        latent = current.latent.copy()
        latent[dimension] = value
        source = f"{EDIT_SOURCE_PREFIX} dimension {dimension}"
        self.edited.emit(LatentState(latent, current.label, source), True)

    def reset(self) -> None:
        """Back to the shape the slider and table edits started from, in the class shown
        (a class chosen since stays); nothing when no edit moved it."""
        base, current = self.session.edit_base(), self.session.current
        if base is None or current is None or np.array_equal(base.latent, current.latent):
            return
        source = f"{EDIT_SOURCE_PREFIX}: reset"
        self.edited.emit(LatentState(base.latent, current.label, source), True)

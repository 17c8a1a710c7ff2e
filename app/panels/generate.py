"""Generate panel: seed, new random shape, truncation, class (conditional models)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QPushButton,
    QSpinBox,
    QWidget,
)

from gan3d_core.limits import MAX_SEED
from gan3d_studio.panels.widgets import keep_enter
from gan3d_studio.session import CLASS_SOURCE_PREFIX, Session
from gan3d_studio.wire import LatentState, ModelInfo


class GeneratePanel(QWidget):
    """Emits ``random_requested(seed, truncation or None, label or None)``."""

    random_requested = Signal(int, object, object)
    class_changed = Signal(object)  # LatentState: the current latent with another class

    def __init__(self, session: Session, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self.seed_box = QSpinBox()
        self.seed_box.setRange(0, MAX_SEED)
        self.random_button = QPushButton("New random")
        self.random_button.setToolTip("A new random shape with the next seed (Ctrl+R)")
        self.generate_button = QPushButton("Generate")
        self.truncation_check = QCheckBox("Truncation")
        self.truncation_box = QDoubleSpinBox()
        self.truncation_box.setRange(0.1, 3.0)
        self.truncation_box.setSingleStep(0.1)
        self.truncation_box.setValue(1.0)
        self.class_box = QComboBox()
        # Unchecked, each seed picks its class, as gan3d sample does: New random pressed
        # again and again showed one class (the first, bathtub) to a new user
        self.same_class = QCheckBox("New shapes keep it")
        self.same_class.setToolTip(
            "Checked: new random shapes are of the class shown; unchecked: each seed picks "
            "its class, as gan3d sample --seed does"
        )
        buttons = QHBoxLayout()
        buttons.addWidget(self.generate_button)
        buttons.addWidget(self.random_button)
        truncation = QHBoxLayout()
        truncation.addWidget(self.truncation_check)
        truncation.addWidget(self.truncation_box)
        layout = QFormLayout(self)
        layout.addRow("Seed", self.seed_box)
        layout.addRow(buttons)
        layout.addRow(truncation)
        layout.addRow("Class", self.class_box)
        layout.addRow("", self.same_class)
        self.generate_button.clicked.connect(self.generate)
        self.seed_box.lineEdit().returnPressed.connect(self.generate)  # type a seed, Enter
        # whichever of the box and its line edit has the keyboard focus
        keep_enter(self.seed_box, self.seed_box.lineEdit())
        self.seed_box.setToolTip("Type a seed and press Enter to generate it")
        self.random_button.clicked.connect(self.new_random)
        self.class_box.activated.connect(self._class_chosen)
        self.seed_box.valueChanged.connect(self._keep_seed)
        session.restored.connect(lambda: self.seed_box.setValue(session.seed))
        session.model_changed.connect(self.set_model)
        session.latent_changed.connect(self._show_label)
        self.set_model(session.model)

    @property
    def label(self) -> int | None:
        """The class for new shapes: the one shown when they keep it, else None (the
        seed's)."""
        kept = self.class_box.isEnabled() and self.same_class.isChecked()
        return self.class_box.currentIndex() if kept else None

    def set_model(self, info: ModelInfo | None) -> None:
        self.class_box.clear()
        conditional = info is not None and info.conditional
        if conditional:
            self.class_box.addItems(list(info.class_names))
        self.class_box.setEnabled(conditional)
        self.same_class.setEnabled(conditional)
        for widget in (self.generate_button, self.random_button):
            widget.setEnabled(info is not None)

    def generate(self) -> None:
        truncation = self.truncation_box.value() if self.truncation_check.isChecked() else None
        self.random_requested.emit(self.seed_box.value(), truncation, self.label)

    def new_random(self) -> None:
        self.seed_box.setValue(self.seed_box.value() + 1)
        self.generate()

    def _keep_seed(self, seed: int) -> None:
        self.session.seed = seed  # saved with the session: New random then goes on from it

    def _class_chosen(self, index: int) -> None:
        current = self.session.current
        if current is not None and current.label != index:
            self.class_changed.emit(
                LatentState(
                    current.latent, index, f"{CLASS_SOURCE_PREFIX}{self.class_box.itemText(index)}"
                )
            )

    def _show_label(self, state: LatentState | None) -> None:
        if state is not None and state.label is not None and self.class_box.isEnabled():
            self.class_box.setCurrentIndex(state.label)

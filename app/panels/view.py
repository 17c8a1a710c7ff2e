"""View panel: display mode, iso threshold, smoothing, wireframe, camera presets."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QPushButton,
    QRadioButton,
    QSlider,
    QSpinBox,
    QWidget,
)

from gan3d_studio.session import Session
from gan3d_studio.wire import VIEW_MODES, ViewSettings

THRESHOLD_STEPS = 100


class ViewPanel(QWidget):
    """Binds both ways to ``session.view``; emits ``camera_requested(preset)``."""

    camera_requested = Signal(str)

    def __init__(self, session: Session, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self.mode_buttons = QButtonGroup(self)
        modes = QHBoxLayout()
        for index, mode in enumerate(VIEW_MODES):
            button = QRadioButton(mode.capitalize())
            self.mode_buttons.addButton(button, index)
            modes.addWidget(button)
        self.threshold = QSlider(Qt.Orientation.Horizontal)
        self.threshold.setRange(1, THRESHOLD_STEPS - 1)
        self.smoothing = QSpinBox()
        self.smoothing.setRange(0, 50)
        self.wireframe = QCheckBox("Wireframe")
        cameras = QGridLayout()
        for index, preset in enumerate(("front", "side", "top", "isometric", "reset")):
            button = QPushButton(preset.capitalize())
            button.clicked.connect(lambda _=False, p=preset: self.camera_requested.emit(p))
            cameras.addWidget(button, index // 3, index % 3)
        layout = QFormLayout(self)
        layout.addRow("Mode", modes)
        layout.addRow("Iso threshold", self.threshold)
        layout.addRow("Smoothing", self.smoothing)
        layout.addRow(self.wireframe)
        layout.addRow("Camera", cameras)
        self.show_view(session.view)
        session.view_changed.connect(self.show_view)
        self.mode_buttons.idClicked.connect(lambda i: session.set_view(mode=VIEW_MODES[i]))
        self.threshold.valueChanged.connect(
            lambda v: session.set_view(threshold=v / THRESHOLD_STEPS)
        )
        self.smoothing.valueChanged.connect(lambda v: session.set_view(smoothing=v))
        self.wireframe.toggled.connect(lambda on: session.set_view(wireframe=on))

    def show_view(self, view: ViewSettings) -> None:
        for widget in (self.threshold, self.smoothing, self.wireframe, self.mode_buttons):
            widget.blockSignals(True)
        self.mode_buttons.button(VIEW_MODES.index(view.mode)).setChecked(True)
        self.threshold.setValue(round(view.threshold * THRESHOLD_STEPS))
        self.smoothing.setValue(view.smoothing)
        self.wireframe.setChecked(view.wireframe)
        for widget in (self.threshold, self.smoothing, self.wireframe, self.mode_buttons):
            widget.blockSignals(False)

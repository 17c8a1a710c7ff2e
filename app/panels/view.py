"""View panel: display mode, iso threshold, smoothing, small parts hidden, wireframe, a
high-resolution surface (models with an implicit decoder), camera presets."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QWidget,
)

from gan3d_core.limits import MAX_SMOOTH_ITERATIONS
from gan3d_studio.panels.widgets import ScrollSafeSlider
from gan3d_studio.session import Session
from gan3d_studio.wire import VIEW_MODES, ModelInfo, ViewSettings

THRESHOLD_STEPS = 100
HIGH_RESOLUTION = 128  # the implicit decoder's grid when "High-resolution surface" is on


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
        self.threshold = ScrollSafeSlider()
        self.threshold.setRange(1, THRESHOLD_STEPS - 1)
        self.smoothing = QSpinBox()
        self.smoothing.setRange(0, MAX_SMOOTH_ITERATIONS)  # as a session file may hold
        self.min_part = QDoubleSpinBox()
        self.min_part.setRange(0.0, 100.0)
        self.min_part.setDecimals(1)
        self.min_part.setSuffix(" % of largest")
        self.min_part.setToolTip(
            "Do not draw separate parts smaller than this share of the largest part (the "
            "Export panel's 'Drop parts under' leaves them out of a file)"
        )
        self.wireframe = QCheckBox("Wireframe")
        self.high_resolution = QCheckBox(f"High-resolution surface ({HIGH_RESOLUTION}³)")
        cameras = QGridLayout()
        for index, preset in enumerate(("front", "side", "top", "isometric", "reset")):
            button = QPushButton(preset.capitalize())
            button.clicked.connect(lambda _=False, p=preset: self.camera_requested.emit(p))
            cameras.addWidget(button, index // 3, index % 3)
        layout = QFormLayout(self)
        # the mode's and camera's rows go under their labels in a narrow dock (the default
        # one cut off Points and Top behind a scroll bar)
        layout.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        layout.addRow("Mode", modes)
        layout.addRow("Iso threshold", self.threshold)
        layout.addRow("Smoothing", self.smoothing)
        layout.addRow("Hide parts under", self.min_part)
        layout.addRow(self.wireframe)
        layout.addRow(self.high_resolution)
        layout.addRow("Camera", cameras)
        self.show_view(session.view)
        self.set_model(session.model)
        session.view_changed.connect(self.show_view)
        session.model_changed.connect(self.set_model)
        self.mode_buttons.idClicked.connect(lambda i: session.set_view(mode=VIEW_MODES[i]))
        self.threshold.valueChanged.connect(
            lambda v: session.set_view(threshold=v / THRESHOLD_STEPS)
        )
        self.smoothing.valueChanged.connect(lambda v: session.set_view(smoothing=v))
        self.min_part.valueChanged.connect(lambda v: session.set_view(min_part=v / 100))
        self.wireframe.toggled.connect(lambda on: session.set_view(wireframe=on))
        self.high_resolution.toggled.connect(
            lambda on: session.set_view(surface_resolution=HIGH_RESOLUTION if on else None)
        )

    def set_model(self, info: ModelInfo | None) -> None:
        """The setting stays for the next model that can use it."""
        usable = info is not None and info.has_implicit_decoder
        self.high_resolution.setEnabled(usable)
        self.high_resolution.setToolTip(
            "Sample the model's implicit decoder on a finer grid: smoother, slower"
            if usable
            else "This model has no implicit decoder (gan3d train --implicit-steps)"
        )

    def show_view(self, view: ViewSettings) -> None:
        widgets = (
            self.threshold, self.smoothing, self.min_part, self.wireframe,
            self.high_resolution, self.mode_buttons,
        )  # fmt: skip
        for widget in widgets:
            widget.blockSignals(True)
        self.mode_buttons.button(VIEW_MODES.index(view.mode)).setChecked(True)
        self.threshold.setValue(round(view.threshold * THRESHOLD_STEPS))
        self.smoothing.setValue(view.smoothing)
        self.min_part.setValue(view.min_part * 100)
        self.wireframe.setChecked(view.wireframe)
        self.high_resolution.setChecked(view.surface_resolution is not None)
        for widget in widgets:
            widget.blockSignals(False)
        # blocks keep every voxel's cube and points are the voxels: neither is smoothed
        self.smoothing.setEnabled(view.mode == "smooth")

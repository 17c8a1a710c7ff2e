"""Export panel: format, threshold, smoothing, small parts left out, decimation, size in
millimetres."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QPushButton,
    QSpinBox,
    QWidget,
)

from gan3d_core.io.kinds import GRID_SUFFIXES
from gan3d_core.limits import (
    DEFAULT_SMOOTH_ITERATIONS,
    MAX_SIZE_MM,
    MAX_SMOOTH_ITERATIONS,
    MIN_SIZE_MM,
)

if TYPE_CHECKING:
    from gan3d_core.mesh.export import ExportOptions


# what an export without a size holds (review: 2.5 cm in a slicer, 77 cm in Blender)
UNSIZED_NOTE = (
    "The longest side in millimetres. Unchecked, a voxel is one unit (a slicer reads "
    "millimetres: a 32³ chair is about 3 cm), and a glTF file's grid spans a metre "
    "(furniture near life size)"
)

FORMATS = {"STL (3D printing)": ".stl", "3MF (slicers, millimetres)": ".3mf", "OBJ": ".obj",
           "PLY": ".ply", "GLB (glTF)": ".glb", "binvox voxels": ".binvox",
           "NumPy voxels": ".npy"}  # fmt: skip


class ExportPanel(QWidget):
    """Emits ``export_requested(path, options)``."""

    export_requested = Signal(str, object)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.format_box = QComboBox()
        self.format_box.addItems(list(FORMATS))
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.01, 0.99)
        self.threshold.setSingleStep(0.05)
        self.threshold.setValue(0.5)
        self.style_box = QComboBox()
        self.style_box.addItems(["smooth", "blocks"])
        self.smoothing = QSpinBox()
        self.smoothing.setRange(0, MAX_SMOOTH_ITERATIONS)
        self.smoothing.setValue(DEFAULT_SMOOTH_ITERATIONS)  # gan3d export's too
        self.decimate = QCheckBox("Decimate to")
        self.faces = QSpinBox()
        self.faces.setRange(100, 5_000_000)
        self.faces.setValue(20_000)
        self.min_part = QDoubleSpinBox()
        self.min_part.setRange(0.0, 100.0)
        self.min_part.setSingleStep(1.0)
        self.min_part.setDecimals(1)
        self.min_part.setSuffix(" % of largest")
        self.min_part.setToolTip(
            "Leave out separate parts smaller than this share of the largest part: specks "
            "a 3D printer would print as loose blobs (0: keep every part)"
        )
        self.sized = QCheckBox("Scale to (mm)")
        self.size = QDoubleSpinBox()
        self.size.setDecimals(2)  # gan3d export's range: a ring's 0.5 mm charm to a 10 m prop
        self.size.setRange(MIN_SIZE_MM, MAX_SIZE_MM)
        self.size.setValue(100.0)
        self.export_button = QPushButton("Export…")
        layout = QFormLayout(self)
        layout.addRow("Format", self.format_box)
        layout.addRow("Surface", self.style_box)
        layout.addRow("Threshold", self.threshold)
        layout.addRow("Smoothing", self.smoothing)
        layout.addRow("Drop parts under", self.min_part)
        layout.addRow(self.decimate, self.faces)
        layout.addRow(self.sized, self.size)
        layout.addRow(self.export_button)
        self.export_button.clicked.connect(self._choose_path)
        self.last_folder = ""  # where the save dialog opens: the last export's folder
        self.suggested_name = "shape"  # the name it offers: the shown shape's photo or class
        self.format_box.currentTextChanged.connect(self._enable_settings)
        self.style_box.currentTextChanged.connect(self._enable_settings)
        self._enable_settings()

    # the settings a maker sets once for a printer, remembered with the last export
    _REMEMBERED = ("threshold", "smoothing", "faces", "min_part", "size")
    _REMEMBERED_CHOICES = ("decimate", "sized")

    def settings(self) -> dict:
        """The mesh settings, to remember with the last export (see :meth:`restore`)."""
        values = {name: getattr(self, name).value() for name in self._REMEMBERED}
        choices = {name: getattr(self, name).isChecked() for name in self._REMEMBERED_CHOICES}
        return {**values, **choices, "style": self.style_box.currentText()}

    def restore(self, saved: object) -> None:
        """Settings from :meth:`settings`, as a later launch reads them back: anything not
        of the expected kind is left at its default (the spin boxes clamp the rest)."""
        if not isinstance(saved, dict):
            return
        for name in self._REMEMBERED:
            value = saved.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
                box = getattr(self, name)  # clamped here: Qt's int boxes overflow past 2^31
                box.setValue(type(box.value())(min(max(value, box.minimum()), box.maximum())))
        for name in self._REMEMBERED_CHOICES:
            if isinstance(saved.get(name), bool):
                getattr(self, name).setChecked(saved[name])
        if saved.get("style") in ("smooth", "blocks"):
            self.style_box.setCurrentText(saved["style"])

    def _enable_settings(self, *_) -> None:
        """A grid format (.binvox, .npy) keeps the voxels: the mesh settings do not apply;
        blocks keep every voxel's cube: smoothing and decimation do not either."""
        mesh = self.suffix() not in GRID_SUFFIXES
        smooth = mesh and self.style_box.currentText() == "smooth"
        grid_note = "a grid format keeps the voxels: meshes only"
        blocks_note = "smooth surfaces only: blocks keep each voxel's cube"
        for widget in (self.style_box, self.sized, self.size):
            widget.setEnabled(mesh)
            widget.setToolTip(grid_note if not mesh else "" if widget is self.style_box
                              else UNSIZED_NOTE)  # fmt: skip
        for widget in (self.smoothing, self.decimate, self.faces):
            widget.setEnabled(smooth)
            widget.setToolTip("" if smooth else blocks_note if mesh else grid_note)

    def remember(self, path: str | Path) -> None:
        """An export worked: the next one starts in its folder, in its format."""
        path = Path(path)
        self.last_folder = str(path.parent)
        for name, suffix in FORMATS.items():
            if suffix == path.suffix.lower():
                self.format_box.setCurrentText(name)

    def options(self) -> ExportOptions:
        from gan3d_core.mesh.export import ExportOptions  # trimesh loads on the first export

        return ExportOptions(
            threshold=self.threshold.value(),
            style=self.style_box.currentText(),
            smooth_iterations=self.smoothing.value()
            if self.style_box.currentText() == "smooth"
            else 0,
            target_faces=self.faces.value() if self.decimate.isChecked() else None,
            size=self.size.value() if self.sized.isChecked() else None,
            min_part=self.min_part.value() / 100,
        )

    def suffix(self) -> str:
        return FORMATS[self.format_box.currentText()]

    def _choose_path(self) -> None:
        suffix = self.suffix()
        named = f"{self.suggested_name}{suffix}"
        start = str(Path(self.last_folder) / named) if self.last_folder else named
        path, _ = QFileDialog.getSaveFileName(self, "Export shape", start, f"*{suffix}")
        if path:
            typed = Path(path).suffix.lower()
            if typed in FORMATS.values():  # a name typed with another format's suffix: that one
                self.remember(path)
            elif typed != suffix:
                path += suffix
            self.export_requested.emit(path, self.options())

"""Reconstruct panel: a drop zone for photos, what the encoder sees, pooling and class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gan3d_core.images import IMAGE_SUFFIXES
from gan3d_core.limits import MAX_REFINE_STEPS
from gan3d_studio.session import Session
from gan3d_studio.wire import ModelInfo, Reconstruction, ReconstructOptions

IMAGE_FILTER = "Images (" + " ".join(f"*{s}" for s in IMAGE_SUFFIXES) + ")"
THUMBNAIL_SIZE = 72


def thumbnail_size(count: int) -> int:
    """Thumbnails of ``count`` photos share a dock's width: 72 px for one, 56 for two,
    down to 36."""
    return THUMBNAIL_SIZE if count <= 1 else max(36, min(56, 280 // count - 6))


def to_pixmap(image: np.ndarray, size: int = THUMBNAIL_SIZE) -> QPixmap:
    """uint8 (H, W, 3) -> a QPixmap scaled to ``size``."""
    image = np.ascontiguousarray(image)
    height, width = image.shape[:2]
    qimage = QImage(image.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(qimage).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio)


class DropZone(QLabel):
    files_dropped = Signal(list)

    def __init__(self, parent=None) -> None:
        super().__init__("Drop photos of one object here", parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumHeight(70)
        self.setStyleSheet("QLabel { border: 2px dashed #8aa; border-radius: 8px; color: #466; }")
        self.setAcceptDrops(True)

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.files_dropped.emit(paths)


class ReconstructPanel(QWidget):
    """Binds its choices to ``session.reconstruct_options``; emits
    ``reconstruct_requested(paths)`` for photos dropped or opened here and
    ``cut_out_requested`` for the box dialog."""

    reconstruct_requested = Signal(list)
    cut_out_requested = Signal()

    def __init__(self, session: Session, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self.drop_zone = DropZone()
        self.open_button = QPushButton("Open images…")
        self.cut_out_button = QPushButton("Cut out object…")
        self.cut_out_button.setToolTip(
            "Draw a box around the object in the last photo, for a cluttered background"
        )
        self.box_label = QLabel()
        self.clear_box_button = QToolButton()
        self.clear_box_button.setText("Clear")
        self.clear_box_button.setToolTip("Separate the object automatically again")
        self.pool_box = QComboBox()
        self.class_box = QComboBox()
        # Staged models fit the shape to the photos' silhouettes; -1 shows "model default".
        self.refine_box = QSpinBox()
        self.refine_box.setRange(-1, MAX_REFINE_STEPS)
        self.refine_box.setSpecialValueText("model default")
        self.refine_box.setValue(-1)
        self.refine_box.setSuffix(" steps")
        self.refine_box.setToolTip(
            "Steps fitting the shape to the photos' outlines (0: off); more is slower"
        )
        self.thumbnails = QHBoxLayout()
        self.thumbnail_labels: list[QLabel] = []
        box_row = QHBoxLayout()
        box_row.addWidget(self.box_label, 1)
        box_row.addWidget(self.clear_box_button)
        form = QFormLayout()
        form.addRow("Combine views", self.pool_box)
        form.addRow("Class", self.class_box)
        form.addRow("Fit to outline", self.refine_box)
        form.addRow("Object box", box_row)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.cut_out_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.drop_zone)
        layout.addLayout(buttons)
        layout.addLayout(form)
        layout.addWidget(QLabel("What the encoder sees:"))
        # what the model made of them (a wrong class is put right with the Class box, which
        # reconstructs again under it, or the Generate panel's, which decodes the same latent):
        # beside one photo, below several (see _show_reading)
        self.found_label = QLabel()
        self.found_label.setWordWrap(True)
        self.found_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.reading = QGridLayout()
        self.reading.addLayout(self.thumbnails, 0, 0)
        self.reading.setColumnStretch(1, 1)
        layout.addLayout(self.reading)
        self.open_button.clicked.connect(self._choose_files)
        self.cut_out_button.clicked.connect(self.cut_out_requested)
        self.clear_box_button.clicked.connect(
            lambda: session.set_reconstruct_options(box=None, box_photo_size=None)
        )
        session.reconstruct_options_changed.connect(self._show_options)
        self._filling = False
        self._model_path: str | None = None  # whose reading of the photos is shown
        self.pool_box.currentTextChanged.connect(self._store_options)
        self.class_box.currentIndexChanged.connect(self._store_options)
        self.refine_box.valueChanged.connect(self._store_options)
        session.model_changed.connect(self.set_model)
        self.set_model(session.model)

    def set_model(self, info: ModelInfo | None) -> None:
        self._filling = True  # the session already reset its options for the new model
        try:
            self._fill(info)
        finally:
            self._filling = False
        self._show_options(self.session.reconstruct_options)
        path = None if info is None else info.path
        if path != self._model_path:  # another model would read the photos otherwise
            self._show_reading((), "")
        self._model_path = path

    def _show_options(self, options: ReconstructOptions) -> None:
        """The session's choices (a restored session's too) in the widgets."""
        model = self.session.model
        if model is not None and model.has_encoder and not self._filling:
            self._filling = True  # shown, not stored back
            try:
                self.pool_box.setCurrentText(options.pool or model.pool)
                self.class_box.setCurrentIndex(0 if options.label is None else options.label + 1)
                self.refine_box.setValue(-1 if options.refine is None else options.refine)
            finally:
                self._filling = False
        if options.box is None:
            self.box_label.setText("automatic")
        else:
            x, y, width, height = options.box
            text = f"{width} × {height} at {x}, {y}"
            if options.box_photo_size is not None:  # only photos of that size take it
                text += " in {} × {} photos".format(*options.box_photo_size)
            self.box_label.setText(text)
        self.clear_box_button.setEnabled(options.box is not None)

    def _store_options(self, *_) -> None:
        if not self._filling:
            self.session.set_reconstruct_options(
                pool=self.pool_box.currentText() or None, label=self.label, refine=self.refine
            )

    def _fill(self, info: ModelInfo | None) -> None:
        usable = info is not None and info.has_encoder
        self.setEnabled(usable)
        self.pool_box.clear()
        self.class_box.clear()
        self.refine_box.setValue(-1)
        if not usable:
            self.drop_zone.setText(
                "This model cannot reconstruct photos" if info else "Open a model first"
            )
            return
        self.drop_zone.setText("Drop photos of one object here")
        pools = ["mean", "max"] + (["lstm"] if info.pool == "lstm" else [])
        self.pool_box.addItems(pools)
        self.pool_box.setCurrentText(info.pool)
        self.class_box.addItem("automatic")
        if info.conditional:
            self.class_box.addItems(list(info.class_names))
        self.class_box.setEnabled(info.conditional)
        self.refine_box.setEnabled(info.kind == "lgan")

    @property
    def label(self) -> int | None:
        index = self.class_box.currentIndex()
        return index - 1 if index > 0 else None

    @property
    def refine(self) -> int | None:
        value = self.refine_box.value()
        return value if value >= 0 and self.refine_box.isEnabled() else None

    def request(self, paths: list) -> None:
        self.reconstruct_requested.emit([Path(p) for p in paths])

    def show_reconstruction(self, result: Reconstruction | None) -> None:
        """The images the encoder saw, and the model's reading of them; None: nothing (the
        shape shown was not made from photos)."""
        if result is None:
            self._show_reading((), "")
        else:
            self._show_reading(result.inputs, result.summary)

    def _show_reading(self, images: tuple, summary: str) -> None:
        for label in self.thumbnail_labels:  # gone now, not when the loop next runs
            self.thumbnails.removeWidget(label)
            label.hide()
            label.deleteLater()
        self.thumbnail_labels = []
        self.found_label.setText(summary[:1].upper() + summary[1:])
        # beside one or two photos the line needs no rows of its own in a short dock; more
        # photos get smaller thumbnails and the line beneath them
        self.reading.removeWidget(self.found_label)
        if len(images) <= 2:
            self.reading.addWidget(self.found_label, 0, 1)
        else:
            self.reading.addWidget(self.found_label, 1, 0, 1, 2)
        size = thumbnail_size(len(images))
        for image in images:
            label = QLabel()
            label.setPixmap(to_pixmap(image, size))
            self.thumbnails.addWidget(label)
            self.thumbnail_labels.append(label)

    def _choose_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Photos of one object", "", IMAGE_FILTER)
        if paths:
            self.request(paths)

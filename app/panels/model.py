"""Model panel: open a checkpoint, recent files, the model card, the device."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from gan3d_studio.wire import ModelInfo

CHECKPOINT_FILTER = "Checkpoints (*.safetensors);;All files (*)"


def _iou_sentence(result: dict, what: str) -> str:
    text = f"IoU {result['iou']:.2f} {what}"
    chairs = result.get("per_class", {}).get("chair", {}).get("iou")
    if chairs is not None:
        text += f" (chairs {chairs:.2f})"
    baseline = result.get("retrieval_iou")
    if baseline is not None:
        text += f"; copying the most similar training shape: {baseline:.2f}"
    return text


def quality_rows(metrics: dict) -> list[tuple[str, str]]:
    """The measured quality in a model card's metrics (``gan3d eval`` results, as packed by
    ``gan3d pack --metrics``), in words; figures that are absent are left out."""
    rows = []
    held_out = "on shapes it never saw (1 = perfect)"
    for key, title in (("recon_1view_auto", "From one photo"),
                       ("recon_5view_auto", "From five photos"),
                       ("shapenet_chairs_recon_1view_auto", "ShapeNet chairs, one photo")):  # fmt: skip
        result = metrics.get(key)
        if isinstance(result, dict) and isinstance(result.get("iou"), float):
            rows.append((title, _iou_sentence(result, held_out)))
    encoded = metrics.get("autoencode", {})
    if isinstance(encoded.get("iou"), float):  # gan3d encode, File > Open shape
        text = f"decoded back at IoU {encoded['iou']:.2f} {held_out}"
        shapenet = metrics.get("shapenet_chairs_autoencode", {}).get("iou")
        if isinstance(shapenet, float):
            text += f"; ShapeNet chairs {shapenet:.2f}"
        rows.append(("Your own shapes", text))
    one_view = metrics.get("recon_1view_auto", {})
    if isinstance(one_view.get("class_accuracy"), float):
        rows.append(("Class from one photo", f"right {one_view['class_accuracy']:.0%} of the time"))
    generation = metrics.get("gen", {})
    if isinstance(generation.get("coverage"), float):
        rows.append((
            "Random shapes",
            f"cover {generation['coverage']:.0%} of the real ones; 1-NNA "
            f"{generation['1-nna']:.2f} (0.5: indistinguishable from real)",
        ))  # fmt: skip
    classify = metrics.get("classify", {})
    if isinstance(classify.get("accuracy"), float):
        rows.append(
            ("Shape classification", f"{classify['accuracy']:.0%} (linear SVM on features)")
        )
    return rows


def model_card_html(info: ModelInfo) -> str:
    card = info.card
    rows = [
        ("File", Path(info.path).name),
        ("Kind", info.kind),
        ("Resolution", f"{info.resolution}³"),
        ("Latent size", str(info.latent_dim)),
    ]
    if info.has_encoder:
        rows.append(("Views", f"{info.num_views}, {info.pool} pooling"))
    if info.conditional:
        rows.append(("Classes", ", ".join(info.class_names)))
    training = card.get("training", {})
    if training.get("data"):
        rows.append(("Trained on", f"{training['data']} ({training.get('shapes', '?')} shapes)"))
    rows += quality_rows(card.get("metrics", {}))
    body = "".join(f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in rows)
    return f"<table cellspacing=4>{body}</table>"


class ModelPanel(QWidget):
    """Emits ``open_requested(path)`` and ``device_changed(name)``."""

    open_requested = Signal(str)
    device_changed = Signal(str)

    def __init__(self, recent: list[str], parent=None) -> None:
        super().__init__(parent)
        self.open_button = QPushButton("Open model…")
        self.recent_box = QComboBox()
        self.recent_box.setPlaceholderText("Recent models")
        self.set_recent(recent)
        self.device_box = QComboBox()
        self.device_box.addItems(["auto", "cpu", "cuda"])
        self.card_view = QTextBrowser()
        self.card_view.setMinimumHeight(120)
        self.card_view.setHtml("<i>No model loaded.</i>")
        row = QHBoxLayout()
        row.addWidget(self.open_button)
        row.addWidget(self.recent_box, 1)
        form = QFormLayout()
        form.addRow("Device", self.device_box)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addLayout(form)
        layout.addWidget(self.card_view)
        self.open_button.clicked.connect(self._choose_file)
        self.recent_box.activated.connect(
            lambda i: self.open_requested.emit(self.recent_box.itemData(i))
        )
        self.device_box.currentTextChanged.connect(self.device_changed)

    def set_recent(self, paths: list[str]) -> None:
        self.recent_box.clear()
        for path in paths:
            self.recent_box.addItem(Path(path).name, path)
        self.recent_box.setCurrentIndex(-1)

    def show_model(self, info: ModelInfo | None) -> None:
        self.card_view.setHtml(model_card_html(info) if info else "<i>No model loaded.</i>")

    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open model", "", CHECKPOINT_FILTER)
        if path:
            self.open_requested.emit(path)

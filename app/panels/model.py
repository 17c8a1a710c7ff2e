"""Model panel: open a checkpoint, recent files, the model card, the device."""

from __future__ import annotations

import html
import re
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

from gan3d_core.io.card import quality_rows
from gan3d_studio.wire import ModelInfo

CHECKPOINT_FILTER = "Checkpoints (*.safetensors);;All files (*)"


def _breakable(text: str) -> str:
    """``text`` as HTML that may break after its slashes, dots and underscores, not
    mid-word: a file name or path in a narrow dock."""
    return re.sub(r"([/._])", "\\1&#8203;", html.escape(text))


def model_card_html(info: ModelInfo) -> str:
    card = info.card
    rows = [
        ("File", _breakable(Path(info.path).name)),
        ("Kind", info.kind),
        ("Resolution", f"{info.resolution}³"),
        ("Latent size", str(info.latent_dim)),
    ]
    if info.has_encoder:
        rows.append(("Views", f"{info.num_views}, {info.pool} pooling"))
    if info.conditional:
        rows.append(("Classes", html.escape(", ".join(info.class_names))))
    training = card.get("training", {})
    if training.get("data"):
        rows.append(
            (
                "Trained on",
                f"{_breakable(str(training['data']))} ({training.get('shapes', '?')} shapes)",
            )
        )
    rows += [(what, html.escape(words)) for what, words in quality_rows(card.get("metrics", {}))]
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

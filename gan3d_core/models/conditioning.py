"""Class conditioning shared by the conditional generator and discriminator."""

from __future__ import annotations

import torch
from torch import nn


class LabelProjection(nn.Module):
    """label (B,) -> embedding -> linear -> (B, out_features), to multiply into an input."""

    def __init__(self, num_classes: int, embedding_dim: int, out_features: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.embedding = nn.Embedding(num_classes, embedding_dim)
        self.linear = nn.Linear(embedding_dim, out_features)

    def forward(self, labels: torch.Tensor | None, batch_size: int) -> torch.Tensor:
        if labels is None:
            raise ValueError(f"a conditional model needs class labels (0..{self.num_classes - 1})")
        if labels.shape != (batch_size,):
            raise ValueError(f"labels must have shape ({batch_size},), got {tuple(labels.shape)}")
        return self.linear(self.embedding(labels))  # (B, out_features)

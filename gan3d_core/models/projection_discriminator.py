"""MPSE-GAN's perspective discriminators: each judges a shape by its silhouette along one
grid axis (a 2D projection of the occupancy), so a generator can learn 3D shapes from 2D
silhouettes, beside the 3D discriminator or without it."""

from __future__ import annotations

import torch
from torch import nn

from gan3d_core.config import ModelConfig
from gan3d_core.models.checks import voxel_batch
from gan3d_core.models.conditioning import LabelProjection


class ProjectionDiscriminator(nn.Module):
    """silhouette (B, 1, R, R) -> realness logits (B,).

    The 3D discriminator's layout in 2D: Conv2d (kernel 4, stride 2, padding 1) +
    BatchNorm (not on the first) + LeakyReLU(0.2) per width down to 4x4, then a 4x4
    convolution. A conditional one multiplies its input by a projection of the class."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.resolution = config.resolution
        layers: list[nn.Module] = []
        in_channels = 1
        for index, width in enumerate(config.discriminator_widths):
            layers.append(nn.Conv2d(in_channels, width, 4, stride=2, padding=1))
            if index > 0:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            in_channels = width
        layers.append(nn.Conv2d(in_channels, 1, 4))
        self.layers = nn.Sequential(*layers)
        self.label_projection = (
            LabelProjection(config.num_classes, config.label_embedding_dim, config.resolution**2)
            if config.conditional
            else None
        )

    def forward(self, silhouette: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.label_projection is not None:
            mask = self.label_projection(labels, batch_size=silhouette.shape[0])  # (B, R^2)
            silhouette = silhouette * mask.view(-1, 1, self.resolution, self.resolution)
        return self.layers(silhouette).flatten()  # (B, 1, 1, 1) -> (B,)


class ProjectionDiscriminators(nn.Module):
    """occupancy (B, 1, R, R, R) in [0, 1] -> logits (B, A), one discriminator per axis of
    ``config.projection_axes`` (state dict keys ``judges.x.`` and so on), each judging the
    shape's soft silhouette along its axis (:func:`gan3d_core.projection.axis_projections`)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.axes = config.projection_axes
        self.judges = nn.ModuleDict({axis: ProjectionDiscriminator(config) for axis in self.axes})

    def forward(self, voxels: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        # Here, not at the top: gan3d_core.projection loads the renderer's module (trimesh,
        # scipy), 0.7 s that loading a model without these discriminators need not pay.
        from gan3d_core.projection import axis_projections

        voxels = voxel_batch(voxels, self.config.resolution)
        projections = axis_projections(voxels, self.axes)  # (B, A, R, R)
        scores = [
            self.judges[axis](projections[:, index : index + 1], labels)
            for index, axis in enumerate(self.axes)
        ]
        return torch.stack(scores, dim=1)  # (B, A)

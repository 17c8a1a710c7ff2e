"""3D-GAN discriminator: the generator mirrored, Conv3d + BatchNorm + LeakyReLU(0.2)."""

from __future__ import annotations

import torch
from torch import nn

from gan3d_core.config import ModelConfig
from gan3d_core.models.checks import voxel_batch
from gan3d_core.models.conditioning import LabelProjection
from gan3d_core.models.residual import ResidualStage, leaky_relu


class VoxelDiscriminator(nn.Module):
    """occupancy (B, 1, R, R, R) -> realness logits (B,).

    Each hidden layer halves the grid (kernel 4, stride 2, padding 1); the last maps 4^3 to
    1^3. No BatchNorm on the first layer (DCGAN practice). With ``residual_convs``, a V-Net
    residual stage follows each hidden layer. A conditional discriminator
    multiplies the voxel input pointwise by a projection of the class embedding.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.hidden = nn.ModuleList()
        in_channels = 1
        for index, width in enumerate(config.discriminator_widths):
            block: list[nn.Module] = [nn.Conv3d(in_channels, width, 4, stride=2, padding=1)]
            if index > 0:
                block.append(nn.BatchNorm3d(width))
            block.append(leaky_relu())
            if config.residual_convs:
                block.append(ResidualStage(width, config.residual_convs, leaky_relu))
            if config.discriminator_dropout > 0:
                block.append(nn.Dropout3d(config.discriminator_dropout))
            self.hidden.append(nn.Sequential(*block))
            in_channels = width
        self.output = nn.Conv3d(in_channels, 1, 4, stride=1, padding=0)
        self.label_projection = (
            LabelProjection(config.num_classes, config.label_embedding_dim, config.resolution**3)
            if config.conditional
            else None
        )

    def _prepare(self, voxels: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        resolution = self.config.resolution
        voxels = voxel_batch(voxels, resolution)
        if self.label_projection is not None:
            mask = self.label_projection(labels, batch_size=voxels.shape[0])  # (B, R^3)
            voxels = voxels * mask.view(-1, 1, resolution, resolution, resolution)
        return voxels

    def features(
        self, voxels: torch.Tensor, labels: torch.Tensor | None = None
    ) -> list[torch.Tensor]:
        """Activations of every hidden layer, [(B, C_i, R / 2^(i+1), ...)], for classification."""
        x = self._prepare(voxels, labels)
        activations = []
        for block in self.hidden:
            x = block(x)
            activations.append(x)
        return activations

    def forward(self, voxels: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        last = self.features(voxels, labels)[-1]  # (B, C, 4, 4, 4)
        return self.output(last).flatten()  # (B,)

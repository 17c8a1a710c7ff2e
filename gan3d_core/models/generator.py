"""3D-GAN generator (Wu et al. 2016): latent -> occupancy logits, ConvTranspose3d only."""

from __future__ import annotations

import torch
from torch import nn

from gan3d_core.config import ModelConfig
from gan3d_core.models.conditioning import LabelProjection
from gan3d_core.models.residual import ResidualStage


def _relu() -> nn.Module:
    return nn.ReLU(inplace=True)


class VoxelGenerator(nn.Module):
    """z (B, latent_dim) -> occupancy logits (B, 1, R, R, R).

    The first layer maps the 1^3 latent to 4^3 (kernel 4, stride 2, no padding); every later
    layer doubles the grid (kernel 4, stride 2, padding 1). BatchNorm + ReLU between layers,
    optional Dropout3d; with ``residual_convs``, a V-Net residual stage after each hidden
    layer. The caller applies the sigmoid so training can use a stable
    BCE-with-logits. A conditional generator multiplies z pointwise by a projection of the
    class embedding.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        in_channels = config.latent_dim
        for index, width in enumerate(config.generator_widths):
            padding = 0 if index == 0 else 1
            layers += [
                nn.ConvTranspose3d(in_channels, width, 4, stride=2, padding=padding, bias=False),
                nn.BatchNorm3d(width),
                _relu(),
            ]
            if config.residual_convs:
                layers.append(ResidualStage(width, config.residual_convs, _relu))
            if config.generator_dropout > 0:
                layers.append(nn.Dropout3d(config.generator_dropout))
            in_channels = width
        layers.append(nn.ConvTranspose3d(in_channels, 1, 4, stride=2, padding=1, bias=False))
        self.layers = nn.Sequential(*layers)
        self.label_projection = (
            LabelProjection(config.num_classes, config.label_embedding_dim, config.latent_dim)
            if config.conditional
            else None
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.output(self.hidden(z, labels))

    def hidden(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The last hidden layer's features (B, C, R/2, R/2, R/2), after its ReLU."""
        if z.ndim != 2 or z.shape[1] != self.config.latent_dim:
            raise ValueError(
                f"latents must have shape (B, {self.config.latent_dim}), got {tuple(z.shape)}"
            )
        if self.label_projection is not None:
            z = z * self.label_projection(labels, batch_size=z.shape[0])  # (B, L)
        return self.layers[:-1](z[:, :, None, None, None])  # (B, L, 1, 1, 1) -> (B, C, ...)

    def output(self, hidden: torch.Tensor) -> torch.Tensor:
        """The last layer: hidden features -> occupancy logits (B, 1, R, R, R)."""
        return self.layers[-1](hidden)

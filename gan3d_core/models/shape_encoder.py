"""3D encoder of the shape autoencoder: occupancy grid -> latent (the 3D-GAN discriminator's
layout, with the single realness logit replaced by the latent)."""

from __future__ import annotations

import torch
from torch import nn

from gan3d_core.config import ModelConfig
from gan3d_core.models.checks import voxel_batch
from gan3d_core.models.residual import downsampling_layers


class ShapeEncoder(nn.Module):
    """occupancy (B, 1, R, R, R) -> latent (B, latent_dim).

    Conv3d (kernel 4, stride 2, padding 1) + BatchNorm + LeakyReLU(0.2) halve the grid down
    to 4^3; a 4^3 convolution maps it to the latent. No pooling, no linear layer, like the
    3D-GAN discriminator; the encoder is not conditioned on the class (the decoder is).
    With ``residual_convs``, a V-Net residual stage follows every strided layer.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.layers = downsampling_layers(
            config.discriminator_widths, config.latent_dim, config.residual_convs
        )

    def forward(self, voxels: torch.Tensor) -> torch.Tensor:
        voxels = voxel_batch(voxels, self.config.resolution)
        return self.layers(voxels).flatten(1)  # (B, L, 1, 1, 1) -> (B, L)

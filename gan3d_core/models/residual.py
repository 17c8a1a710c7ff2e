"""V-Net's residual stages (Milletari et al. 2016) for the 3D networks.

V-Net's other two ideas are the 3D-GAN layout already: its down- and up-sampling are
strided convolutions (kernel 4, stride 2) with no pooling. With ``residual_convs`` > 0,
every strided layer of the generator, the discriminator and the 3D encoders is followed by
one residual stage at its resolution.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class ResidualStage(nn.Module):
    """x (B, C, D, H, W) -> activation(x + f(x)), same shape.

    f is ``convs`` 3^3 convolutions (BatchNorm after each, the activation between them):
    V-Net's stages hold one to three convolutions and learn a residual across the stage.
    Its 5^3 kernels are 3^3 here, a fifth of the cost. ``activation`` makes a fresh module
    (ReLU in the generator, LeakyReLU(0.2) in discriminators and encoders)."""

    def __init__(self, channels: int, convs: int, activation: Callable[[], nn.Module]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for index in range(convs):
            if index > 0:
                layers.append(activation())
            layers += [
                nn.Conv3d(channels, channels, 3, padding=1, bias=False),
                nn.BatchNorm3d(channels),
            ]
        self.residual = nn.Sequential(*layers)
        self.activation = activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(x + self.residual(x))


def leaky_relu() -> nn.Module:
    return nn.LeakyReLU(0.2, inplace=True)


def downsampling_layers(
    widths: tuple[int, ...] | list[int], out_channels: int, residual_convs: int
) -> nn.Sequential:
    """The 3D encoders' stack: Conv3d (kernel 4, stride 2, padding 1; BatchNorm after all
    but the first) + LeakyReLU(0.2) [+ a residual stage] per width, halving the grid down
    to 4^3, then a 4^3 convolution to ``out_channels`` at 1^3."""
    layers: list[nn.Module] = []
    in_channels = 1
    for index, width in enumerate(widths):
        layers.append(nn.Conv3d(in_channels, width, 4, stride=2, padding=1, bias=index == 0))
        if index > 0:
            layers.append(nn.BatchNorm3d(width))
        layers.append(leaky_relu())
        if residual_convs:
            layers.append(ResidualStage(width, residual_convs, leaky_relu))
        in_channels = width
    layers.append(nn.Conv3d(in_channels, out_channels, 4))
    return nn.Sequential(*layers)

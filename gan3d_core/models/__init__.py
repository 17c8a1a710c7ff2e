"""Networks of the four model families, built from a :class:`~gan3d_core.config.ModelConfig`."""

from __future__ import annotations

from torch import nn

from gan3d_core.config import ModelConfig
from gan3d_core.models.discriminator import VoxelDiscriminator
from gan3d_core.models.encoder import ImageEncoder, MultiViewEncoder
from gan3d_core.models.generator import VoxelGenerator


class GanNetworks(nn.Module):
    """Every network of one model; its ``state_dict`` is what a checkpoint stores.

    Keys are prefixed ``generator.``, ``discriminator.`` and (models with an image encoder)
    ``encoder.``.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.generator = VoxelGenerator(config)
        self.discriminator = VoxelDiscriminator(config)
        self.encoder = MultiViewEncoder(config) if config.has_encoder else None


__all__ = [
    "GanNetworks",
    "ImageEncoder",
    "MultiViewEncoder",
    "VoxelDiscriminator",
    "VoxelGenerator",
]

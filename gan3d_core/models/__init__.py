"""Networks of the four model families, built from a :class:`~gan3d_core.config.ModelConfig`."""

from __future__ import annotations

from torch import nn

from gan3d_core.config import ModelConfig
from gan3d_core.models.backbone import EfficientNetLite0
from gan3d_core.models.discriminator import VoxelDiscriminator
from gan3d_core.models.encoder import ImageEncoder, MultiViewEncoder
from gan3d_core.models.generator import VoxelGenerator
from gan3d_core.models.implicit import ImplicitDecoder
from gan3d_core.models.latent import ImageHead, LatentCritic, LatentSampler, RetrievalBank
from gan3d_core.models.shape_encoder import ShapeEncoder


class GanNetworks(nn.Module):
    """Every network of one model; its ``state_dict`` is what a checkpoint stores.

    Keys are prefixed ``generator.``, ``discriminator.`` and (models with an image encoder)
    ``encoder.``. The staged ``lgan`` model has no 3D discriminator or image encoder but
    ``shape_encoder.``, ``latent_sampler.``, ``latent_critic.``, ``image_backbone.``,
    ``image_head.`` and ``bank.``, and with ``implicit_width`` the implicit decoder
    ``implicit.``.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.generator = VoxelGenerator(config)
        staged = config.kind == "lgan"
        self.discriminator = None if staged else VoxelDiscriminator(config)
        self.encoder = MultiViewEncoder(config) if config.has_encoder else None
        if staged:
            self.shape_encoder = ShapeEncoder(config)
            self.latent_sampler = LatentSampler(config)
            self.latent_critic = LatentCritic(config)
            self.image_backbone = EfficientNetLite0()
            self.image_head = ImageHead(config)
            self.bank = RetrievalBank(config)
        self.implicit = ImplicitDecoder(config) if config.implicit_width else None


__all__ = [
    "GanNetworks",
    "ImageEncoder",
    "ImplicitDecoder",
    "MultiViewEncoder",
    "VoxelDiscriminator",
    "VoxelGenerator",
]

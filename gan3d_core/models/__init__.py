"""Networks of the four model families, built from a :class:`~gan3d_core.config.ModelConfig`."""

from __future__ import annotations

import torch
from torch import nn

from gan3d_core.config import ModelConfig, backbone_variant
from gan3d_core.models.backbone import EfficientNetLite
from gan3d_core.models.discriminator import VoxelDiscriminator
from gan3d_core.models.encoder import ImageEncoder, MultiViewEncoder
from gan3d_core.models.generator import VoxelGenerator
from gan3d_core.models.implicit import ImplicitDecoder
from gan3d_core.models.latent import LatentCritic, LatentSampler, RetrievalBank, image_head
from gan3d_core.models.projection_discriminator import ProjectionDiscriminators
from gan3d_core.models.shape_encoder import ShapeEncoder


class GanNetworks(nn.Module):
    """Every network of one model; its ``state_dict`` is what a checkpoint stores.

    Keys are prefixed ``generator.``, ``discriminator.`` (absent from a model trained on
    silhouettes alone), ``projection_discriminators.`` (MPSE-GAN's, with
    ``projection_axes``) and (models with an image encoder) ``encoder.``. The staged
    ``lgan`` model has no 3D discriminator or image encoder but ``shape_encoder.``,
    ``latent_sampler.``, ``latent_critic.``, ``image_backbone.``, ``image_head.``
    (``image_head.members.N.`` for an ensemble), ``other_backbones.NAME.`` (what heads
    read besides ``image_backbone``: other variants, or their own fine-tuned copies,
    ``lite0_tuned``) and ``bank.``, and with
    ``implicit_width`` the implicit decoder ``implicit.``.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.generator = VoxelGenerator(config)
        staged = config.kind == "lgan"
        self.discriminator = (
            VoxelDiscriminator(config) if config.voxel_discriminator and not staged else None
        )
        self.projection_discriminators = (
            ProjectionDiscriminators(config) if config.projection_axes else None
        )
        self.encoder = MultiViewEncoder(config) if config.has_encoder else None
        if staged:
            self.shape_encoder = ShapeEncoder(config)
            self.latent_sampler = LatentSampler(config)
            self.latent_critic = LatentCritic(config)
            self.image_backbone = EfficientNetLite(config.image_backbone)
            others = sorted(set(config.head_backbones) - {config.image_backbone})
            self.other_backbones = (
                nn.ModuleDict({name: EfficientNetLite(backbone_variant(name)) for name in others})
                if others
                else None
            )
            self.image_head = image_head(config)
            self.bank = RetrievalBank(config)
        self.implicit = ImplicitDecoder(config) if config.implicit_width else None

    def image_backbones(self) -> dict[str, EfficientNetLite]:
        """The staged model's backbones by name: the bank's (``image_backbone``) and those
        only some image heads read."""
        others = dict(self.other_backbones.items()) if self.other_backbones is not None else {}
        return {self.config.image_backbone: self.image_backbone} | others

    def realness(self, voxels: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """How real shapes (B, R, R, R) look, logits (B,): the 3D discriminator's or, for a
        model trained on silhouettes alone, the sum of its projection discriminators'."""
        if self.discriminator is not None:
            return self.discriminator(voxels, labels)
        return self.projection_discriminators(voxels, labels).sum(1)


__all__ = [
    "GanNetworks",
    "ImageEncoder",
    "ImplicitDecoder",
    "MultiViewEncoder",
    "ProjectionDiscriminators",
    "VoxelDiscriminator",
    "VoxelGenerator",
]

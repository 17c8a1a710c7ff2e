"""The typed description of a model; it travels inside every checkpoint.

``ModelConfig.from_dict(card["config"])`` rebuilds the exact networks a checkpoint was saved
from, so any checkpoint opens with no other input (the nanoGPT ``GPTConfig`` habit).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any

from gan3d_core.errors import UsageError
from gan3d_core.schema import check_field_types

# a voxel is filled where its occupancy is over this (the design's convention; IoU too)
DEFAULT_THRESHOLD = 0.5
MODEL_KINDS = ("gan", "vaegan", "multiview", "cvaegan", "lgan")
POOLING_METHODS = ("mean", "max", "lstm")
ENCODER_ARCHITECTURES = ("paper", "light")
RESOLUTIONS = (32, 64)
PROJECTION_AXES = "xyz"
MAX_RESIDUAL_CONVS = 3  # V-Net's stages hold one to three convolutions
MAX_HEAD_MEMBERS = 8
IMAGE_BACKBONES = ("lite0", "lite1", "lite2")  # EfficientNet-LiteN, models/backbone.py
# an image head's own copy of a backbone, fine-tuned with it: "lite0_tuned", "lite0_tuned2"
TUNED_BACKBONE = re.compile(r"(lite[0-9])_tuned([0-9]*)")


def backbone_variant(name: str) -> str:
    """The architecture a backbone name stands for: "lite0" for "lite0" and "lite0_tuned2";
    "" for a name that is neither a variant nor a tuned copy of one."""
    if name in IMAGE_BACKBONES:
        return name
    tuned = TUNED_BACKBONE.fullmatch(name)
    return tuned.group(1) if tuned and tuned.group(1) in IMAGE_BACKBONES else ""


MIN_BACKBONE_IMAGE_SIZE, MAX_BACKBONE_IMAGE_SIZE = 32, 512  # the image head's views, in pixels

# 3D-GAN (Wu et al. 2016) widths at 64^3; the 32^3 variant drops the widest layer.
PAPER_GENERATOR_WIDTHS = {64: (512, 256, 128, 64), 32: (256, 128, 64)}
PAPER_DISCRIMINATOR_WIDTHS = {64: (64, 128, 256, 512), 32: (64, 128, 256)}
# 3D-VAE-GAN encoder: kernels 11,5,5,5,8 / strides 4,2,2,2,1 on 256 px input.
PAPER_ENCODER_WIDTHS = (64, 128, 256, 512)
LIGHT_ENCODER_WIDTHS = (32, 64, 128, 256, 512)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a volumetric GAN and its optional image encoder.

    kind
        ``gan`` (generator + discriminator), ``vaegan`` (+ single-view image encoder),
        ``multiview`` (+ encoder shared across ``num_views`` views) or ``cvaegan``
        (class-conditional generator and discriminator + encoder, any number of views).
    generator_widths, discriminator_widths
        Channels of the hidden layers; ``None`` picks the paper widths for ``resolution``.
    pool
        How per-view latents are combined: mean, max or an LSTM over the views.
    encoder_classifier
        cvaegan only: the encoder also predicts the class from the pooled latent, so a
        photo is decoded as the class it shows without asking the user.
    residual_convs
        0: the 3D-GAN layout. 1-3: a V-Net residual stage of that many 3^3 convolutions after
        every strided layer of the generator, the discriminator and the 3D encoders.
    projection_axes
        MPSE-GAN: one 2D discriminator per letter (``x``, ``y``, ``z``) judging the shape's
        silhouette along that axis, beside the 3D discriminator or, with
        ``voxel_discriminator`` False (trained on silhouettes alone), instead of it.
    lgan
        The staged model: a shape autoencoder (``discriminator_widths`` size its 3D
        encoder), a latent GAN on its latents, a frozen EfficientNet-Lite0 and a head that
        predicts latent, class and camera from ``image_size`` px photos, and a bank of the
        training shapes' latents and view features (``bank_*``) for retrieval and fitting.
    implicit_width
        > 0: an implicit decoder (:class:`~gan3d_core.models.implicit.ImplicitDecoder`) of
        this width gives occupancy at any point, for surfaces finer than the grid (lgan).
    """

    kind: str = "gan"
    resolution: int = 32
    latent_dim: int = 200
    generator_widths: tuple[int, ...] | None = None
    discriminator_widths: tuple[int, ...] | None = None
    generator_dropout: float = 0.0
    discriminator_dropout: float = 0.0
    num_classes: int = 0
    label_embedding_dim: int = 16
    encoder_architecture: str = "light"
    image_size: int = 128
    encoder_widths: tuple[int, ...] | None = None
    num_views: int = 1
    pool: str = "mean"
    encoder_classifier: bool = False
    # lgan (the staged recipe): l-GAN noise and width, image head width, retrieval bank size
    noise_dim: int = 64
    latent_gan_width: int = 256
    head_width: int = 512
    # the image head's frozen ImageNet backbone: EfficientNet-Lite0, -Lite1 or -Lite2
    image_backbone: str = "lite0"
    # > 0: the image head also reads the backbone's feature map, reduced to this many channels
    head_spatial_channels: int = 0
    # dropout on everything the image head reads, in training (features of 3,569 shapes:
    # the head overfits them)
    head_input_dropout: float = 0.0
    # > 1: that many image heads, trained apart on their own jittered views and averaged
    # (``gan3d pack --add-heads``): one head overfits 3,569 shapes
    head_members: int = 1
    # the backbone each member reads, where they differ (heads trained on other backbones,
    # or each fine-tuned with its own copy, "lite0_tuned"); empty: all read image_backbone
    member_backbones: tuple[str, ...] = ()
    bank_shapes: int = 0
    bank_views: int = 0
    bank_feature_dim: int = 128
    # seed-paper options (README, "Options from the seed papers")
    residual_convs: int = 0
    projection_axes: str = ""
    voxel_discriminator: bool = True
    implicit_width: int = 0

    def __post_init__(self) -> None:
        problems = list(self._problems())
        if problems:
            raise UsageError("invalid model config: " + "; ".join(problems))
        set_field = object.__setattr__  # frozen: resolve defaults once, so checkpoints are explicit
        if self.generator_widths is None:
            set_field(self, "generator_widths", PAPER_GENERATOR_WIDTHS[self.resolution])
        if self.discriminator_widths is None:
            set_field(self, "discriminator_widths", PAPER_DISCRIMINATOR_WIDTHS[self.resolution])
        if self.encoder_widths is None and self.has_encoder:
            set_field(self, "encoder_widths", self._default_encoder_widths())
        for name in ("generator_widths", "discriminator_widths", "encoder_widths"):
            value = getattr(self, name)
            if value is not None:
                set_field(self, name, tuple(int(v) for v in value))
        set_field(self, "member_backbones", tuple(str(v) for v in self.member_backbones))
        problems = list(self._width_problems()) + size_problems(self)
        if problems:
            raise UsageError("invalid model config: " + "; ".join(problems))

    @property
    def head_backbones(self) -> tuple[str, ...]:
        """The backbone each image head (member) reads."""
        return self.member_backbones or (self.image_backbone,) * self.head_members

    @property
    def has_encoder(self) -> bool:
        """Whether the model has the end-to-end families' image encoder (3D-VAE-GAN)."""
        return self.kind in ("vaegan", "multiview", "cvaegan")

    @property
    def can_reconstruct(self) -> bool:
        """Whether the model turns photos into shapes (an image encoder or image head)."""
        return self.has_encoder or self.kind == "lgan"

    @property
    def has_shape_encoder(self) -> bool:
        """Whether the model brings 3D shapes into its latent space (the staged family's
        shape autoencoder)."""
        return self.kind == "lgan"

    def require_shape_encoder(self, path: Any = None) -> None:
        """A UsageError unless the model (the checkpoint at ``path``) encodes 3D shapes."""
        if not self.has_shape_encoder:
            raise UsageError(
                f"{path or 'this model'}: a {self.kind} model has no shape encoder; "
                "encoding shapes needs a staged (lgan) model"
            )

    def require_reconstruction(self, path: Any = None) -> None:
        """A UsageError unless the model (the checkpoint at ``path``) turns photos into shapes."""
        if not self.can_reconstruct:
            raise UsageError(
                f"{path or 'this model'}: a {self.kind} model has no image encoder; "
                "reconstruction needs a vaegan, multiview, cvaegan or lgan model"
            )

    @property
    def conditional(self) -> bool:
        return self.kind == "cvaegan" or (self.kind == "lgan" and self.num_classes >= 2)

    @property
    def num_upsampling_layers(self) -> int:
        """Hidden generator layers: 1 -> 4 -> 8 -> ... -> R/2, then one more to R."""
        return int(math.log2(self.resolution)) - 2

    def _default_encoder_widths(self) -> tuple[int, ...]:
        if self.encoder_architecture == "paper":
            return PAPER_ENCODER_WIDTHS
        return LIGHT_ENCODER_WIDTHS[: int(math.log2(self.image_size)) - 2]

    def _problems(self):
        if self.kind not in MODEL_KINDS:
            yield f"kind {self.kind!r} is not one of {', '.join(MODEL_KINDS)}"
        if self.resolution not in RESOLUTIONS:
            yield f"resolution {self.resolution} is not one of {RESOLUTIONS}"
        if self.latent_dim < 1:
            yield f"latent_dim must be positive, got {self.latent_dim}"
        for name in ("generator_dropout", "discriminator_dropout", "head_input_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                yield f"{name} must be in [0, 1), got {getattr(self, name)}"
        if self.kind == "cvaegan" and self.num_classes < 2:
            yield f"a cvaegan needs num_classes >= 2, got {self.num_classes}"
        if self.kind not in ("cvaegan", "lgan") and self.num_classes not in (0, 1):
            yield f"num_classes is only used by cvaegan and lgan models, got {self.num_classes}"
        if self.encoder_classifier and self.kind != "cvaegan":
            yield "encoder_classifier needs a cvaegan model (it predicts the class to decode)"
        if self.pool not in POOLING_METHODS:
            yield f"pool {self.pool!r} is not one of {', '.join(POOLING_METHODS)}"
        for name in ("noise_dim", "latent_gan_width", "head_width", "bank_feature_dim"):
            if getattr(self, name) < 1:
                yield f"{name} must be positive, got {getattr(self, name)}"
        if self.bank_shapes < 0 or self.bank_views < 0:
            yield "bank_shapes and bank_views must be >= 0"
        if self.image_backbone not in IMAGE_BACKBONES:
            yield f"image_backbone {self.image_backbone!r} is not one of {', '.join(IMAGE_BACKBONES)}"
        if not 1 <= self.head_members <= MAX_HEAD_MEMBERS:
            yield f"head_members must be 1..{MAX_HEAD_MEMBERS}, got {self.head_members}"
        if self.member_backbones and (
            len(self.member_backbones) != self.head_members
            or not all(backbone_variant(name) for name in self.member_backbones)
        ):
            yield (
                f"member_backbones must name one of {', '.join(IMAGE_BACKBONES)} (or a tuned "
                f"copy, e.g. lite0_tuned2) for each of the {self.head_members} image heads, "
                f"got {list(self.member_backbones)}"
            )
        if not 0 <= self.head_spatial_channels <= 1024:
            yield f"head_spatial_channels must be 0..1024, got {self.head_spatial_channels}"
        if self.implicit_width < 0:
            yield f"implicit_width must be >= 0, got {self.implicit_width}"
        if self.implicit_width > 0 and self.kind != "lgan":
            yield "implicit_width needs an lgan model (the staged recipe trains the decoder)"
        if self.num_views < 1:
            yield f"num_views must be >= 1, got {self.num_views}"
        if self.kind == "multiview" and self.num_views < 2:
            yield f"a multiview model needs num_views >= 2, got {self.num_views}"
        if not 0 <= self.residual_convs <= MAX_RESIDUAL_CONVS:
            yield f"residual_convs must be 0..{MAX_RESIDUAL_CONVS}, got {self.residual_convs}"
        axes = self.projection_axes
        if any(axes.count(axis) != 1 or axis not in PROJECTION_AXES for axis in axes):
            yield f"projection_axes must be distinct letters of xyz, got {axes!r}"
        if axes and self.kind == "lgan":
            yield "projection_axes needs an end-to-end GAN kind (lgan has no discriminators)"
        if not self.voxel_discriminator and (not axes or self.kind == "lgan"):
            yield "a model without a 3D discriminator needs projection_axes (gan3d train --silhouettes-only)"
        if self.encoder_architecture not in ENCODER_ARCHITECTURES:
            yield f"encoder_architecture {self.encoder_architecture!r} is not one of paper, light"
        elif not self.has_encoder:
            # the staged model's EfficientNet-Lite0 reads any size; its head is sized by it
            if not MIN_BACKBONE_IMAGE_SIZE <= self.image_size <= MAX_BACKBONE_IMAGE_SIZE:
                yield (
                    f"image_size must be {MIN_BACKBONE_IMAGE_SIZE}..{MAX_BACKBONE_IMAGE_SIZE} "
                    f"px, got {self.image_size}"
                )
        elif self.encoder_architecture == "paper" and self.image_size != 256:
            yield f"the paper encoder takes 256 px images, got image_size {self.image_size}"
        elif self.encoder_architecture == "light" and self.image_size not in (64, 128):
            yield f"the light encoder takes 64 or 128 px images, got image_size {self.image_size}"

    def _width_problems(self):
        if len(self.generator_widths) != self.num_upsampling_layers:
            yield (
                f"generator_widths needs {self.num_upsampling_layers} entries at "
                f"{self.resolution}^3, got {len(self.generator_widths)}"
            )
        if len(self.discriminator_widths) != self.num_upsampling_layers:
            yield (
                f"discriminator_widths needs {self.num_upsampling_layers} entries at "
                f"{self.resolution}^3, got {len(self.discriminator_widths)}"
            )
        if self.has_encoder:
            expected = self._default_encoder_widths()
            if len(self.encoder_widths) != len(expected):
                yield (
                    f"encoder_widths needs {len(expected)} entries for the "
                    f"{self.encoder_architecture} encoder at {self.image_size} px, "
                    f"got {len(self.encoder_widths)}"
                )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; lists stand in for tuples."""
        data = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Rebuild a config; unknown keys are an error, so a foreign file is not half-read."""
        if not isinstance(data, dict):
            raise ValueError(f"model config must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model config keys: {', '.join(unknown)}")
        check_field_types(cls, data, "model config")
        return cls(**data)


def size_problems(config: Any) -> list[str]:
    """Sizes over :mod:`gan3d_core.limits`, by field name so that new fields are covered:
    ``*_dim`` (latent, embedding, hidden sizes), ``*_widths``, ``num_classes``, ``num_views``."""
    from gan3d_core import limits

    problems = []
    for field in dataclasses.fields(config):
        name, value = field.name, getattr(config, field.name)
        if name.endswith("_dim") and isinstance(value, int) and value > limits.MAX_LATENT_DIM:
            problems.append(f"{name} {value} is over the limit of {limits.MAX_LATENT_DIM}")
        elif name.endswith("_widths") and value is not None:
            if any(not 1 <= width <= limits.MAX_WIDTH for width in value):
                problems.append(f"{name} must be between 1 and {limits.MAX_WIDTH}, got {value}")
    for name, limit in (
        ("num_classes", limits.MAX_NUM_CLASSES),
        ("num_views", limits.MAX_NUM_VIEWS),
    ):
        value = getattr(config, name, 0)
        if isinstance(value, int) and value > limit:
            problems.append(f"{name} {value} is over the limit of {limit}")
    return problems

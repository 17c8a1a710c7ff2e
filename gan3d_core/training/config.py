"""Training settings: one dataclass, written to the run folder as JSON and read back on resume."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gan3d_core.config import IMAGE_BACKBONES, ModelConfig
from gan3d_core.errors import InputFileError, UsageError
from gan3d_core.limits import MAX_SEED
from gan3d_core.schema import check_field_types

MAX_TORCH_SEED = 2**63 - 1

RECIPES = Path(__file__).parent / "recipes"

RECON_LOSSES = ("bce", "l2", "l2_sum", "dice", "bce_dice")
RECON_IN_DISCRIMINATOR = ("none", "real", "fake")
PRECISIONS = ("auto", "fp32", "bf16")
LR_SCHEDULES = ("constant", "cosine")
LITE0_BLOCKS = 16  # EfficientNet-Lite0's MBConv blocks (gan3d_core.models.backbone)


@dataclass
class TrainConfig:
    """Every knob of ``gan3d train``; defaults follow the 3D-GAN / 3D-VAE-GAN papers.

    Loss weights: ``kl_weight`` (paper a1 = 5) and ``recon_weight`` (paper a2 = 1e-4 on the
    summed squared error, ``recon_loss="l2_sum"``); the seed report's small-data recipe is
    KL ~3 with recon ~1 on mean BCE, plus soft labels, Dropout3d and reconstructions shown
    to D as real.
    """

    kind: str = "gan"
    data: str = ""
    # the up axis of a folder's shape files: auto (glTF y, the rest z, as ModelNet), z or y
    # (ShapeNet's .binvox and OBJ files); an .npz's grids are in our axes already
    up: str = "auto"
    resolution: int = 32
    classes: list[str] | None = None
    limit: int | None = None
    validation_fraction: float = 0.1
    split_seed: int = 0
    epochs: int = 10
    batch_size: int = 32
    seed: int = 0
    # model
    latent_dim: int = 200
    generator_widths: list[int] | None = None
    discriminator_widths: list[int] | None = None
    generator_dropout: float = 0.0
    discriminator_dropout: float = 0.0
    label_embedding_dim: int = 16
    encoder_architecture: str = "light"
    image_size: int = 64
    encoder_widths: list[int] | None = None
    views: int = 1
    # each batch sees between 1 and `views` views, so one model serves one photo or several
    vary_views: bool = False
    pool: str = "mean"
    encoder_classifier: bool = False
    classifier_weight: float = 1.0
    # rendered views of each shape to draw from, re-rendered with jitter when asked
    rendered_views: int = 12
    render_jitter: bool = True
    image_augmentation: bool = True
    # optimisation
    lr_generator: float = 0.0025
    lr_discriminator: float = 1e-5
    lr_encoder: float = 1e-4
    beta1: float = 0.5
    beta2: float = 0.999
    # cosine: every learning rate falls from its value to min_lr_fraction of it by the end
    lr_schedule: str = "constant"
    min_lr_fraction: float = 0.05
    d_accuracy_threshold: float | None = 0.8
    soft_labels: bool = False
    real_label_range: tuple[float, float] = (0.7, 1.2)
    fake_label_range: tuple[float, float] = (0.0, 0.3)
    recon_in_discriminator: str = "none"
    kl_weight: float = 5.0
    recon_weight: float = 1e-4
    recon_loss: str = "l2_sum"
    ssim_weight: float = 0.0
    rotation_degrees: float = 0.0
    translation_voxels: float = 0.0
    mirror: bool = False
    precision: str = "auto"
    # fine-tuning: start from this checkpoint's weights (same architecture), fresh optimizers
    init_from: str | None = None
    # > 0: a voxel VAE encoder trains beside the model and pulls the image encoder's means
    # toward its own with this weight (gan3d_core.training.teacher)
    voxel_teacher_weight: float = 0.0
    # seed-paper options (README, "Options from the seed papers"): V-Net residual stages;
    # MPSE-GAN projection discriminators (their adversarial weight beside the 3D one's 1),
    # or those alone with no 3D supervision; DIB-R's silhouette IoU loss for the encoder
    residual_convs: int = 0
    projection_axes: str = ""
    projection_weight: float = 1.0
    silhouettes_only: bool = False
    silhouette_weight: float = 0.0
    # the staged recipe (kind lgan): shape autoencoder, latent GAN, image head
    autoencoder_steps: int = 1600
    lr_autoencoder: float = 1e-3
    # the Dice term beside BCE: the autoencoder's loss, and recon_loss "bce_dice"
    dice_weight: float = 1.0
    # Gaussian noise on the autoencoder's latents in training, in units of their spread
    latent_noise: float = 0.0
    latent_gan_steps: int = 6000
    lr_latent_gan: float = 1e-4
    noise_dim: int = 64
    latent_gan_width: int = 256
    head_steps: int = 4000
    lr_head: float = 1e-3
    # > 0: the backbone's last N blocks train with the head, at lr_tuned_blocks
    head_tuned_blocks: int = 0
    lr_tuned_blocks: float = 1e-4
    head_width: int = 512
    # the head's frozen ImageNet backbone: EfficientNet-Lite0, -Lite1 or -Lite2
    head_backbone: str = "lite0"
    # > 0: the head also reads the backbone's feature map (the places in the view), reduced
    # to this many channels
    head_spatial_channels: int = 0
    head_input_dropout: float = 0.0
    # > 0: each training view is reframed (gan3d_core.images.reframed) by a random zoom in
    # [1 - j, 1 + j] and a shift in [-j, j] of the side, so that a crop a few pixels off
    # (an imperfect mask) does not move the prediction
    head_framing_jitter: float = 0.0
    # > 0: the head's predicted latent is also decoded by the frozen generator and scored
    # against the true voxels (BCE + Dice), with this weight beside the latent's error
    head_shape_weight: float = 0.0
    # > 1: that term scores the mean latent of 1..N views of a shape (multi-view pooling)
    head_shape_views: int = 1
    # > 0: after the head stage, every layer of a copy of the backbone trains with the head
    # for this many steps on the rendered views themselves (gan3d_core.training
    # .image_finetune: a GPU's work); with --init-from and head_steps 0, starting from its
    # head number head_finetune_member
    head_finetune_steps: int = 0
    lr_finetune_backbone: float = 2e-4
    head_finetune_member: int = 0
    # its regularisers: each view reframed by a random zoom of 1 +- j and a shift of up to j
    # of its side; stochastic depth of the backbone's residual blocks (the last one's rate);
    # label smoothing of the class loss
    head_finetune_jitter: float = 0.03
    head_finetune_drop_path: float = 0.0
    head_finetune_label_smoothing: float = 0.0
    bank_feature_dim: int = 128
    # the staged recipe's implicit decoder (0 steps: none): occupancy at any point, for
    # surfaces finer than the grid (gan3d_core.training.implicit_decoder)
    implicit_steps: int = 0
    lr_implicit: float = 1e-3
    implicit_width: int = 64
    # silhouette fitting at reconstruction (gan3d reconstruct --refine), stored in the card;
    # starting it from retrieved training shapes as well as the head's prediction lost on
    # the validation split (their silhouettes pick the wrong one). 15 steps gain what 30 did
    # (bundled model, 395 held-out views: 0.4509 against 0.4508; 10: 0.4505; none: 0.4493)
    # in half the time
    refine_steps: int = 15
    retrieval_candidates: int = 0
    # bookkeeping
    checkpoint_every: int = 100
    validate_every: int = 200
    validation_samples: int = 32
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.epochs < 1 or self.batch_size < 1:
            problems.append(
                f"epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}"
            )
        # numpy takes no negative seed, torch none over 64 bits; the command line takes the
        # app's seeds (to MAX_SEED), a settings file of an older run any torch takes
        for name in ("seed", "split_seed"):
            if not 0 <= getattr(self, name) <= MAX_TORCH_SEED:
                problems.append(
                    f"{name} must be from 0 to {MAX_SEED} (an older run's to 2^63 - 1), "
                    f"got {getattr(self, name)}"
                )
        if self.up not in ("auto", "z", "y"):
            problems.append(f"up must be auto, z or y, got {self.up!r}")
        if self.recon_loss not in RECON_LOSSES:
            problems.append(f"recon_loss must be one of {', '.join(RECON_LOSSES)}")
        if self.recon_in_discriminator not in RECON_IN_DISCRIMINATOR:
            problems.append(
                f"recon_in_discriminator must be one of {', '.join(RECON_IN_DISCRIMINATOR)}"
            )
        for field in dataclasses.fields(self):  # every learning rate, of every stage
            if field.name.startswith("lr_") and field.name != "lr_schedule":
                rate = getattr(self, field.name)
                if not rate > 0:  # NaN fails too
                    problems.append(f"{field.name} must be above 0, got {rate}")
        if self.lr_schedule not in LR_SCHEDULES:
            problems.append(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}")
        if not 0.0 <= self.min_lr_fraction <= 1.0:
            problems.append(f"min_lr_fraction must be in [0, 1], got {self.min_lr_fraction}")
        if self.precision not in PRECISIONS:
            problems.append(f"precision must be one of {', '.join(PRECISIONS)}")
        if not 1 <= self.head_shape_views <= self.rendered_views:
            problems.append(
                f"head_shape_views must be between 1 and rendered_views ({self.rendered_views})"
            )
        if self.head_backbone not in IMAGE_BACKBONES:
            problems.append(
                f"head_backbone {self.head_backbone!r} is not one of {', '.join(IMAGE_BACKBONES)}"
            )
        if not 0.0 <= self.head_framing_jitter <= 0.25:
            problems.append(
                f"head_framing_jitter must be in [0, 0.25], got {self.head_framing_jitter}"
            )
        if self.views < 1 or self.views > self.rendered_views:
            problems.append(f"views must be between 1 and rendered_views ({self.rendered_views})")
        if self.checkpoint_every < 1 or self.validate_every < 1:
            problems.append("checkpoint_every and validate_every must be >= 1")
        if self.validation_samples < 2:
            problems.append("validation_samples must be >= 2 (diversity compares pairs)")
        if self.voxel_teacher_weight < 0:
            problems.append(f"voxel_teacher_weight must be >= 0, got {self.voxel_teacher_weight}")
        # 0 steps keep --init-from's stage as it is; the later stages work on the
        # autoencoder's latents, so they can be kept only with the autoencoder
        keeps_autoencoder = bool(self.init_from) and self.autoencoder_steps == 0
        for name, can_keep in (
            ("autoencoder_steps", bool(self.init_from)),
            ("latent_gan_steps", keeps_autoencoder),
            ("head_steps", keeps_autoencoder),
            ("implicit_steps", True),  # 0: no implicit decoder trained
        ):
            least = 0 if can_keep else 1
            if getattr(self, name) < least:
                problems.append(f"{name} must be >= {least}, got {getattr(self, name)}")
        if self.implicit_width < 1:
            problems.append(f"implicit_width must be >= 1, got {self.implicit_width}")
        for name in ("latent_noise", "head_shape_weight"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.head_finetune_steps < 0 or self.head_finetune_member < 0:
            problems.append("head_finetune_steps and head_finetune_member must be >= 0")
        for name in ("head_finetune_jitter", "head_finetune_drop_path"):
            if not 0.0 <= getattr(self, name) <= 0.5:
                problems.append(f"{name} must be in [0, 0.5], got {getattr(self, name)}")
        if not 0.0 <= self.head_finetune_label_smoothing < 1.0:
            problems.append(
                "head_finetune_label_smoothing must be in [0, 1), got "
                f"{self.head_finetune_label_smoothing}"
            )
        if not 0 <= self.head_tuned_blocks <= LITE0_BLOCKS:
            problems.append(f"head_tuned_blocks must be 0..{LITE0_BLOCKS}")
        if self.refine_steps < 0 or self.retrieval_candidates < 0:
            problems.append("refine_steps and retrieval_candidates must be >= 0")
        if self.voxel_teacher_weight > 0 and self.kind == "gan":
            problems.append("voxel_teacher_weight needs a model with an image encoder, not gan")
        problems += self._seed_option_problems()
        for name, limit in (
            ("batch_size", 4096),
            ("rendered_views", 360),
            ("validation_samples", 4096),
        ):
            if getattr(self, name) > limit:
                problems.append(f"{name} {getattr(self, name)} is over the limit of {limit}")
        if not problems:  # the architecture's own checks and size limits, before any data loads
            try:
                self.model_config(num_classes=2)
            except ValueError as exc:
                problems.append(str(exc).removeprefix("invalid model config: "))
        if problems:
            raise UsageError("invalid training config: " + "; ".join(problems))
        self.real_label_range = tuple(self.real_label_range)
        self.fake_label_range = tuple(self.fake_label_range)

    def _seed_option_problems(self) -> list[str]:
        """Combinations of the seed-paper options that cannot train."""
        problems = []
        if self.projection_weight < 0 or self.silhouette_weight < 0:
            problems.append("projection_weight and silhouette_weight must be >= 0")
        if self.silhouette_weight > 0 and self.kind in ("gan", "lgan"):
            problems.append(
                "silhouette_weight needs a model with an image encoder (vaegan, multiview, cvaegan)"
            )
        if self.silhouettes_only:
            if not self.projection_axes:
                problems.append("silhouettes_only needs projection_axes (e.g. xyz)")
            if self.kind not in ("gan", "lgan") and self.silhouette_weight <= 0:
                problems.append(
                    "silhouettes_only: the encoder learns from silhouettes alone, so give "
                    "silhouette_weight > 0"
                )
            if self.ssim_weight > 0 or self.voxel_teacher_weight > 0:
                problems.append(
                    "silhouettes_only trains without 3D supervision: ssim_weight and "
                    "voxel_teacher_weight must be 0"
                )
        return problems

    def model_config(self, num_classes: int) -> ModelConfig:
        """The architecture this run trains (``num_classes`` from the data, for cvaegan)."""
        return ModelConfig(
            kind=self.kind,
            resolution=self.resolution,
            latent_dim=self.latent_dim,
            generator_widths=tuple(self.generator_widths) if self.generator_widths else None,
            discriminator_widths=tuple(self.discriminator_widths)
            if self.discriminator_widths
            else None,
            generator_dropout=self.generator_dropout,
            discriminator_dropout=self.discriminator_dropout,
            num_classes=num_classes if self.kind in ("cvaegan", "lgan") else 0,
            label_embedding_dim=self.label_embedding_dim,
            encoder_architecture=self.encoder_architecture,
            image_size=self.image_size,
            encoder_widths=tuple(self.encoder_widths) if self.encoder_widths else None,
            num_views=self.views,
            pool=self.pool,
            encoder_classifier=self.encoder_classifier,
            noise_dim=self.noise_dim,
            latent_gan_width=self.latent_gan_width,
            head_width=self.head_width,
            image_backbone=self.head_backbone,
            head_spatial_channels=self.head_spatial_channels,
            head_input_dropout=self.head_input_dropout,
            bank_feature_dim=self.bank_feature_dim,
            residual_convs=self.residual_convs,
            projection_axes=self.projection_axes,
            voxel_discriminator=not self.silhouettes_only,
            implicit_width=self.implicit_width if self.implicit_steps else 0,
        )

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    def card_settings(self) -> dict[str, Any]:
        """The settings a model card states: all of them, less the staged recipe's for a
        model trained end to end (its card said it trained 1,600 autoencoder steps)."""
        settings = self.to_dict()
        if self.kind != "lgan":
            for name in STAGED_ONLY_SETTINGS:
                settings.pop(name)
        return settings

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(f"unknown training settings: {', '.join(unknown)}")
        check_field_types(cls, data, "training settings")
        return cls(**data)

    @classmethod
    def from_json(cls, path: str | Path) -> TrainConfig:
        from gan3d_core.io.inputs import read_json

        return cls.from_dict(read_json(path, "training settings file"))


def recipe_names() -> list[str]:
    """The recipes shipped with gan3d-studio (``gan3d train --recipe NAME``)."""
    return sorted(path.stem for path in RECIPES.glob("*.json"))


# the staged recipe's own settings (kind lgan), which an end-to-end model's card leaves out
STAGED_ONLY_SETTINGS = frozenset(
    {"autoencoder_steps", "lr_autoencoder", "latent_noise", "latent_gan_steps", "lr_latent_gan",
     "noise_dim", "latent_gan_width", "lr_head", "lr_tuned_blocks", "lr_finetune_backbone",
     "bank_feature_dim", "implicit_steps", "lr_implicit", "implicit_width", "refine_steps",
     "retrieval_candidates"}
    | {field.name for field in dataclasses.fields(TrainConfig) if field.name.startswith("head_")}
)  # fmt: skip


# and the end-to-end families' own (trainer.py, prepare_data), which a staged run never reads
END_TO_END_ONLY_SETTINGS = frozenset(
    {"beta1", "beta2", "classifier_weight", "d_accuracy_threshold", "epochs",
     "fake_label_range", "image_augmentation", "kl_weight", "lr_discriminator", "lr_encoder",
     "lr_generator", "lr_schedule", "min_lr_fraction", "mirror", "projection_weight",
     "real_label_range", "recon_in_discriminator", "recon_loss", "recon_weight",
     "render_jitter", "rotation_degrees", "silhouette_weight", "soft_labels", "ssim_weight",
     "translation_voxels", "validation_samples", "vary_views", "voxel_teacher_weight"}
)  # fmt: skip


def load_recipe(name: str) -> dict[str, Any]:
    """The settings of a shipped recipe; keys starting with ``_`` are notes, not settings."""
    path = RECIPES / f"{name}.json"
    if not path.is_file():
        raise InputFileError(f"no recipe named {name!r}; known: {', '.join(recipe_names())}")
    values = json.loads(path.read_text())
    return {key: value for key, value in values.items() if not key.startswith("_")}

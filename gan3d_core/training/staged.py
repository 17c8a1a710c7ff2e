"""The staged recipe (``gan3d train --kind lgan``): each stage cheap on a CPU and resumable.

1. shape autoencoder (:mod:`~gan3d_core.training.shape_autoencoder`): 3D encoder and the
   3D-GAN generator as decoder, BCE + Dice;
2. latent GAN (:mod:`~gan3d_core.training.latent_gan`) on the autoencoder's latents;
3. image head (:mod:`~gan3d_core.training.image_head`) on frozen EfficientNet-Lite0
   features of rendered views, predicting latent, class and camera;
4. optionally (``implicit_steps``), an implicit decoder on the autoencoder's generator
   (:mod:`~gan3d_core.training.implicit_decoder`), for surfaces finer than the grid;
5. the retrieval bank and latent prior, then everything packed into one checkpoint. The
   silhouette fitting that uses them runs at reconstruction time (:mod:`gan3d_core.fitting`).

A run folder holds each stage's state file and log, the cached features and, once all
stages are done, ``model.safetensors``. Running again resumes the first unfinished stage.
With ``init_from``, a stage given 0 steps is kept from that checkpoint as it is (the later
stages only with its autoencoder): e.g. every stage but the implicit decoder.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan3d_core.config import ModelConfig, backbone_variant
from gan3d_core.data.datasets import VoxelDataset, load_dataset, split_dataset
from gan3d_core.images import reframed
from gan3d_core.io.atomic import write_bytes_atomic, write_npy_atomic
from gan3d_core.io.card import inference_settings
from gan3d_core.io.checkpoint import save_checkpoint
from gan3d_core.models import GanNetworks
from gan3d_core.models.backbone import BackboneTop, EfficientNetLite, pretrained_state
from gan3d_core.models.latent import ImageHead, RetrievalBank
from gan3d_core.training.config import TrainConfig
from gan3d_core.training.image_head import ImageHeadStage, backbone_features
from gan3d_core.training.implicit_decoder import ImplicitDecoderStage
from gan3d_core.training.latent_gan import LatentGanStage
from gan3d_core.training.shape_autoencoder import ShapeAutoencoderStage
from gan3d_core.training.stages import (
    RecordHook,
    StageResult,
    StageSchedule,
    run_stage,
    stage_state_path,
)
from gan3d_core.training.trainer import CONFIG_FILE, MODEL_FILE

STAGE_NAMES = ("autoencoder", "latent_gan", "image_head", "implicit")
# The networks of each stage, by their names in the packed checkpoint.
STAGE_NETWORKS = {
    "autoencoder": ("generator", "shape_encoder"),
    "latent_gan": ("latent_sampler", "latent_critic"),
    "image_head": ("image_backbone", "other_backbones", "image_head", "bank"),
    "implicit": ("implicit",),
}
ProgressHook = Callable[[float, str], None]
StopHook = Callable[[], bool]


def _stage_progress(progress: ProgressHook | None, offset: float, share: float):
    if progress is None:
        return None
    return lambda fraction, message: progress(offset + share * fraction, message)


def latent_prior(latents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (L,) and whitening matrix (L, L) of a Gaussian fitted to latents (N, L):
    (z - mean) @ whitening has identity covariance over them (ridge-regularised)."""
    mean = latents.mean(0)
    covariance = np.cov(latents.astype(np.float64), rowvar=False)
    covariance += np.eye(len(mean)) * 1e-3 * np.trace(covariance) / len(mean)
    values, vectors = np.linalg.eigh(covariance)
    whitening = vectors @ np.diag(values**-0.5) @ vectors.T
    return mean.astype(np.float32), whitening.astype(np.float32)


def feature_pca(features: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean (F,) and the top ``dim`` principal directions (F, dim) of features (M, F).

    Fewer than ``dim`` features (a small dataset) have fewer directions: the rest of the
    basis is zero, so the bank keeps the size its model was built with."""
    mean = features.mean(0)
    _, _, components = np.linalg.svd(features - mean, full_matrices=False)
    basis = np.zeros((features.shape[1], dim), np.float32)
    kept = components[:dim].T
    basis[:, : kept.shape[1]] = kept
    return mean.astype(np.float32), basis


def _cached_features(
    path: Path, images: np.ndarray, backbone, blocks: int | None, maps: bool, progress, should_stop
) -> np.ndarray:
    if path.is_file():
        features = np.load(path, allow_pickle=False)
        pooled = blocks is None and not maps
        if len(features) == len(images) and features.ndim == (2 if pooled else 4):
            return features
    features = backbone_features(
        backbone, images, progress=progress, should_stop=should_stop, blocks=blocks, maps=maps
    )
    write_npy_atomic(path, features)
    return features


class ReframedViews:
    """Preprocessed views (M, S, S, 3), each reframed by its own random zoom and shift of
    up to ``jitter`` (drawn once from ``seed``), as batches are read: no copy of the views."""

    def __init__(self, images: np.ndarray, jitter: float, seed: int) -> None:
        self.images = images
        rng = np.random.default_rng([seed, 0xF4A3E])
        self.frames = rng.uniform(-jitter, jitter, (len(images), 3))
        self.frames[:, 0] += 1.0  # zoom

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, rows: slice) -> np.ndarray:
        indices = range(*rows.indices(len(self)))
        return np.stack([reframed(self.images[i], *self.frames[i]) for i in indices])


def rendered_views(
    config: TrainConfig,
    train_voxels: np.ndarray,
    validation_voxels: np.ndarray,
    progress: ProgressHook | None = None,
    should_stop: StopHook | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The training shapes' jittered views (N * views, S, S, 3) and the held-out shapes
    seen as `gan3d eval` sees them (one ring view each, (M, S, S, 3)), uint8, rendered once
    and cached by content (memory-mapped)."""
    from gan3d_core.data.render import cached_render_views
    from gan3d_core.evaluation import EVAL_AZIMUTH_OFFSET
    from gan3d_core.training.run import default_cache_dir

    cache = Path(config.cache_dir) if config.cache_dir else default_cache_dir()
    size = config.image_size
    train_images = cached_render_views(
        train_voxels, cache / "views", config.rendered_views, size, jitter=True,
        seed=config.seed, progress=_stage_progress(progress, 0.65, 0.1), should_stop=should_stop,
    )  # fmt: skip
    validation_images = cached_render_views(
        validation_voxels, cache / "views", 1, size, azimuth_offset=EVAL_AZIMUTH_OFFSET,
        progress=_stage_progress(progress, 0.75, 0.01), should_stop=should_stop,
    )  # fmt: skip
    return train_images.reshape(-1, size, size, 3), validation_images.reshape(-1, size, size, 3)


def view_features(
    config: TrainConfig,
    train_voxels: np.ndarray,
    validation_voxels: np.ndarray,
    backbone: torch.nn.Module,
    run_dir: Path,
    progress: ProgressHook | None = None,
    should_stop: StopHook | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Backbone features of the training shapes' jittered views (N * views, 1280) and of
    the held-out shapes seen as `gan3d eval` sees them (one ring view each), rendered and
    computed once: the renders are cached by content, the features in the run folder.
    With ``head_tuned_blocks``, the feature maps below the tuned blocks instead; with
    ``head_spatial_channels`` (and a frozen backbone), its feature maps before pooling; with
    ``head_framing_jitter``, of training views reframed (:class:`ReframedViews`)."""
    blocks = len(backbone._blocks) - config.head_tuned_blocks if config.head_tuned_blocks else None
    maps = blocks is None and config.head_spatial_channels > 0
    name = f"activations{blocks}" if blocks is not None else "maps" if maps else "features"
    if config.head_backbone != "lite0":
        name += f"_{config.head_backbone}"
    if config.head_framing_jitter > 0:
        name += f"_framing{config.head_framing_jitter:g}"  # other inputs, other cache
    train_images, validation_images = rendered_views(
        config, train_voxels, validation_voxels, progress, should_stop
    )
    if config.head_framing_jitter > 0:
        train_images = ReframedViews(train_images, config.head_framing_jitter, config.seed)
    train_features, validation_features = (
        _cached_features(
            run_dir / f"{name}_{subset}.npy",
            images,
            backbone,
            blocks,
            maps,
            _stage_progress(progress, *share),
            should_stop,
        )
        for subset, images, share in (
            ("train", train_images, (0.76, 0.14)),
            ("validation", validation_images, (0.9, 0.02)),
        )
    )
    return train_features, validation_features


def load_init_from(path: str | Path) -> tuple[GanNetworks, dict[str, Any]]:
    """The staged checkpoint a run starts from (``init_from``): its networks and card."""
    from gan3d_core.errors import CheckpointError
    from gan3d_core.io.checkpoint import checkpoint_file, load_checkpoint

    path = checkpoint_file(path)
    networks, card = load_checkpoint(path)
    if networks.config.kind != "lgan":
        raise CheckpointError(f"{path}: a {networks.config.kind} model has no shape autoencoder")
    return networks, card


def copy_networks(targets: dict[str, torch.nn.Module], source: GanNetworks, path) -> None:
    """Load each of ``targets`` (named as in a packed checkpoint) from ``source``: to start
    the autoencoder from it, or to keep its stages. The architecture must match."""
    from gan3d_core.errors import CheckpointError

    for name, target in targets.items():
        try:
            target.load_state_dict(getattr(source, name).state_dict())
        except (AttributeError, RuntimeError):
            theirs = source.config
            raise CheckpointError(
                f"{path}: its {name} has another architecture than this run's (latent_dim "
                f"{theirs.latent_dim}, generator widths {theirs.generator_widths}, "
                f"{theirs.num_classes} classes, implicit width {theirs.implicit_width}; "
                "give the run the same settings)"
            ) from None


def ensemble_image_heads(
    base: str | Path, others: list[str | Path]
) -> tuple[GanNetworks, dict[str, Any]]:
    """The staged model at ``base`` with the image heads of ``others`` beside its own, as
    members of one :class:`~gan3d_core.models.latent.ImageHeadEnsemble` that averages
    them; everything else is ``base``'s. The others must be heads for the same autoencoder
    and settings: trained with ``init_from=base``, the autoencoder and latent GAN kept and
    another ``seed``, so each saw its own jittered views. Its card lists each member's
    source and stage validation."""
    from gan3d_core.config import MAX_HEAD_MEMBERS
    from gan3d_core.errors import CheckpointError, UsageError

    networks, card = load_init_from(base)
    members = _head_members(networks)
    member_backbones = list(networks.config.head_backbones)
    backbones = networks.image_backbones()
    training = card["training"] = _section(card, "training")
    stages = training["stages"] = _section(training, "stages")
    head_record = stages["image_head"] = _section(stages, "image_head")
    records = head_record.get("members")  # the base is an ensemble already
    if not isinstance(records, list):
        records = [{"from": str(base), "validation": _head_validation(card)}]
    # what was measured of the base model (gan3d eval, the head's stage) was another head's
    validation = _section(_section(card, "metrics"), "validation")
    card["metrics"] = {
        "validation": {k: v for k, v in validation.items() if not k.startswith("image_head_")}
    }
    for path in others:
        other, other_card = load_init_from(path)
        if _head_settings(other.config) != _head_settings(networks.config):
            raise CheckpointError(f"{path}: its settings differ from {base}'s; its image head "
                                  "cannot join the ensemble")  # fmt: skip
        for name in STAGE_NETWORKS["autoencoder"]:
            if not _same_weights(getattr(other, name), getattr(networks, name)):
                raise CheckpointError(
                    f"{path}: its image head was trained on another autoencoder than {base}'s "
                    f"({name} differs); train it with --init-from {base} --autoencoder-steps 0"
                )
        renamed = {
            name: _backbone_name(name, backbone, backbones)
            for name, backbone in other.image_backbones().items()
        }
        members += _head_members(other)
        member_backbones += [renamed[name] for name in other.config.head_backbones]
        records.append({"from": str(path), "validation": _head_validation(other_card)})
    if len(members) > MAX_HEAD_MEMBERS:
        raise UsageError(
            f"an ensemble holds at most {MAX_HEAD_MEMBERS} image heads, not {len(members)}"
        )
    primary = networks.config.image_backbone
    mixed = tuple(member_backbones) if set(member_backbones) != {primary} else ()
    ensemble = GanNetworks(
        dataclasses.replace(networks.config, head_members=len(members), member_backbones=mixed)
    )
    state = {
        k: v
        for k, v in networks.state_dict().items()
        if not k.startswith(("image_head.", "other_backbones."))
    }
    used = set(member_backbones) - {primary}
    for name, backbone in backbones.items():
        if name in used:
            state |= {f"other_backbones.{name}.{k}": v for k, v in backbone.state_dict().items()}
    prefix = "image_head.members.{}." if len(members) > 1 else "image_head."
    for index, member in enumerate(members):
        state |= {prefix.format(index) + k: v for k, v in member.state_dict().items()}
    ensemble.load_state_dict(state)
    head_record["members"] = records
    return ensemble.eval(), card


def _backbone_name(
    name: str, backbone: torch.nn.Module, backbones: dict[str, torch.nn.Module]
) -> str:
    """The name under which a joining head's backbone enters ``backbones`` (the ensemble's,
    by name; added to): one of the same variant holding the same weights, else its own
    name or, where that is taken by other weights (blocks tuned with its head), the next
    free ``lite0_tunedN``."""
    variant = backbone_variant(name)
    for known, theirs in backbones.items():
        if backbone_variant(known) == variant and _same_weights(backbone, theirs):
            return known
    free = next(
        candidate
        for candidate in (name, *(f"{variant}_tuned{n if n > 1 else ''}" for n in range(1, 99)))
        if candidate not in backbones
    )
    backbones[free] = backbone
    return free


def _same_weights(theirs: torch.nn.Module, ours: torch.nn.Module) -> bool:
    """Whether two networks of one layout hold the same weights as stored: float16 rounds a
    weight by up to 2^-11 of itself and int8 (``gan3d pack --int8``) by up to half a step of
    its group's scale, at most the row's largest weight / 127 (a float16 scale rounded up:
    a hair more), so a packed copy is still the same network."""
    mine = ours.state_dict()
    for key, value in theirs.state_dict().items():
        other = mine[key]
        tolerance = 1e-3 * other.abs() + 1e-6
        if value.is_floating_point() and value.ndim >= 2:
            largest = torch.maximum(value.abs(), other.abs()).flatten(1).amax(1)
            step = (1 + 2**-9) / 127 * largest
            tolerance = tolerance + (0.5 * step).view(-1, *[1] * (value.ndim - 1))
        if not (value - other).abs().le(tolerance).all():
            return False
    return True


def _head_settings(config: ModelConfig) -> ModelConfig:
    """What must agree for image heads to join: everything but the parts the ensemble
    takes from its base alone (the bank, the implicit decoder), the member count and the
    backbones they read (each member keeps its own)."""
    return dataclasses.replace(
        config, head_members=1, bank_shapes=0, bank_views=0, implicit_width=0,
        image_backbone="lite0", member_backbones=(),
    )  # fmt: skip


def _head_members(networks: GanNetworks) -> list[torch.nn.Module]:
    head = networks.image_head
    return list(head.members) if networks.config.head_members > 1 else [head]


def _section(mapping: Any, key: str) -> dict[str, Any]:
    """``mapping[key]`` where both are dicts (a card read from a file), else {}."""
    value = mapping.get(key) if isinstance(mapping, dict) else None
    return value if isinstance(value, dict) else {}


def _head_validation(card: dict[str, Any]) -> dict[str, Any]:
    """The image head's validation figures in a staged model's card ({} if none): of its
    fine-tuning, if it was fine-tuned with its backbone."""
    stages = _section(_section(card, "training"), "stages")
    stage = "image_finetune" if "image_finetune" in stages else "image_head"
    return _section(_section(stages, stage), "validation")


def kept_stages(config: TrainConfig, source: GanNetworks | None) -> set[str]:
    """The stages taken from ``init_from`` as they are: those given 0 steps, and its
    implicit decoder when the autoencoder it works on is kept and none is trained."""
    if source is None:
        return set()
    steps = {
        "autoencoder": config.autoencoder_steps,
        "latent_gan": config.latent_gan_steps,
        "image_head": config.head_steps,
    }
    kept = {name for name, count in steps.items() if count == 0}
    if "autoencoder" in kept and not config.implicit_steps and source.implicit is not None:
        kept.add("implicit")
    return kept


def train_staged(
    config: TrainConfig,
    run_dir: str | Path,
    progress: ProgressHook | None = None,
    should_stop: StopHook | None = None,
    device: str = "auto",
    on_record: RecordHook | None = None,
    on_split: Callable[[VoxelDataset, VoxelDataset], None] | None = None,
) -> tuple[Path | None, dict[str, StageResult]]:
    """Run (or resume) every stage into ``run_dir``; the packed checkpoint's path (None when
    stopped early) and each stage's result (stages kept from ``init_from`` have none).
    ``on_record`` receives each stage's validation records (see :func:`run_stage`),
    ``on_split`` the training and validation shapes once the run has begun."""
    from gan3d_core.inference import resolve_device
    from gan3d_core.training.run import check_same_data, default_cache_dir

    device = resolve_device(device)
    run_dir = Path(run_dir)
    cache = Path(config.cache_dir) if config.cache_dir else default_cache_dir()
    dataset = load_dataset(config.data, config.resolution, cache_dir=cache / "voxels", up=config.up)
    train, validation = split_dataset(
        dataset, config.classes, config.limit, config.validation_fraction, config.split_seed
    )
    source, source_card = load_init_from(config.init_from) if config.init_from else (None, {})
    # only once the data and the checkpoint to start from are read: bad ones leave no run
    resumed = any(stage_state_path(run_dir, name).is_file() for name in STAGE_NAMES)
    data_sha256 = check_same_data(run_dir, config.data, (train, validation), resumed)
    write_bytes_atomic(run_dir / CONFIG_FILE, json.dumps(config.to_dict(), indent=2).encode())
    if on_split is not None:  # the run has begun: its data and start are read
        on_split(train, validation)
    kept = kept_stages(config, source)
    model_config = config.model_config(len(train.class_names))  # --classes: only those
    schedule = dict(validate_every=config.validate_every, checkpoint_every=config.checkpoint_every)
    results: dict[str, StageResult] = {}
    # with an implicit decoder to train, the other stages report in the first 70 %
    report = _stage_progress(progress, 0.0, 0.7) if config.implicit_steps else progress

    earlier_trained: list[str] = []  # stages that trained in this call, so far

    def run(stage, stage_schedule: StageSchedule, offset: float, share: float, hook=report) -> bool:
        """Train (or resume) one stage; False when asked to stop. A stage that finished in
        an earlier call trains again from its start when a stage before it trained on in
        this one (a resumed run given more autoencoder steps, say): it learned from that
        stage's old outputs."""
        progress_share = _stage_progress(hook, offset, share)
        state = stage_state_path(run_dir, stage.name)
        if earlier_trained and state.is_file():
            state.unlink()
            (run_dir / f"{stage.name}.log.jsonl").unlink(missing_ok=True)
            if progress_share is not None:
                progress_share(0.0, f"{stage.name}: again, as {earlier_trained[0]} trained on")
        results[stage.name] = run_stage(
            stage, run_dir, stage_schedule, progress_share, should_stop, on_record
        )
        if results[stage.name].reason != "already finished":
            earlier_trained.append(stage.name)
        return results[stage.name].reason != "stopped"

    trained: dict[str, torch.nn.Module] = {}  # networks of the packed model, by name

    # 1. shape autoencoder
    autoencoder = ShapeAutoencoderStage(
        model_config,
        (train.voxels, train.labels),
        (validation.voxels, validation.labels),
        batch_size=config.batch_size,
        learning_rate=config.lr_autoencoder,
        dice_weight=config.dice_weight,
        seed=config.seed,
        device=device,
        precision=config.precision,
        latent_noise=config.latent_noise,
        class_names=train.class_names,
    )
    if source is not None and not stage_state_path(run_dir, autoencoder.name).is_file():
        copy_networks(dict(autoencoder.networks.items()), source, config.init_from)
    if "autoencoder" in kept:
        autoencoder.networks.eval()  # as it is, its batch-norm statistics too
    else:
        if not run(autoencoder, StageSchedule(config.autoencoder_steps, **schedule), 0.0, 0.6):
            return None, results
        autoencoder.recalibrate()
        trained.update(autoencoder.networks.items())
    train_latents = autoencoder.encode(train.voxels)
    validation_latents = autoencoder.encode(validation.voxels)

    # 2. latent GAN
    if "latent_gan" not in kept:
        latent_gan = LatentGanStage(
            model_config,
            (train_latents, train.labels),
            (validation_latents, validation.labels),
            learning_rate=config.lr_latent_gan,
            seed=config.seed,
        )
        if not run(
            latent_gan,
            StageSchedule(config.latent_gan_steps, validate_every=1000, checkpoint_every=1000),
            0.6,
            0.05,
        ):
            return None, results
        trained.update(latent_gan.networks.items())

    # 3. image head on cached backbone features of rendered views, and the bank
    if "image_head" not in kept:
        parts = _train_image_head(
            config, model_config, (train, train_latents), (validation, validation_latents),
            autoencoder, run_dir, run, report, should_stop,
        )  # fmt: skip
        if parts is None:
            return None, results
        trained.update(parts)

    # 3b. optionally, the whole backbone fine-tuned with the head (its own copy)
    if config.head_finetune_steps:
        parts = _finetune_image_head(
            config, model_config, (train, train_latents), (validation, validation_latents),
            autoencoder, trained, source, run_dir, run, report, should_stop, device,
        )  # fmt: skip
        if parts is None:
            return None, results
        trained.update(parts)

    # 4. implicit decoder, on the autoencoder's generator
    if config.implicit_steps:
        implicit = ImplicitDecoderStage(
            model_config,
            autoencoder.networks["generator"],
            (train.voxels, train.labels, train_latents),
            (validation.voxels, validation.labels, validation_latents),
            batch_size=config.batch_size,
            learning_rate=config.lr_implicit,
            seed=config.seed,
            device=device,
        )
        implicit_schedule = StageSchedule(
            config.implicit_steps, validate_every=500, checkpoint_every=100
        )
        if not run(implicit, implicit_schedule, 0.7, 0.29, hook=progress):
            return None, results
        trained.update(implicit.networks.items())

    # 5. pack: what this run trained, and what it kept from init_from
    sizes = {"bank_shapes": len(train), "bank_views": config.rendered_views}
    if "image_head" in kept:  # with the backbones its members read (fine-tuned copies)
        names = (*sizes, "head_members", "member_backbones", "image_backbone")
        sizes = {name: getattr(source.config, name) for name in names}
    if "implicit" in kept:
        sizes["implicit_width"] = source.config.implicit_width
    if "other_backbones" in trained:  # one head, on its own fine-tuned backbone
        sizes |= {"head_members": 1, "member_backbones": tuple(trained["other_backbones"])}
    packed_config = dataclasses.replace(model_config, **sizes)
    networks = GanNetworks(packed_config)
    for name, module in trained.items():
        getattr(networks, name).load_state_dict(module.state_dict())
    copy_networks(
        {
            name: getattr(networks, name)
            for stage in kept
            for name in STAGE_NETWORKS[stage]
            # a kept head fine-tuned here is this run's; a model without others has none
            if name not in trained and getattr(networks, name) is not None
        },
        source,
        config.init_from,
    )
    card = staged_card(config, train, results, str(device), kept, source_card, data_sha256)
    path = save_checkpoint(run_dir / MODEL_FILE, networks.eval(), card)
    if progress is not None:
        progress(1.0, "packed the model")
    return path, results


def _train_image_head(
    config: TrainConfig,
    model_config,
    train_set: tuple[Any, np.ndarray],
    validation_set: tuple[Any, np.ndarray],
    autoencoder: ShapeAutoencoderStage,
    run_dir: Path,
    run: Callable[..., bool],
    progress: ProgressHook | None,
    should_stop: StopHook | None,
) -> dict[str, torch.nn.Module] | None:
    """Stage 3 and the bank: the backbone (its tuned blocks trained in place), the head and
    a filled :class:`RetrievalBank`, by name; None when asked to stop."""
    from gan3d_core.data.render import ring_views, view_cameras
    from gan3d_core.evaluation import EVAL_AZIMUTH_OFFSET

    (train, train_latents), (validation, validation_latents) = train_set, validation_set
    backbone = EfficientNetLite(config.head_backbone)
    backbone.load_state_dict(pretrained_state(config.head_backbone))
    train_inputs, validation_inputs = view_features(
        config, train.voxels, validation.voxels, backbone, run_dir, progress, should_stop
    )
    tuned = config.head_tuned_blocks
    backbone_top = BackboneTop(backbone, tuned) if tuned else None
    views = config.rendered_views
    # azimuth and elevation (N * V, 2) of the jittered training views
    train_cameras = view_cameras(len(train), views, True, config.seed)[..., :2].reshape(-1, 2)
    # the held-out shapes are seen as `gan3d eval` sees them: one ring view
    (eval_view,) = ring_views(1, azimuth_offset=EVAL_AZIMUTH_OFFSET)
    validation_cameras = np.tile(
        np.float32([eval_view.azimuth, eval_view.elevation]), (len(validation), 1)
    )
    head = ImageHeadStage(
        model_config,
        (train_inputs, train_latents, train.labels, train_cameras),
        (validation_inputs, validation_latents, validation.labels, validation_cameras,
         validation.voxels),
        decode=autoencoder.decode,
        learning_rate=config.lr_head,
        seed=config.seed,
        backbone_top=backbone_top,
        backbone_learning_rate=config.lr_tuned_blocks,
        precision=config.precision,
        shape_loss=(autoencoder.networks["generator"], train.voxels, config.head_shape_weight)
        if config.head_shape_weight > 0 else None,
        shape_views=config.head_shape_views,
    )  # fmt: skip
    if not run(
        head, StageSchedule(config.head_steps, validate_every=500, checkpoint_every=500), 0.92, 0.06
    ):
        return None
    train_features = head.pooled_features(train_inputs)
    bank = RetrievalBank(
        dataclasses.replace(model_config, bank_shapes=len(train), bank_views=views)
    )
    feature_mean, feature_basis = feature_pca(train_features, config.bank_feature_dim)
    prior_mean, prior_whitening = latent_prior(train_latents)
    with torch.no_grad():
        bank.latents.copy_(torch.from_numpy(train_latents))
        bank.labels.copy_(torch.from_numpy(train.labels))
        bank.feature_mean.copy_(torch.from_numpy(feature_mean))
        bank.feature_basis.copy_(torch.from_numpy(feature_basis))
        bank.view_features.copy_(bank.project(torch.from_numpy(train_features)))
        bank.view_cameras.copy_(torch.from_numpy(train_cameras))
        bank.prior_mean.copy_(torch.from_numpy(prior_mean))
        bank.prior_whitening.copy_(torch.from_numpy(prior_whitening))
    return {"image_backbone": backbone, "image_head": head.head, "bank": bank}


def _finetune_image_head(
    config: TrainConfig,
    model_config: ModelConfig,
    train_set: tuple[Any, np.ndarray],
    validation_set: tuple[Any, np.ndarray],
    autoencoder: ShapeAutoencoderStage,
    trained: dict[str, torch.nn.Module],
    source: GanNetworks | None,
    run_dir: Path,
    run: Callable[..., bool],
    progress: ProgressHook | None,
    should_stop: StopHook | None,
    device: torch.device,
) -> dict[str, torch.nn.Module] | None:
    """Stage 3b: the image head (this run's, or member ``head_finetune_member`` of the one
    kept from ``init_from``) and a copy of the backbone it reads, every layer trained on the
    rendered views; by name (``image_head``, ``other_backbones``); None when stopped."""
    import copy

    from gan3d_core.data.render import view_cameras
    from gan3d_core.training.image_finetune import ImageFinetuneStage

    (train, train_latents), (validation, validation_latents) = train_set, validation_set
    if "image_head" in trained:
        head, backbone = trained["image_head"], trained["image_backbone"]
    else:
        members = _head_members(source)
        index = config.head_finetune_member
        if index >= len(members):
            from gan3d_core.errors import UsageError

            raise UsageError(
                f"--head-finetune-member {index}: {config.init_from} has {len(members)} image "
                "head(s), numbered from 0"
            )
        head = members[index]
        backbone = source.image_backbones()[source.config.head_backbones[index]]
    head_config = dataclasses.replace(model_config, head_members=1, member_backbones=())
    tuned_head = ImageHead(head_config)
    tuned_head.load_state_dict(head.state_dict())
    train_images, validation_images = rendered_views(
        config, train.voxels, validation.voxels, progress, should_stop
    )
    views = config.rendered_views
    train_cameras = view_cameras(len(train), views, True, config.seed)[..., :2].reshape(-1, 2)
    stage = ImageFinetuneStage(
        model_config, copy.deepcopy(backbone), tuned_head, autoencoder.networks["generator"],
        (train_images, train_latents, train.labels, train_cameras, train.voxels),
        (validation_images, validation_latents, validation.labels, validation.voxels),
        backbone_learning_rate=config.lr_finetune_backbone, jitter=config.head_finetune_jitter,
        drop_path=config.head_finetune_drop_path,
        label_smoothing=config.head_finetune_label_smoothing, seed=config.seed, device=device,
        precision=config.precision,
    )  # fmt: skip
    schedule = StageSchedule(
        config.head_finetune_steps, validate_every=250, checkpoint_every=100, warmup_steps=100
    )
    if not run(stage, schedule, 0.92, 0.06):
        return None
    tuned_name = f"{backbone_variant(model_config.image_backbone)}_tuned"
    return {
        "image_head": stage.head.cpu(),
        "other_backbones": torch.nn.ModuleDict({tuned_name: stage.backbone.cpu()}),
    }


def staged_card(
    config: TrainConfig,
    train,
    results: dict[str, StageResult],
    device: str,
    kept: set[str] = frozenset(),
    source_card: dict[str, Any] | None = None,
    data_sha256: str | None = None,
) -> dict[str, Any]:
    """The packed model's card (``data_sha256``: which shapes it trained and validated on,
    see shapes_digest); a stage kept from ``init_from`` brings its record and
    validation figures from ``source_card``, and when every stage but the implicit decoder
    was kept, the figures measured on those networks (``gan3d pack --metrics``) stay."""

    counts = np.bincount(train.labels, minlength=len(train.class_names))
    stages = {
        name: {
            "steps": result.steps,
            "seconds": round(result.seconds, 1),
            "validation": result.validation,
        }
        for name, result in results.items()
    }
    source_stages = _section(_section(source_card, "training"), "stages")
    # a kept head brings its backbones' fine-tuning too, when it had one
    recorded = sorted(kept | ({"image_finetune"} if "image_head" in kept else set()))
    for name in recorded:
        if name in source_stages or name in kept:
            stages[name] = _section(source_stages, name) | {"kept_from": config.init_from}
    source_metrics = _section(source_card, "metrics")
    validation = {
        f"{name}_{key}": value
        for name, result in results.items()
        for key, value in result.validation.items()
        if key != "score" and not key.startswith("iou_class")
    } | {
        key: value
        for key, value in _section(source_metrics, "validation").items()
        if any(key.startswith(f"{name}_") for name in kept)
    }
    metrics = {"validation": validation}
    if {"autoencoder", "latent_gan", "image_head"} <= kept:
        metrics = source_metrics | metrics
    parts = "autoencoder, latent GAN, image head" + (
        ", implicit decoder" if "implicit" in stages else ""
    )
    return {
        "name": f"lgan {config.resolution}^3 (staged: {parts})",
        "class_names": list(train.class_names),
        "training": {
            "data": config.data,
            "shapes": len(train),
            "shapes_per_class": dict(zip(train.class_names, counts.tolist())),
            **({"data_sha256": data_sha256} if data_sha256 else {}),
            "stages": stages,
            "device": device,
            "settings": config.to_dict(),
        },
        # a kept head reads photos as it was packed to (gan3d pack --framing-shift)
        "inference": {
            key: value
            for key, value in inference_settings(source_card or {}).items()
            if key == "framing_shift" and "image_head" in kept
        }
        | {
            "refine_steps": config.refine_steps,
            "retrieval_candidates": config.retrieval_candidates,
        },
        "metrics": metrics,
    }

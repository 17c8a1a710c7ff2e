"""The staged recipe (``gan3d train --kind lgan``): each stage cheap on a CPU and resumable.

1. shape autoencoder (:mod:`~gan3d_core.training.shape_autoencoder`): 3D encoder and the
   3D-GAN generator as decoder, BCE + Dice;
2. latent GAN (:mod:`~gan3d_core.training.latent_gan`) on the autoencoder's latents;
3. image head (:mod:`~gan3d_core.training.image_head`) on frozen EfficientNet-Lite0
   features of rendered views, predicting latent, class and camera;
4. the retrieval bank and latent prior, then everything packed into one checkpoint. The
   silhouette fitting that uses them runs at reconstruction time (:mod:`gan3d_core.fitting`).

A run folder holds each stage's state file and log, the cached features and, once all
stages are done, ``model.safetensors``. Running again resumes the first unfinished stage.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan3d_core.data.datasets import load_dataset, split_dataset
from gan3d_core.io.atomic import write_bytes_atomic, write_npy_atomic
from gan3d_core.io.checkpoint import save_checkpoint
from gan3d_core.models import GanNetworks
from gan3d_core.models.backbone import BackboneTop, EfficientNetLite0, pretrained_lite0_state
from gan3d_core.training.config import TrainConfig
from gan3d_core.training.image_head import ImageHeadStage, backbone_features
from gan3d_core.training.latent_gan import LatentGanStage
from gan3d_core.training.shape_autoencoder import ShapeAutoencoderStage
from gan3d_core.training.stages import StageResult, StageSchedule, run_stage, stage_state_path
from gan3d_core.training.trainer import CONFIG_FILE, MODEL_FILE

STAGE_NAMES = ("autoencoder", "latent_gan", "image_head")
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
    """Mean (F,) and the top ``dim`` principal directions (F, dim) of features (M, F)."""
    mean = features.mean(0)
    _, _, components = np.linalg.svd(features - mean, full_matrices=False)
    return mean.astype(np.float32), components[:dim].T.astype(np.float32)


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
    ``head_spatial_channels`` (and a frozen backbone), its feature maps before pooling."""
    from gan3d_core.data.render import cached_render_views
    from gan3d_core.evaluation import EVAL_AZIMUTH_OFFSET
    from gan3d_core.training.run import default_cache_dir

    cache = Path(config.cache_dir) if config.cache_dir else default_cache_dir()
    size = config.image_size
    blocks = len(backbone._blocks) - config.head_tuned_blocks if config.head_tuned_blocks else None
    maps = blocks is None and config.head_spatial_channels > 0
    name = f"activations{blocks}" if blocks is not None else "maps" if maps else "features"
    train_images = cached_render_views(
        train_voxels, cache / "views", config.rendered_views, size, jitter=True,
        seed=config.seed, progress=_stage_progress(progress, 0.65, 0.1), should_stop=should_stop,
    )  # fmt: skip
    validation_images = cached_render_views(
        validation_voxels, cache / "views", 1, size, azimuth_offset=EVAL_AZIMUTH_OFFSET,
        progress=_stage_progress(progress, 0.75, 0.01), should_stop=should_stop,
    )  # fmt: skip
    train_features, validation_features = (
        _cached_features(
            run_dir / f"{name}_{subset}.npy",
            images.reshape(-1, size, size, 3),
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


def start_autoencoder_from(stage: ShapeAutoencoderStage, path: str | Path) -> None:
    """Fine-tuning: the autoencoder starts from a staged checkpoint's generator and shape
    encoder (e.g. the bundled model, to train its autoencoder longer); its optimizer and
    the later stages start afresh. The architecture must match."""
    from gan3d_core.errors import CheckpointError
    from gan3d_core.io.checkpoint import load_checkpoint
    from gan3d_core.training.trainer import checkpoint_path

    path = checkpoint_path(path)
    networks, _ = load_checkpoint(path)
    if networks.config.kind != "lgan":
        raise CheckpointError(f"{path}: a {networks.config.kind} model has no shape autoencoder")
    try:
        for name in ("generator", "shape_encoder"):
            stage.networks[name].load_state_dict(getattr(networks, name).state_dict())
    except RuntimeError:
        theirs, ours = networks.config, stage.config
        raise CheckpointError(
            f"{path}: its autoencoder has another architecture than this run's "
            f"(latent_dim {theirs.latent_dim}, generator widths {theirs.generator_widths}, "
            f"{theirs.num_classes} classes; the run: {ours.latent_dim}, "
            f"{ours.generator_widths}, {ours.num_classes})"
        ) from None


def train_staged(
    config: TrainConfig,
    run_dir: str | Path,
    progress: ProgressHook | None = None,
    should_stop: StopHook | None = None,
    device: str = "auto",
) -> tuple[Path | None, dict[str, StageResult]]:
    """Run (or resume) every stage into ``run_dir``; the packed checkpoint's path (None when
    stopped early) and each stage's result."""
    from gan3d_core.data.render import ring_views, view_cameras
    from gan3d_core.evaluation import EVAL_AZIMUTH_OFFSET
    from gan3d_core.inference import resolve_device
    from gan3d_core.training.run import default_cache_dir

    device = resolve_device(device)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(run_dir / CONFIG_FILE, json.dumps(config.to_dict(), indent=2).encode())
    cache = Path(config.cache_dir) if config.cache_dir else default_cache_dir()
    dataset = load_dataset(config.data, config.resolution, cache_dir=cache / "voxels")
    train, validation = split_dataset(
        dataset, config.classes, config.limit, config.validation_fraction, config.split_seed
    )
    model_config = config.model_config(len(dataset.class_names))
    schedule = dict(validate_every=config.validate_every, checkpoint_every=config.checkpoint_every)
    results: dict[str, StageResult] = {}

    def run(stage, stage_schedule: StageSchedule, offset: float, share: float) -> bool:
        """Train (or resume) one stage; False when asked to stop."""
        progress_share = _stage_progress(progress, offset, share)
        results[stage.name] = run_stage(stage, run_dir, stage_schedule, progress_share, should_stop)
        return results[stage.name].reason != "stopped"

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
    )
    if config.init_from and not stage_state_path(run_dir, autoencoder.name).is_file():
        start_autoencoder_from(autoencoder, config.init_from)
    if not run(autoencoder, StageSchedule(config.autoencoder_steps, **schedule), 0.0, 0.6):
        return None, results
    autoencoder.recalibrate()
    train_latents = autoencoder.encode(train.voxels)
    validation_latents = autoencoder.encode(validation.voxels)

    # 2. latent GAN
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

    # 3. image head on cached backbone features of rendered views
    backbone = EfficientNetLite0()
    backbone.load_state_dict(pretrained_lite0_state())
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
    )  # fmt: skip
    if not run(
        head, StageSchedule(config.head_steps, validate_every=500, checkpoint_every=500), 0.92, 0.06
    ):
        return None, results

    # 4. bank, prior, pack (the backbone's tuned blocks were trained in place)
    train_features = head.pooled_features(train_inputs)
    packed_config = dataclasses.replace(model_config, bank_shapes=len(train), bank_views=views)
    networks = GanNetworks(packed_config)
    networks.generator.load_state_dict(autoencoder.networks["generator"].state_dict())
    networks.shape_encoder.load_state_dict(autoencoder.networks["shape_encoder"].state_dict())
    networks.latent_sampler.load_state_dict(latent_gan.networks["latent_sampler"].state_dict())
    networks.latent_critic.load_state_dict(latent_gan.networks["latent_critic"].state_dict())
    networks.image_backbone.load_state_dict(backbone.state_dict())
    networks.image_head.load_state_dict(head.head.state_dict())
    feature_mean, feature_basis = feature_pca(train_features, config.bank_feature_dim)
    prior_mean, prior_whitening = latent_prior(train_latents)
    bank = networks.bank
    with torch.no_grad():
        bank.latents.copy_(torch.from_numpy(train_latents))
        bank.labels.copy_(torch.from_numpy(train.labels))
        bank.feature_mean.copy_(torch.from_numpy(feature_mean))
        bank.feature_basis.copy_(torch.from_numpy(feature_basis))
        bank.view_features.copy_(bank.project(torch.from_numpy(train_features)))
        bank.view_cameras.copy_(torch.from_numpy(train_cameras))
        bank.prior_mean.copy_(torch.from_numpy(prior_mean))
        bank.prior_whitening.copy_(torch.from_numpy(prior_whitening))
    path = save_checkpoint(
        run_dir / MODEL_FILE, networks.eval(), staged_card(config, train, results, str(device))
    )
    if progress is not None:
        progress(1.0, "packed the model")
    return path, results


def staged_card(
    config: TrainConfig, train, results: dict[str, StageResult], device: str
) -> dict[str, Any]:
    counts = np.bincount(train.labels, minlength=len(train.class_names))
    return {
        "name": f"lgan {config.resolution}^3 (staged: autoencoder, latent GAN, image head)",
        "class_names": list(train.class_names),
        "training": {
            "data": config.data,
            "shapes": len(train),
            "shapes_per_class": dict(zip(train.class_names, counts.tolist())),
            "stages": {
                name: {
                    "steps": result.steps,
                    "seconds": round(result.seconds, 1),
                    "validation": result.validation,
                }
                for name, result in results.items()
            },
            "device": device,
            "settings": config.to_dict(),
        },
        "inference": {
            "refine_steps": config.refine_steps,
            "retrieval_candidates": config.retrieval_candidates,
        },
        "metrics": {
            "validation": {
                f"{name}_{key}": value
                for name, result in results.items()
                for key, value in result.validation.items()
                if key != "score" and not key.startswith("iou_class")
            }
        },
    }

"""Model evaluation behind ``gan3d eval``: reconstruction, generation, classification.

Every function returns a JSON-ready dict with overall figures and a ``per_class`` breakdown.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gan3d_core.data.datasets import VoxelDataset
from gan3d_core.errors import InputFileError, UsageError
from gan3d_core.inference import GanModel
from gan3d_core.io.card import refine_steps
from gan3d_core.metrics import (
    iou,
    mean_pairwise_iou,
    mmd_and_coverage,
    occupancy_jsd,
    one_nna,
    pairwise_iou,
    ssim3d,
)

ProgressHook = Callable[[float, str], None]
# Evaluation cameras sit between the training ring's azimuths (multiples of 30 degrees):
# a 3/4 view for one view, a ring offset by 45 degrees for more.
EVAL_AZIMUTH_OFFSET = 45.0


def evaluation_views(
    dataset: VoxelDataset,
    views: int,
    image_size: int,
    cache_dir: str | os.PathLike | None = None,
    progress: ProgressHook | None = None,
) -> np.ndarray:
    """Ring views of every shape, uint8 (N, views, S, S, 3), rendered with the training renderer."""
    from gan3d_core.data.render import cached_render_views, render_views

    settings = dict(
        views_per_shape=views,
        image_size=image_size,
        azimuth_offset=EVAL_AZIMUTH_OFFSET,
        progress=progress,
    )
    if cache_dir is None:
        return render_views(dataset.voxels, **settings)
    return cached_render_views(dataset.voxels, cache_dir, **settings)


def _mean(values: np.ndarray) -> float:
    """Mean over the defined (non-NaN) values, rounded; NaN when there are none."""
    defined = values[~np.isnan(values)]
    return round(float(defined.mean()), 4) if len(defined) else float("nan")


def _per_class(dataset: VoxelDataset, values: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    table = {}
    for index, name in enumerate(dataset.class_names):
        members = dataset.labels == index
        if members.any():
            table[name] = {"n": int(members.sum())} | {
                key: _mean(v[members]) for key, v in values.items()
            }
    return table


def nearest_shape_iou(
    dataset: VoxelDataset, reference: VoxelDataset, chunk: int = 256
) -> np.ndarray:
    """For each shape, its IoU with the most similar ``reference`` shape of its class (NaN
    where the reference has no shape of that class).

    Picking that shape needs the answer, so no reconstruction method that copies training
    shapes does better: read against it, an IoU target says how much a model must generalise
    beyond its training set (Tatarchenko et al. 2019, "What do single-view 3D reconstruction
    networks learn?"). ``chunk`` reference shapes are compared at a time (memory).
    """
    best = np.full(len(dataset), np.nan)
    for index, name in enumerate(dataset.class_names):
        members = np.flatnonzero(dataset.labels == index)
        if name not in reference.class_names or len(members) == 0:
            continue
        pool = np.flatnonzero(reference.labels == reference.class_names.index(name))
        if len(pool) == 0:
            continue
        shapes = dataset.voxels[members]
        best[members] = np.max(
            [
                pairwise_iou(shapes, reference.voxels[pool[start : start + chunk]]).max(axis=1)
                for start in range(0, len(pool), chunk)
            ],
            axis=0,
        )
    return best


def evaluate_reconstruction(
    model: GanModel,
    dataset: VoxelDataset,
    views: int = 1,
    pool: str | None = None,
    labels: str = "auto",
    cache_dir: str | os.PathLike | None = None,
    progress: ProgressHook | None = None,
    training_shapes: VoxelDataset | None = None,
    refine: int | None = None,
) -> dict:
    """Render ``views`` views of each shape, reconstruct it, compare with the shape.

    ``labels`` (conditional models): ``auto`` lets the model pick the class as for a user's
    photo; ``given`` decodes with the true class. With ``training_shapes``, the results add
    ``nearest_training_shape_iou`` (:func:`nearest_shape_iou`) for scale and two
    baselines on the same shapes and views: ``class_average_iou`` (the mean training shape
    of the true class, no image used) and, for models with a retrieval bank of exactly
    those training shapes, ``retrieval_iou`` (the training shape whose rendered view is
    nearest in frozen ImageNet features). ``refine``: silhouette-fitting steps of staged
    models (None: the model card's default).
    """
    if not model.config.can_reconstruct:
        raise InputFileError(f"{model.path}: a {model.config.kind} model has no image encoder")
    if labels not in ("auto", "given"):
        raise UsageError(f"labels must be auto or given, got {labels!r}")

    def stage(offset: float, share: float):
        if progress is None:
            return None
        return lambda fraction, message: progress(offset + share * fraction, message)

    images = evaluation_views(dataset, views, model.config.image_size, cache_dir, stage(0.0, 0.5))
    predictions = np.empty(dataset.voxels.shape, np.float32)
    predicted_labels = np.full(len(dataset), -1)
    retrieved = np.full(len(dataset), -1)
    can_retrieve = training_shapes is not None and _bank_matches(model, training_shapes)
    started = time.perf_counter()
    for index in range(len(dataset)):
        label = None
        if model.config.conditional and labels == "given":
            label = int(dataset.labels[index])
        found = model.reconstruct_latent(list(images[index]), pool, label, refine)
        predictions[index] = model.decode(found.latent[None], labels=found.label)[0]
        if found.label is not None:
            predicted_labels[index] = found.label
        if can_retrieve:
            features = torch.from_numpy(found.features).to(model.device)
            shapes, _ = model.networks.bank.nearest_shapes(features, 1)
            retrieved[index] = int(shapes[0])
        if progress is not None:
            progress(
                0.5 + 0.5 * (index + 1) / len(dataset),
                f"reconstructed {index + 1} of {len(dataset)}",
            )
    seconds = (time.perf_counter() - started) / max(1, len(dataset))
    targets = dataset.voxels.astype(np.float32)
    values = {
        "iou": iou(predictions, targets),
        "iou@0.4": iou(predictions, targets, threshold=0.4),
        "ssim": ssim3d(predictions, targets),
    }
    if model.config.conditional and labels == "auto":
        values["class_accuracy"] = (predicted_labels == dataset.labels).astype(np.float64)
    if training_shapes is not None:
        values["nearest_training_shape_iou"] = nearest_shape_iou(dataset, training_shapes)
        values["class_average_iou"] = iou(class_average_shapes(dataset, training_shapes), targets)
        if can_retrieve:
            retrieval = training_shapes.voxels[retrieved].astype(np.float32)
            values["retrieval_iou"] = iou(retrieval, targets)
    return {
        "task": "recon",
        "n": len(dataset),
        "views": views,
        "pool": pool or model.config.pool,
        "labels": labels if model.config.conditional else "none",
        "refine": refine if refine is not None else refine_steps(model.card),
        **{key: _mean(v) for key, v in values.items()},
        "seconds_per_shape": round(seconds, 3),
        "per_class": _per_class(dataset, values),
    }


def evaluate_autoencoding(
    model: GanModel,
    dataset: VoxelDataset,
    labels: str = "auto",
    steps: int | None = None,
    progress: ProgressHook | None = None,
) -> dict:
    """Encode each shape with the model's shape encoder and ``steps`` fitting steps
    (:meth:`GanModel.encode_shapes`; None: its default, 0: the encoder alone), decode it,
    compare with the shape. ``labels`` (conditional models): ``auto`` lets the model pick
    the class, ``given`` decodes with the true one."""
    from gan3d_core.fitting import VoxelFitSettings

    if labels not in ("auto", "given"):
        raise UsageError(f"labels must be auto or given, got {labels!r}")
    given = model.config.conditional and labels == "given"
    started = time.perf_counter()
    encoded = model.encode_shapes(
        dataset.voxels, dataset.labels if given else None, steps, progress
    )
    seconds = (time.perf_counter() - started) / max(1, len(dataset))
    targets = dataset.voxels.astype(np.float32)
    values = {"iou": encoded.iou, "iou@0.4": iou(encoded.shapes, targets, threshold=0.4)}
    if model.config.conditional and not given:
        values["class_accuracy"] = (encoded.labels == dataset.labels).astype(np.float64)
    return {
        "task": "autoencode",
        "n": len(dataset),
        "labels": labels if model.config.conditional else "none",
        "refine": VoxelFitSettings().steps if steps is None else steps,
        **{key: _mean(v) for key, v in values.items()},
        "seconds_per_shape": round(seconds, 3),
        "per_class": _per_class(dataset, values),
    }


def class_average_shapes(dataset: VoxelDataset, reference: VoxelDataset) -> np.ndarray:
    """For each shape, the mean occupancy (R, R, R) of the ``reference`` shapes of its class
    (an empty grid where the reference has none): the baseline that uses no image at all.
    Thresholded at 0.5, it is the class's average shape."""
    out = np.zeros(dataset.voxels.shape, np.float32)
    for index, name in enumerate(dataset.class_names):
        members = dataset.labels == index
        if name in reference.class_names and members.any():
            pool = reference.voxels[reference.labels == reference.class_names.index(name)]
            if len(pool):
                out[members] = pool.mean(axis=0, dtype=np.float32)
    return out


def _bank_matches(model: GanModel, training_shapes: VoxelDataset) -> bool:
    """Whether the model's retrieval bank indexes exactly these training shapes (the same
    split), so that retrieval by image features can be scored with their voxels."""
    bank = getattr(model.networks, "bank", None)
    return bank is not None and bool(
        len(bank.labels) == len(training_shapes)
        and np.array_equal(bank.labels.cpu().numpy(), training_shapes.labels)
    )


REAL_SHAPE_DRAWS = 5  # draws of real shapes averaged for generation's baseline


def evaluate_generation(
    model: GanModel,
    dataset: VoxelDataset,
    samples_per_class: int | None = None,
    seed: int = 0,
    training_shapes: VoxelDataset | None = None,
) -> dict:
    """Samples per class against the dataset's shapes of that class (one set for
    unconditional models): MMD, coverage, 1-NNA, occupancy JSD and sample diversity.

    With ``training_shapes``, the same coverage and 1-NNA for as many real training shapes
    drawn in the samples' place (``training_shapes_*``, the mean of
    :data:`REAL_SHAPE_DRAWS` draws): what real shapes score on these measures, for scale
    (coverage of equally many shapes is far below 1 even for the data itself)."""
    rng = np.random.default_rng(seed)
    groups: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {}
    too_few = []  # classes with fewer than two shapes: coverage and 1-NNA compare pairs
    if model.config.conditional:
        for index, name in enumerate(dataset.class_names):
            reference = dataset.voxels[dataset.labels == index]
            if len(reference) < 2:
                too_few += [name] if len(reference) else []
                continue
            count = samples_per_class or len(reference)
            label = model.label_index(name)
            latents = model.sample_latents(count, seed=seed + index, labels=label)
            real = None
            if training_shapes is not None:
                real = training_shapes.voxels[training_shapes.labels == index]
            groups[name] = (model.decode(latents, labels=label), reference, real)
    else:
        count = samples_per_class or len(dataset)
        real = None if training_shapes is None else training_shapes.voxels
        groups["all"] = (model.decode(model.sample_latents(count, seed=seed)), dataset.voxels, real)
    if not groups:
        raise UsageError(
            f"{dataset.source or 'the data'}: no class has two shapes to compare samples with "
            f"({len(dataset)} shapes); give more (--limit)"
        )
    per_class = {}
    for name, (samples, reference, real) in groups.items():
        reference = reference.astype(np.float32)
        per_class[name] = {
            "n": len(reference),
            **{k: round(v, 4) for k, v in mmd_and_coverage(samples, reference).items()},
            "1-nna": round(one_nna(samples, reference), 4),
            "jsd": round(occupancy_jsd(samples, reference), 4),
            "samples_pairwise_iou": round(mean_pairwise_iou(samples), 4),
            "data_pairwise_iou": round(mean_pairwise_iou(reference), 4),
        }
        if real is not None and len(real) > 0:
            per_class[name].update(_real_shape_scores(real, reference, len(samples), rng))
    rows = list(per_class.values())
    keys = [k for k in (rows[0] if rows else {}) if k != "n" and all(k in row for row in rows)]
    overall = {k: round(float(np.mean([row[k] for row in rows])), 4) for k in keys}
    measured = sum(row["n"] for row in per_class.values())
    result = {"task": "gen", "n": measured, **overall, "per_class": per_class}
    if too_few:
        result["classes_left_out"] = too_few  # with one shape each
    return result


def _real_shape_scores(
    real: np.ndarray, reference: np.ndarray, count: int, rng: np.random.Generator
) -> dict[str, float]:
    """Coverage and 1-NNA of ``count`` shapes drawn from ``real`` in place of samples."""
    scores = []
    for _ in range(REAL_SHAPE_DRAWS):
        drawn = real[rng.choice(len(real), count, replace=count > len(real))].astype(np.float32)
        scores.append((mmd_and_coverage(drawn, reference)["coverage"], one_nna(drawn, reference)))
    coverage, nna = np.mean(scores, axis=0)
    return {"training_shapes_coverage": round(float(coverage), 4),
            "training_shapes_1-nna": round(float(nna), 4)}  # fmt: skip


@torch.inference_mode()
def discriminator_features(model: GanModel, voxels: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """3D-GAN classification features: every hidden discriminator layer after the first,
    max-pooled to 2^3 and concatenated -> float32 (N, F).

    A conditional discriminator expects a class; features are averaged over all classes so
    the true label is never used.
    """
    discriminator = model.networks.discriminator
    if model.config.kind == "lgan":  # the staged model: its shape encoder's features instead
        return shape_encoder_features(model, voxels, batch_size)
    if discriminator is None:
        raise UsageError(
            f"{model.path}: trained on silhouettes alone, this model has no 3D network to "
            "take classification features from"
        )
    class_count = model.config.num_classes if model.config.conditional else 1
    features = []
    for start in range(0, len(voxels), batch_size):
        batch = torch.from_numpy(np.asarray(voxels[start : start + batch_size], np.float32)).to(
            model.device
        )
        total = None
        for label in range(class_count):
            labels = None
            if model.config.conditional:
                labels = torch.full((len(batch),), label, dtype=torch.long, device=model.device)
            layers = discriminator.features(batch, labels)[1:]
            pooled = torch.cat([F.adaptive_max_pool3d(a, 2).flatten(1) for a in layers], dim=1)
            total = pooled if total is None else total + pooled
        features.append((total / class_count).float().cpu().numpy())
    return np.concatenate(features)


@torch.inference_mode()
def shape_encoder_features(model: GanModel, voxels: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """The staged model's counterpart of :func:`discriminator_features`: every hidden layer
    of its 3D shape encoder after the first, max-pooled to 2^3, and the latent -> (N, F)."""
    features = []
    for start in range(0, len(voxels), batch_size):
        x = torch.from_numpy(np.asarray(voxels[start : start + batch_size], np.float32))
        x = x[:, None].to(model.device)  # (B, 1, R, R, R)
        pooled = []
        layers = list(model.networks.shape_encoder.layers)
        for layer, following in zip(layers, [*layers[1:], None]):
            x = layer(x)
            if isinstance(following, torch.nn.Conv3d):  # the last layer at one resolution
                pooled.append(F.adaptive_max_pool3d(x, 2).flatten(1))
        features.append(torch.cat([*pooled[1:], x.flatten(1)], dim=1).float().cpu().numpy())
    return np.concatenate(features)


def evaluate_classification(model: GanModel, train: VoxelDataset, test: VoxelDataset) -> dict:
    """Linear SVM on discriminator features of ``train``, accuracy on ``test``."""
    try:
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import LinearSVC
    except ImportError:
        raise InputFileError(
            "classification needs scikit-learn: pip install 'gan3d-studio[train]'"
        ) from None
    if train.class_names != test.class_names:
        raise InputFileError("--train and --data must have the same class names")
    classifier = make_pipeline(StandardScaler(), LinearSVC(C=0.01, max_iter=5000))
    classifier.fit(discriminator_features(model, train.voxels), train.labels)
    predicted = classifier.predict(discriminator_features(model, test.voxels))
    correct = (predicted == test.labels).astype(np.float64)
    return {
        "task": "classify",
        "n": len(test),
        "n_train": len(train),
        "accuracy": round(float(correct.mean()), 4),
        "per_class": _per_class(test, {"accuracy": correct}),
    }


def load_eval_dataset(
    path: str | Path,
    resolution: int,
    subset: str = "all",
    split: dict | None = None,
    limit: int | None = None,
    folder_split: str = "test",
    classes: list[str] | None = None,
    up: str = "auto",
    trained_on: str | None = None,
) -> VoxelDataset:
    """The shapes to evaluate on. ``subset`` ``train`` or ``validation`` re-creates a
    training run's split from ``split`` (classes, limit, validation_fraction, split_seed, as
    stored in the model card), refused when ``trained_on`` (the card's ``data_sha256``)
    says the data are not the shapes the run split: another split of other shapes would
    hold shapes the model trained on. ``classes`` (a model's, when the data holds more)
    keeps those, in that order; ``limit`` then caps the number of shapes evaluated.
    ``folder_split`` picks train or test of a ModelNet-style folder tree, ``up`` the up
    axis of a folder's files (see :func:`~gan3d_core.data.datasets.load_dataset`)."""
    from gan3d_core.data.datasets import (
        load_dataset,
        shapes_digest,
        split_dataset,
        stratified_limit,
    )

    if subset not in ("all", "train", "validation"):
        raise UsageError(f"subset must be all, train or validation, got {subset!r}")
    dataset = load_dataset(path, resolution, split=folder_split, up=up)
    if subset != "all":
        split = split or {}
        train, validation = split_dataset(
            dataset,
            split.get("classes"),
            split.get("limit"),
            split.get("validation_fraction", 0.1),
            split.get("split_seed", 0),
        )
        if trained_on is not None and shapes_digest((train, validation)) != trained_on:
            raise InputFileError(
                f"{path}: its shapes are not those the model was trained on (read with up "
                f"axis {up}); its --subset {subset} would hold other shapes. Give the "
                "training data as it was, or --subset all"
            )
        dataset = validation if subset == "validation" else train
    if (
        classes
        and dataset.class_names != list(classes)
        and set(classes) <= set(dataset.class_names)
    ):
        dataset = dataset.select_classes(list(classes))
    if limit is not None:
        dataset = dataset.subset(stratified_limit(dataset.labels, limit))
    return dataset

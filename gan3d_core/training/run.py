"""From a :class:`TrainConfig` to a trained run folder: data, views, trainer, resume, DDP."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.distributed as dist

try:
    import fcntl
except ImportError:  # Windows: runs are not locked there
    fcntl = None

from gan3d_core.data.datasets import VoxelDataset, load_dataset, shapes_digest, split_dataset
from gan3d_core.errors import CheckpointError, InputFileError, UsageError, first_line
from gan3d_core.io.atomic import write_bytes_atomic
from gan3d_core.io.checkpoint import (
    checkpoint_file,
    config_differences,
    read_model_config,
    run_states,
)
from gan3d_core.training.config import TrainConfig
from gan3d_core.training.trainer import (
    CONFIG_FILE,
    MODEL_FILE,
    STATE_FILE,
    Trainer,
    TrainerCallback,
    TrainingData,
)

ProgressHook = Callable[[float, str], None]
DATA_DIGEST_FILE = "data.sha256"  # see check_same_data
RUN_LOCK_FILE = ".gan3d-train.lock"  # see run_folder_lock
# What a staged run's autoencoder (its generator and shape encoder) is built from: an
# --init-from checkpoint must agree on these (models/generator.py, models/shape_encoder.py)
AUTOENCODER_FIELDS = frozenset(
    {"resolution", "latent_dim", "generator_widths", "discriminator_widths", "residual_convs",
     "generator_dropout", "label_embedding_dim"}
)  # fmt: skip


def default_cache_dir() -> Path:
    return Path(os.environ.get("GAN3D_CACHE", Path.home() / ".cache" / "gan3d"))


def check_same_data(
    run_dir: Path, data: str, splits: Sequence[TrainingData | VoxelDataset], resume: bool
) -> str:
    """Record the shapes a run trains and validates on (a digest of their grids, classes
    and split) when it starts; a resumed run refuses shapes that changed since, in one
    line: its weights, its split and its card are of the shapes it began on. A run folder
    without the record (from an older gan3d) resumes unchecked, and is recorded from then.
    Every process of a distributed run checks; only the first writes. Returns the digest
    (the model card keeps it too, for ``gan3d eval --subset``)."""
    digest = shapes_digest(splits)
    path = run_dir / DATA_DIGEST_FILE
    if resume and path.is_file():
        if path.read_text().strip() != digest:
            raise InputFileError(
                f"{data}: its shapes are not those {run_dir} began training on (changed "
                "since, or other data); resume it on those, or start another run (-o)"
            )
        return digest
    if not dist.is_initialized() or dist.get_rank() == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, digest.encode())
    return digest


def prepare_data(
    config: TrainConfig,
    progress: ProgressHook | None = None,
    on_split: Callable[[VoxelDataset, VoxelDataset], None] | None = None,
) -> tuple[TrainingData, TrainingData]:
    """Load, filter and split the shapes; render views for models with an encoder.

    The validation split is stratified by class with ``split_seed`` and never trained on.
    Training views are rendered with random jitter (when ``render_jitter``), validation
    views on the plain ring, both cached under ``cache_dir``; the training views' cameras
    come with them (for the silhouette loss).
    """
    cache = Path(config.cache_dir) if config.cache_dir else default_cache_dir()
    dataset = load_dataset(config.data, config.resolution, cache_dir=cache / "voxels", up=config.up)
    train_set, validation_set = split_dataset(
        dataset, config.classes, config.limit, config.validation_fraction, config.split_seed
    )
    if len(train_set) == 0:
        raise InputFileError(f"{config.data}: no shapes left to train on")
    # a model the data cannot make (a cvaegan of one class), and (on_split) a resumed run's
    # data that changed, are refused before minutes of rendering
    try:
        config.model_config(len(train_set.class_names))
    except UsageError as exc:
        classes = ", ".join(train_set.class_names)
        raise InputFileError(
            f"{config.data}: {first_line(exc)} (its shapes{' of --classes' if config.classes else ''}"
            f" are of {classes})"
        ) from None
    if on_split is not None:
        on_split(train_set, validation_set)
    train = TrainingData(
        train_set.voxels,
        train_set.labels,
        train_set.class_names,
        skipped_empty=dataset.skipped_empty,
    )
    validation = TrainingData(
        validation_set.voxels, validation_set.labels, validation_set.class_names
    )
    if config.kind != "gan":
        from gan3d_core.data.render import cached_render_views, view_cameras

        def stage(offset: float, share: float, name: str):
            if progress is None:
                return None
            return lambda fraction, message: progress(
                offset + share * fraction, f"{name}: {message}"
            )

        share = len(train) / max(len(train) + len(validation), 1)
        train.views = cached_render_views(
            train.voxels, cache / "views", config.rendered_views, config.image_size,
            jitter=config.render_jitter, seed=config.seed, progress=stage(0.0, share, "train views"),
        )  # fmt: skip
        train.cameras = view_cameras(
            len(train), config.rendered_views, config.render_jitter, config.seed
        )
        validation.views = cached_render_views(
            validation.voxels, cache / "views", config.rendered_views, config.image_size,
            jitter=False, progress=stage(share, 1.0 - share, "validation views"),
        )  # fmt: skip
    return train, validation


def same_data_check(run_dir: str | os.PathLike, config: TrainConfig, resume: bool):
    """For :func:`prepare_data`'s ``on_split``: a resumed run's :func:`check_same_data`,
    or None."""
    if not resume:
        return None
    return lambda train, validation: check_same_data(
        Path(run_dir), config.data, (train, validation), resume=True
    )


def split_words(train, validation, fraction: float) -> str:
    """The split a run trains on (datasets, or TrainingData), in a line: with few shapes a
    class keeps one back however small the fraction, so the share held out is said as it
    came out."""
    count = len(train.class_names)
    classes = f"{count} class{'es' if count != 1 else ''}"
    if validation is None or len(validation) == 0:
        return f"{len(train):,} shapes of {classes} to train on, none held out"
    share = len(validation) / (len(train) + len(validation))
    return (
        f"{len(train):,} shapes of {classes} to train on, {len(validation):,} held out "
        f"for validation ({share:.0%}; --validation-fraction {fraction:g} of each class, at "
        "least one)"
    )


def init_distributed() -> tuple[int, int]:
    """Join the process group that torchrun describes in the environment (rank, world)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or (dist.is_available() and dist.is_initialized()):
        return (dist.get_rank(), dist.get_world_size()) if world > 1 else (0, 1)
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    return dist.get_rank(), dist.get_world_size()


def train_run(
    config: TrainConfig,
    run_dir: str | os.PathLike,
    resume: bool = False,
    callbacks: Sequence[TrainerCallback] = (),
    should_stop: Callable[[], bool] | None = None,
    device: str = "auto",
    data: tuple[TrainingData, TrainingData] | None = None,
    progress: ProgressHook | None = None,
) -> Trainer:
    """Train ``config`` into ``run_dir`` (continuing it with ``resume``) and return the trainer."""
    run_dir = Path(run_dir)
    if resume and not (run_dir / STATE_FILE).is_file():
        raise InputFileError(f"{run_dir}: nothing to resume (no {STATE_FILE})")
    check_run_folder(run_dir, resume)
    if not resume:
        check_init_from(config)  # before minutes of rendering
    if data is None:
        data = prepare_data(config, progress, same_data_check(run_dir, config, resume))
    train, validation = data
    if torch.cuda.is_available() and dist.is_initialized() and device == "auto":
        device = f"cuda:{torch.cuda.current_device()}"
    trainer = Trainer(config, train, validation, run_dir, callbacks, device)
    # recorded once the settings are accepted (checked again: data may come prepared); the
    # card states the same digest
    trainer.data_digest = check_same_data(run_dir, config.data, (train, validation), resume)
    if resume:
        trainer.resume()
    elif config.init_from:
        trainer.initialise_from(config.init_from)
    trainer.fit(should_stop)
    return trainer


def check_run_folder(run_dir: str | os.PathLike, resume: bool) -> None:
    """Before any work, a new run refuses a folder that holds one, of either family (an
    end-to-end run's state, a staged run's stage states, a model): training over it
    replaced that run's model. Settings alone (a run that failed before its first save
    writes them) are no run: a new one may start there."""
    if resume:
        return  # its own settings were read from it; each family then finds its state
    run_dir = Path(run_dir)
    held = [run_dir / MODEL_FILE] if (run_dir / MODEL_FILE).exists() else []
    held += run_states(run_dir)
    if held:
        raise InputFileError(
            f"{run_dir}: holds a run already ({held[0].name}); pass --resume or choose "
            "another --out"
        )


@contextmanager
def run_folder_lock(run_dir: str | os.PathLike, take: bool = True) -> Iterator[None]:
    """Hold the run folder for one ``gan3d train`` while it runs: a second one started into
    it is refused (two runs in one folder both finished, each over the other's files). The
    lock is the system's (flock) on a hidden file that stays, so a killed run holds nothing
    (and no run can lock a file another has just deleted); folders made for it go again if
    the run leaves nothing in them (bad data are refused with no run folder). ``take``:
    False for torchrun's other processes; where the system or the file system has no locks
    (Windows, some NFS) a run goes on unlocked."""
    if not take or fcntl is None:
        yield
        return
    run_dir = Path(run_dir)
    made = [folder for folder in (run_dir, *run_dir.parents) if not folder.exists()]
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = run_dir / RUN_LOCK_FILE
    try:
        with open(lock, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # held: another run
                raise InputFileError(
                    f"{run_dir}: another gan3d train is running in this run folder"
                ) from None
            except OSError:  # a file system with no locks: the run goes on unlocked
                pass
            yield
    finally:
        if made and [path.name for path in run_dir.iterdir()] == [RUN_LOCK_FILE]:
            lock.unlink()
            for folder in made:  # deepest first
                if any(folder.iterdir()):
                    break
                folder.rmdir()


def check_init_from(config: TrainConfig) -> None:
    """Before any work: ``--init-from`` must hold the architecture the run trains (its class
    count aside, which comes with the data and is checked once they are read)."""
    if not config.init_from:
        return
    theirs = read_model_config(config.init_from)
    if theirs.kind != config.kind:  # another family's class count may not make this one
        raise CheckpointError(
            f"{checkpoint_file(config.init_from)}: holds a {theirs.kind} model; this run "
            f"trains a {config.kind}"
        )
    ignored = {"num_classes"}
    if config.kind == "lgan":  # a staged run starts its autoencoder from it, and may
        # train other stages anew with other settings: only the autoencoder's must hold
        ignored = {field.name for field in dataclasses.fields(theirs)} - AUTOENCODER_FIELDS
    differences = config_differences(
        theirs, config.model_config(theirs.num_classes), ignored=ignored
    )
    if differences:
        raise CheckpointError(
            f"{checkpoint_file(config.init_from)}: holds a different model from the one this "
            f"run trains: {', '.join(differences)}"
        )


def load_run_config(run_dir: str | os.PathLike) -> TrainConfig:
    """The settings a run folder was started with."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise InputFileError(f"{run_dir}: not a training run folder (no {CONFIG_FILE})")
    try:
        return TrainConfig.from_json(path)
    except InputFileError:
        raise
    except (ValueError, TypeError) as exc:
        raise InputFileError(f"{path}: {exc}") from None

"""``gan3d train``, ``gan3d eval`` and ``gan3d render``.

``train`` takes every :class:`TrainConfig` field as an option (``--lr-generator 0.001``,
``--soft-labels``), an optional ``--config FILE.json`` underneath them, and on ``--resume``
the run folder's own settings underneath both.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from gan3d_core.cli import seed_number
from gan3d_core.errors import InputFileError, UsageError, first_line
from gan3d_core.io.atomic import check_output_folder
from gan3d_core.io.kinds import UP_AXES, UP_HELP
from gan3d_core.training.config import (
    END_TO_END_ONLY_SETTINGS,
    STAGED_ONLY_SETTINGS,
    TrainConfig,
    load_recipe,
    recipe_names,
)

ABORT_AFTER_SECONDS = 2.0
# A run stops after its step and saves on Ctrl-C, and on SIGTERM: what a cluster's scheduler
# sends before it takes the machine back (the steps since the last save were lost)
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_STOPPING = {
    signal.SIGINT: "stopping after this step and saving; Ctrl-C again to abort",
    signal.SIGTERM: "terminated: stopping after this step and saving",
}


class _StopSignals:
    """Ctrl-C or SIGTERM, once :meth:`install` ed, asks a run to stop after its step and
    save; a second one more than ``abort_after`` seconds later aborts it (torchrun forwards
    the terminal's Ctrl-C to its workers, so a second arrives at once there)."""

    def __init__(self, abort_after: float = 0.0, say: bool = True) -> None:
        self.abort_after, self.say = abort_after, say
        self.asked: tuple[float, int] | None = None  # (when, the signal)
        self._previous: dict = {}

    def __call__(self, signum, frame) -> None:
        now = time.monotonic()
        if self.asked is None:
            self.asked = (now, signum)
            if self.say:
                print(f"\n{_STOPPING[signum]}", file=sys.stderr)
        elif now - self.asked[0] > self.abort_after:
            raise KeyboardInterrupt

    def install(self) -> None:
        self._previous = {number: signal.signal(number, self) for number in _STOP_SIGNALS}

    def restore(self) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}

    def requested(self) -> bool:
        return self.asked is not None

    @property
    def exit_code(self) -> int:
        """As a shell reports a command the signal ended: 130 for Ctrl-C, 143 for kill."""
        return 128 + (self.asked[1] if self.asked else signal.SIGINT)


# Short flags from the product spec for a few fields; every field also has --field-name.
_ALIASES = {"resolution": ["--res"], "batch_size": ["-b"]}
_HELP = {
    "kind": "model family: gan, vaegan, multiview, cvaegan or lgan (the staged recipe)",
    "data": ".npz, folder of .binvox or meshes, or a ModelNet-style tree",
    "up": "the up axis of --data's shape files: auto (glTF y, the rest z), z, or y for "
    "ShapeNet's .binvox and OBJ files",
    "resolution": "voxel grid size, 32 or 64",
    "classes": "comma-separated class names to train on",
    "limit": "use at most N shapes (class proportions kept)",
    "views": "views per shape the encoder sees in each step",
    "pool": "combine views by mean, max or lstm",
    "d_accuracy_threshold": "update D only while its batch accuracy is below this ('none': always)",
    "soft_labels": "real labels ~ U(real-label-range), fake ~ U(fake-label-range)",
    "recon_in_discriminator": "show reconstructions to D as real, fake, or not at all (none)",
    "kl_weight": "weight of the KL term (paper 5)",
    "recon_weight": "weight of the reconstruction term (paper 1e-4 with l2_sum)",
    "ssim_weight": "weight of the 1 - SSIM term",
    "recon_loss": "bce, l2, l2_sum (paper), dice (V-Net) or bce_dice (BCE + dice-weight * Dice)",
    "dice_weight": "weight of the Dice term beside BCE (autoencoder; --recon-loss bce_dice)",
    "residual_convs": "V-Net: a residual stage of N 3^3 convolutions after every strided "
    "layer of G, D and the 3D encoders (0: the 3D-GAN layout)",
    "projection_axes": "MPSE-GAN: one 2D discriminator per axis letter (e.g. xyz), judging "
    "the shape's silhouette along that axis",
    "projection_weight": "weight of the projection discriminators' term in G's loss (3D: 1)",
    "silhouettes_only": "no 3D supervision: the projection discriminators and, with an "
    "encoder, the silhouette loss teach the model (needs --projection-axes)",
    "silhouette_weight": "DIB-R: weight of 1 - IoU of the reconstruction's silhouette and "
    "each input view's mask, from the view's camera (0: off)",
    "precision": "auto (bf16 on GPUs and CPUs with AMX, else fp32), fp32 or bf16",
    "autoencoder_steps": "shape autoencoder steps (0 with --init-from: keep its autoencoder as is)",
    "latent_noise": "autoencoder: noise on its latents in training, in units of their spread",
    "head_tuned_blocks": "train the image backbone's last N blocks with the head (0: frozen)",
    "head_backbone": "the head's frozen ImageNet backbone: lite0, lite1 or lite2 "
    "(EfficientNet-LiteN)",
    "head_spatial_channels": "the head also reads the backbone's feature map, reduced to N "
    "channels at each place (0: pooled features only)",
    "head_input_dropout": "dropout on everything the image head reads, in training (0: none)",
    "head_framing_jitter": "reframe each training view by a random zoom of 1 +- J and a "
    "shift of up to J of its side, before its features are computed (0: as rendered)",
    "head_shape_weight": "weight of BCE + Dice of the head's latent, decoded by the frozen "
    "generator, against the true voxels (0: the latent's error alone)",
    "head_shape_views": "that term decodes the mean latent of 1..N views of a shape, as "
    "multi-view reconstruction pools them (1: single views)",
    "head_finetune_steps": "then train every layer of a copy of the image backbone with the "
    "head for N steps, on the rendered views (a GPU's work; 0: off)",
    "lr_finetune_backbone": "learning rate of the fine-tuned backbone (the head's: 3e-4)",
    "head_finetune_member": "with --init-from an ensemble and --head-steps 0: the number of "
    "its image head to fine-tune, from 0",
    "head_finetune_jitter": "fine-tuning reframes each view by a random zoom of 1 +- J and a "
    "shift of up to J of its side",
    "head_finetune_drop_path": "fine-tuning skips the backbone's residual blocks at random, "
    "the last with this probability (stochastic depth; 0: off)",
    "head_finetune_label_smoothing": "label smoothing of the fine-tuning's class loss (0: off)",
    "init_from": "fine-tune: start from this checkpoint's weights (same architecture)",
    "voxel_teacher_weight": "pull the image encoder toward a voxel VAE's latents (0: off)",
    "checkpoint_every": "save the resumable state every N steps",
    "generator_widths": "the generator's channel widths, comma-separated (none: the paper's)",
    "discriminator_widths": "the discriminator's channel widths, comma-separated (none: the "
    "paper's)",
    "encoder_widths": "the image encoder's channel widths, comma-separated (none: its default)",
    "validate_every": "validate (and log images) every N steps",
}


def _comma_list(convert):
    def parse(text: str):
        try:
            return [convert(part) for part in text.split(",") if part.strip()]
        except ValueError:
            kind = "whole numbers" if convert is int else "names"
            raise argparse.ArgumentTypeError(
                f"expected comma-separated {kind} (16,32,64), got {text!r}"
            ) from None

    return parse


def _optional_float(text: str) -> float | None:
    try:
        return None if text.lower() == "none" else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or none, got {text!r}") from None


def _float_pair(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 2:
        raise argparse.ArgumentTypeError(
            f"expected two comma-separated numbers (0.7,1.2), got {text!r}"
        )
    return values


_PARSERS = {
    "classes": _comma_list(str),
    "generator_widths": _comma_list(int),
    "discriminator_widths": _comma_list(int),
    "encoder_widths": _comma_list(int),
    "d_accuracy_threshold": _optional_float,
    "real_label_range": _float_pair,
    "fake_label_range": _float_pair,
    "seed": seed_number,
    "split_seed": seed_number,
}


def add_train_parser(commands) -> None:
    parser = commands.add_parser(
        "train",
        help="train a model on shapes",
        description="Train a model. The options below override --recipe and --config; on "
        "--resume the run keeps its settings, and may change only how long it trains, its "
        "learning rates, precision, and how often it saves and validates.",
    )
    parser.add_argument("-o", "--out", required=True, metavar="RUN_DIR", help="run folder")
    parser.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR")
    parser.add_argument("--config", metavar="FILE.json", help="settings file (TrainConfig fields)")
    parser.add_argument(
        "--recipe",
        metavar="NAME",
        help=f"start from a shipped recipe ({', '.join(recipe_names())}); options override it",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    parser.add_argument("--no-tensorboard", action="store_true", help="skip TensorBoard logs")
    defaults = TrainConfig()
    group = parser.add_argument_group("training settings")
    for field in dataclasses.fields(TrainConfig):
        flags = [f"--{field.name.replace('_', '-')}", *_ALIASES.get(field.name, [])]
        default = getattr(defaults, field.name)
        help_text = _HELP.get(field.name, field.name.replace("_", " "))
        shown = ",".join(map(str, default)) if isinstance(default, list | tuple) else default
        help_text += f" (default {'none' if default in ('', None) else shown})"
        if isinstance(default, bool):
            group.add_argument(
                *flags, dest=field.name, action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS, help=help_text,
            )  # fmt: skip
            continue
        convert = _PARSERS.get(field.name) or (type(default) if default is not None else str)
        if field.name == "limit":
            convert = int
        group.add_argument(
            *flags, dest=field.name, type=convert, default=argparse.SUPPRESS, help=help_text
        )
    parser.set_defaults(func=cmd_train)


def _settings(args: argparse.Namespace) -> TrainConfig:
    """Defaults <- --recipe <- run folder (resume) <- --config <- command-line options."""
    from gan3d_core.training.run import load_run_config

    values: dict[str, Any] = load_recipe(args.recipe) if args.recipe else {}
    started = load_run_config(args.out) if args.resume else None
    if started is not None:
        values.update(started.to_dict())
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    given = {}  # what the settings file and the command line set: over the recipe
    if args.config:
        from gan3d_core.io.inputs import read_json

        given.update(read_json(args.config, "settings file"))
    given.update({k: v for k, v in vars(args).items() if k in names})
    values.update(given)
    if not values.get("data"):
        raise InputFileError("train: give --data (a dataset file or folder)")
    # what a recipe set and the command line did not: named when it is at fault
    from_recipe = {} if started or not args.recipe else {
        k: v for k, v in load_recipe(args.recipe).items() if k in names and k not in given
    }  # fmt: skip
    if "data" in from_recipe and not Path(values["data"]).expanduser().exists():
        raise InputFileError(
            f"{values['data']}: no such dataset; recipe {args.recipe}'s data are there from "
            "the project root, with ../shared beside it: give --data"
        )
    if started is None or values["data"] != started.data:
        # stored whole, so that the run resumes from any folder
        values["data"] = str(Path(values["data"]).expanduser().resolve())
    source = args.config or "train"  # the settings file, when there is one
    try:
        config = TrainConfig.from_dict(values)
    except (TypeError, ValueError) as exc:
        message = first_line(exc)
        blamed = [f"{k} {v!r}" for k, v in from_recipe.items() if re.search(rf"\b{k}\b", message)]
        if blamed:
            message += f" (recipe {args.recipe} sets {', '.join(blamed)}; give it to change it)"
        raise InputFileError(f"{source}: {message}") from None
    if started is not None:
        _refuse_changed_run(args.out, started, config)
    return config


def _flag(args: argparse.Namespace, name: str) -> str:
    """The option as typed: --mirror, or --no-mirror for a switch turned off."""
    dashed = name.replace("_", "-")
    return f"--no-{dashed}" if getattr(args, name) is False else f"--{dashed}"


def _note_unused_options(args: argparse.Namespace, kind: str) -> None:
    """An option the kind never reads is said so: a misread kind trains something else in
    silence (typed options only: a settings file may hold every field)."""
    staged = kind == "lgan"
    unused = sorted(
        set(vars(args)) & (END_TO_END_ONLY_SETTINGS if staged else STAGED_ONLY_SETTINGS)
    )
    if unused:
        flags = ", ".join(_flag(args, name) for name in unused)
        family = "the end-to-end kinds" if staged else "the staged recipe (--kind lgan)"
        one = len(unused) == 1
        print(f"note: {flags} set{'s' if one else ''} {family} only; {kind} runs train "
              f"without {'it' if one else 'them'}", file=sys.stderr)  # fmt: skip


# What a resumed run may change: how long it trains (epochs, a stage's steps), its learning
# rates, and what does not touch the training (precision for another machine, how often it
# saves and validates, the cache, the fitting defaults its card records). Everything else
# is its record: the data and their split, the model, the losses and augmentation of the
# steps already taken, which its model card states for the whole run.
RESUME_MAY_CHANGE = frozenset(
    {"epochs", "autoencoder_steps", "latent_gan_steps", "head_steps", "head_finetune_steps",
     "implicit_steps", "precision", "checkpoint_every", "validate_every",
     "validation_samples", "cache_dir", "refine_steps", "retrieval_candidates"}
    | {field.name for field in dataclasses.fields(TrainConfig)
       if field.name.startswith("lr_") and field.name != "lr_schedule"}
)  # fmt: skip


def _refuse_changed_run(run_dir, started: TrainConfig, config: TrainConfig) -> None:
    from gan3d_core.training.run import DATA_DIGEST_FILE

    def same(name: str) -> bool:
        before, now = getattr(started, name), getattr(config, name)
        if name == "data":  # one file, however its path is written; or moved, with the
            # run folder to another machine: the shapes' digest says whether they are the same
            moved = (Path(run_dir) / DATA_DIGEST_FILE).is_file()
            return moved or Path(before).resolve() == Path(now).resolve()
        return before == now

    kept = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in RESUME_MAY_CHANGE]
    changed = [
        f"{name} {getattr(started, name)!r} (asked: {getattr(config, name)!r})"
        for name in kept
        if not same(name)
    ]
    if changed:
        raise UsageError(
            f"{run_dir}: a resumed run keeps its {', '.join(changed)}; start another run "
            "(-o) for other settings"
        )


def cmd_train(args: argparse.Namespace) -> int:
    from gan3d_core.data.datasets import looks_like_shapenet
    from gan3d_core.training.run import check_init_from, check_run_folder, run_folder_lock

    config = _settings(args)
    check_output_folder(args.out, "run folder")
    check_run_folder(args.out, args.resume)  # before any work, as the settings are
    if not args.resume:
        check_init_from(config)
    first_process = os.environ.get("RANK", "0") == "0"  # torchrun's others say nothing
    if first_process:
        _note_unused_options(args, config.kind)
    if first_process and config.up == "auto" and looks_like_shapenet(config.data):
        print(f"note: {config.data} looks like ShapeNet's files, which are y up: if its shapes "
              "lie on their sides, train with --up y", file=sys.stderr)  # fmt: skip
    with run_folder_lock(args.out, first_process):
        if config.kind == "lgan":
            return _train_staged(config, args)
        return _train_end_to_end(config, args)


def _train_end_to_end(config: TrainConfig, args: argparse.Namespace) -> int:
    """The four end-to-end families, on one process or torchrun's several."""
    import torch.distributed as dist  # loaded with training.run already

    from gan3d_core.training.callbacks import ProgressBarCallback, TensorBoardCallback
    from gan3d_core.training.run import init_distributed, prepare_data, same_data_check, train_run

    rank, world = init_distributed()
    callbacks = []
    if rank == 0:
        callbacks.append(ProgressBarCallback())
        if not args.no_tensorboard:
            callbacks.append(TensorBoardCallback(Path(args.out) / "events"))
    stop = _StopSignals(ABORT_AFTER_SECONDS, say=rank == 0)
    try:
        check = same_data_check(args.out, config, args.resume)
        # Ctrl-C while the data are prepared ends the command at once: nothing to save yet
        data = _prepare_on_every_rank(config, rank, world, prepare_data, check)
        stop.install()
        trainer = train_run(
            config, args.out, resume=args.resume, callbacks=callbacks,
            should_stop=stop.requested, device=args.device, data=data,
        )  # fmt: skip
        if world > 1:
            # rank 0 writes the checkpoint after the last step: no rank may tear down gloo's
            # connections while another still holds them open
            dist.barrier()
    finally:
        stop.restore()
        if world > 1:
            dist.destroy_process_group()
    if rank == 0:
        where = Path(args.out) / "model.safetensors"
        if args.resume and trainer.step == trainer.first_step:
            done = trainer.step / trainer.steps_per_epoch
            print(f"{args.out}: has trained {done:g} epochs ({trainer.step} steps), as many as "
                  f"--epochs {config.epochs} asks; a larger --epochs trains on, its record is "
                  "unchanged", file=sys.stderr)  # fmt: skip
        if stop.requested():
            print(
                f"stopped at step {trainer.step}; continue with: gan3d train -o {args.out} --resume"
            )
            print(where)
            return stop.exit_code
        print(where)
    return 0


def _train_staged(config: TrainConfig, args: argparse.Namespace) -> int:
    """The staged recipe: one process, stages resumed from their own state files."""
    from gan3d_core.cli import progress_bar
    from gan3d_core.io.card import validation_words
    from gan3d_core.training.callbacks import StageTensorBoard
    from gan3d_core.training.run import split_words
    from gan3d_core.training.staged import STAGE_NAMES, train_staged
    from gan3d_core.training.stages import stage_state_path

    run_dir = Path(args.out)
    started = any(stage_state_path(run_dir, name).is_file() for name in STAGE_NAMES)
    if args.resume and not started:
        raise InputFileError(f"{run_dir}: nothing to resume (no stage state files)")
    stop = _StopSignals()

    def begun(train, validation) -> None:
        print(split_words(train, validation, config.validation_fraction), file=sys.stderr)
        # the data are read and the run has begun: from here a stop saves; before, Ctrl-C
        # ends the command at once (there is nothing to save while the shapes load)
        stop.install()

    events = None if args.no_tensorboard else StageTensorBoard(run_dir / "events")
    try:
        with progress_bar("training (staged)") as progress:
            path, results = train_staged(
                config, run_dir, progress, stop.requested, device=args.device,
                on_record=events, on_split=begun,
            )  # fmt: skip
    finally:
        stop.restore()
        if events is not None:
            events.close()
    for name, result in results.items():
        said = validation_words(result.validation)
        print(
            f"{name}: {result.steps} steps, {result.seconds:.0f} s" + (f", {said}" if said else "")
        )
    if path is None:
        print(f"stopped; continue with: gan3d train -o {run_dir} --resume")
        return stop.exit_code
    print(path)
    return 0


def _prepare_on_every_rank(config: TrainConfig, rank: int, world: int, prepare_data, on_split):
    """Rank 0 loads and renders first (filling the caches); the others then read them.
    ``on_split`` sees each rank's split before rendering (see prepare_data)."""
    import torch.distributed as dist

    from gan3d_core.cli import progress_bar

    if world > 1 and rank != 0:
        dist.barrier()
    if rank == 0:
        with progress_bar("preparing data") as progress:
            data = prepare_data(config, progress, on_split)
    else:
        data = prepare_data(config, on_split=on_split)
    if world > 1 and rank == 0:
        dist.barrier()
    return data


# -- eval ---------------------------------------------------------------------------------


def add_eval_parser(commands) -> None:
    parser = commands.add_parser(
        "eval",
        help="measure a model: reconstruction, autoencoding, generation or classification",
        description="Evaluate a checkpoint on a dataset; --json prints one JSON object.",
    )
    parser.add_argument("checkpoint", metavar="CKPT")
    parser.add_argument("--data", required=True, metavar="DATA", help="dataset (.npz or folder)")
    parser.add_argument("--task", required=True, choices=("recon", "autoencode", "gen", "classify"))
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--views", type=int, default=1, help="views per shape for recon (default 1)"
    )
    parser.add_argument("--pool", choices=("mean", "max", "lstm"), help="combine views (recon)")
    parser.add_argument("--labels", choices=("auto", "given"), default="auto",
                        help="conditional recon and autoencode: the model picks the class "
                        "(auto) or is told it")  # fmt: skip
    parser.add_argument("--subset", choices=("all", "train", "validation"), default="all",
                        help="train/validation: the split recorded in the model card")  # fmt: skip
    parser.add_argument("--limit", type=int, help="evaluate at most N shapes")
    parser.add_argument("--refine", type=int, metavar="STEPS",
                        help="staged models: recon's silhouette-fitting steps (default: the "
                        "card's), autoencode's voxel-fitting steps (default 50)")  # fmt: skip
    parser.add_argument("--split", choices=("train", "test"),
                        help="which split of a ModelNet-style folder tree (default: test, and "
                        "train for --subset train or validation, which come from the run's "
                        "training data)")  # fmt: skip
    parser.add_argument(
        "--samples", type=int, help="gen: samples per class (default: as many as shapes)"
    )
    parser.add_argument("--seed", type=seed_number, default=0)
    parser.add_argument("--up", choices=UP_AXES, default=None,
                        help=UP_HELP + "; with --subset train or validation, the run's")  # fmt: skip
    parser.add_argument("--train", metavar="DATA", help="classify: shapes to fit the SVM on")
    parser.add_argument("--device", default="auto")
    parser.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    from gan3d_core import evaluation, limits
    from gan3d_core.cli import _check_range, progress_bar
    from gan3d_core.inference import load_model
    from gan3d_core.io.card import model_fingerprint
    from gan3d_core.training.run import default_cache_dir

    _check_range("--views", args.views, 1, limits.MAX_VIEWS)
    if args.limit is not None:
        _check_range("--limit", args.limit, 1, limits.MAX_SHAPES)
    if args.samples is not None:
        _check_range("--samples", args.samples, 2, limits.MAX_SHAPES)  # coverage needs pairs
    model = load_model(args.checkpoint, device=args.device)
    split = model.card.get("training", {}).get("settings", {})
    if args.subset != "all" and not split:
        raise InputFileError(
            f"{args.checkpoint}: model card records no training split; use --subset all"
        )
    # a run's split is of the shapes it was given: a folder tree's train folders
    folder_split = args.split or ("test" if args.subset == "all" else "train")
    if args.subset != "all" and folder_split != "train":
        raise UsageError(
            f"--subset {args.subset} re-creates the training run's split of its training data, "
            "a folder tree's train folders: leave out --split test"
        )
    classes = model.class_names or None  # a model of some of the file's classes: those
    # a run's split is of its shapes as it read them: its up axis unless told otherwise,
    # and the card's digest of them (when it has one) says whether these are those

    def up_of(data: str) -> str:
        """--up, or for a run's split of a folder the run's up axis."""
        if args.up or args.subset == "all" or not Path(data).is_dir():
            return args.up or "auto"
        return split.get("up") if split.get("up") in UP_AXES else "auto"

    up = up_of(args.data)
    trained_on = model.card.get("training", {}).get("data_sha256")
    trained_on = trained_on if isinstance(trained_on, str) else None
    dataset = evaluation.load_eval_dataset(
        args.data, model.resolution, args.subset, split, args.limit, folder_split, classes, up,
        trained_on if args.subset != "all" else None,
    )  # fmt: skip
    _refuse_empty(dataset, args.data, args.subset)
    if model.class_names and dataset.class_names != model.class_names:
        raise InputFileError(
            f"{args.data}: classes {', '.join(dataset.class_names)} differ from the model's "
            f"{', '.join(model.class_names)}"
        )
    # A run's validation split: compare with its training shapes too, for scale.
    training_shapes = (
        evaluation.load_eval_dataset(
            args.data,
            model.resolution,
            "train",
            split,
            folder_split=folder_split,
            classes=classes,
            up=up,
        )
        if args.subset == "validation" and args.task in ("recon", "gen")
        else None
    )
    if args.task == "recon":
        with progress_bar("evaluating") as progress:
            result = evaluation.evaluate_reconstruction(
                model,
                dataset,
                args.views,
                args.pool,
                args.labels,
                default_cache_dir() / "views",
                progress,
                training_shapes,
                args.refine,
            )
    elif args.task == "autoencode":
        with progress_bar("encoding") as progress:
            result = evaluation.evaluate_autoencoding(
                model, dataset, args.labels, args.refine, progress
            )
    elif args.task == "gen":
        result = evaluation.evaluate_generation(
            model, dataset, args.samples, args.seed, training_shapes
        )
    else:
        if not args.train:
            raise InputFileError("eval --task classify needs --train DATA to fit the classifier on")
        # Evaluating a run's validation split: fit on that run's training split only.
        train_subset = "train" if args.subset == "validation" else "all"
        train = evaluation.load_eval_dataset(
            args.train, model.resolution, train_subset, split, folder_split="train",
            classes=classes, up=up_of(args.train),
        )  # fmt: skip
        _refuse_empty(train, args.train, train_subset)
        result = evaluation.evaluate_classification(model, train, dataset)
    result["empty_shapes_skipped"] = dataset.skipped_empty
    result["checkpoint"] = str(args.checkpoint)
    result["model"] = model_fingerprint(model.card)  # gan3d pack --metrics checks it
    result["data"] = str(args.data)
    result["subset"] = args.subset
    result["up"] = up
    result = _defined(result)
    print(json.dumps(result, allow_nan=False) if args.json else _table(result))
    return 0


def _refuse_empty(dataset, path, subset: str) -> None:
    if len(dataset) == 0:
        where = "" if subset == "all" else f" in the {subset} split its model card records"
        raise InputFileError(f"{path}: no shapes to evaluate on{where}")


def _defined(value: Any) -> Any:
    """``value`` with every NaN or infinite figure (a class left with no shape, say) as
    None: JSON null, which every reader takes, where a bare NaN is not JSON at all."""
    if isinstance(value, dict):
        return {key: _defined(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_defined(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _table(result: dict) -> str:
    scalars = {k: v for k, v in result.items() if k != "per_class"}
    lines = [f"{k:<22} {v}" for k, v in scalars.items()]
    per_class = result.get("per_class", {})
    if per_class:
        columns = list(next(iter(per_class.values())))
        lines.append("")
        width = max(12, *(len(c) + 2 for c in columns))  # "class_accuracy" runs past 12
        lines.append(f"{'class':<14}" + "".join(f"{c:>{width}}" for c in columns))
        for name, row in per_class.items():
            lines.append(f"{name:<14}" + "".join(f"{row[c]:>{width}}" for c in columns))
    return "\n".join(lines)


# -- render -------------------------------------------------------------------------------


def add_render_parser(commands) -> None:
    parser = commands.add_parser(
        "render",
        help="render views of shapes as the encoder sees them",
        description="Render shapes (dataset, .binvox, .npy or mesh) from a ring of cameras.",
    )
    parser.add_argument("source", metavar="SHAPES", help="dataset, .binvox, .npy or mesh file")
    parser.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="a folder of PNG files, or OUT.npz with a 'views' array")  # fmt: skip
    parser.add_argument("--views", type=int, default=12, help="views per shape (default 12)")
    parser.add_argument("--size", type=int, default=128, help="image size in pixels (default 128)")
    parser.add_argument("--jitter", action="store_true", help="random cameras, light and colour")
    parser.add_argument("--seed", type=seed_number, default=0)
    parser.add_argument(
        "--resolution", type=int, default=32, help="voxelize meshes at (default 32)"
    )
    parser.add_argument("--limit", type=int, help="render at most N shapes")
    parser.add_argument("--up", choices=UP_AXES, default="auto", help=UP_HELP)
    parser.set_defaults(func=cmd_render)


def _load_shapes(source: str, resolution: int, up: str = "auto"):
    from gan3d_core.data.datasets import (
        VoxelDataset,
        load_dataset,
        load_grid_z_up,
        load_shape_grid,
    )
    from gan3d_core.io.meshes import MESH_SUFFIXES

    path = Path(source)
    suffix = path.suffix.lower()
    if path.is_file() and suffix in (".binvox", ".npy"):
        grid = (load_grid_z_up(path, up) > 0.5).astype(np.uint8)
        if not grid.any():  # blank pictures, exit 0 (audit)
            raise InputFileError(f"{path}: grid has no occupied voxel (none above 0.5)")
    elif path.is_file() and suffix in MESH_SUFFIXES:  # as encode and the app read it
        grid = load_shape_grid(path, resolution, up)
    else:
        return load_dataset(path, None if path.suffix == ".npz" else resolution, up=up)
    return VoxelDataset(grid[None], np.zeros(1, np.int64), [path.stem], str(path))


def cmd_render(args: argparse.Namespace) -> int:
    from gan3d_core.cli import progress_bar
    from gan3d_core.data.render import render_views
    from gan3d_core.images import png_bytes
    from gan3d_core.io.atomic import (
        check_output_folder,
        check_output_path,
        check_writable_folder,
        write_bytes_atomic,
    )

    if not 1 <= args.views <= 360 or not 16 <= args.size <= 1024:
        raise InputFileError("--views must be 1..360 and --size 16..1024")
    if args.limit is not None and args.limit < 1:  # none at all renders every shape
        raise UsageError(f"--limit must be at least 1, got {args.limit}")
    output = Path(args.output)
    # before any rendering (audit: -o under a file or in /proc failed after it, a traceback)
    if output.suffix.lower() == ".npz":
        check_writable_folder(check_output_path(output).parent)
    else:
        check_output_folder(output)
    dataset = _load_shapes(args.source, args.resolution, args.up)
    if args.limit is not None:
        dataset = dataset.subset(np.arange(min(args.limit, len(dataset))))
    # named after the source (one shape: its name; a dataset: its name and each shape's
    # place), and never replacing a file: shapes rendered in a loop into one folder all stay
    source = Path(args.source).stem
    names = [
        [f"{source if len(dataset) == 1 else f'{source}_{shape:04d}'}_view{view:02d}.png"
         for view in range(args.views)]
        for shape in range(len(dataset))
    ]  # fmt: skip
    there = [output / name for row in names for name in row if (output / name).exists()]
    if there and output.suffix.lower() != ".npz":
        raise InputFileError(f"{there[0]}: already exists; choose another output folder")
    with progress_bar("rendering") as progress:
        views = render_views(
            dataset.voxels, args.views, args.size, args.jitter, args.seed, progress=progress
        )
    if output.suffix.lower() == ".npz":
        import io

        buffer = io.BytesIO()
        np.savez_compressed(
            buffer, views=views, labels=dataset.labels, class_names=np.array(dataset.class_names)
        )
        print(write_bytes_atomic(output, buffer.getvalue()))
        return 0
    output.mkdir(parents=True, exist_ok=True)
    for shape_views, row in zip(views, names):
        for image, name in zip(shape_views, row):
            write_bytes_atomic(output / name, png_bytes(image))
    print(output)
    return 0

"""The ``gan3d`` command line: info, sample, reconstruct, encode, interpolate, export, voxelize,
render, train and eval (the last three live in :mod:`gan3d_core.training.cli`).

Every command exits 0 on success; on bad input it prints one line to stderr naming the file
and the problem, exits 1, and leaves no partial output (set GAN3D_DEBUG=1 for tracebacks).
Only the project's own errors (:class:`~gan3d_core.errors.Gan3dError`) are the user's: any
other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from gan3d_core import limits
from gan3d_core.errors import Gan3dError, InputFileError, OutputFileError, UsageError, first_line
from gan3d_core.io.kinds import (
    LATENT_SUFFIX,
    UP_AXES,
    UP_HELP,
    is_latent_path,
    refuse_latent_as_shape,
)
from gan3d_core.limits import MAX_FRAMING_SHIFT
from gan3d_core.schema import has_control_characters

QUIET_SECONDS = 3.0  # log-file progress starts after this long
LOG_INTERVAL_SECONDS = 60.0  # and then writes a line at least this often while work advances
FORMATS = ("stl", "3mf", "obj", "ply", "glb", "binvox", "npy")


# -- helpers -----------------------------------------------------------------------------


@contextmanager
def progress_bar(description: str, total: int = 1000) -> Iterator[Callable[[float, str], None]]:
    """A ``progress(fraction, message)`` hook drawing a tqdm bar on stderr; when stderr is
    not a terminal (a log file), one line every 10% and at least one a minute while work
    advances, once it has taken more than a few seconds (quick commands stay quiet): a
    stage that is a few percent of a long run must not look stuck."""
    from tqdm import tqdm

    bar = tqdm(
        total=total,
        desc=description,
        disable=None,
        leave=False,
        # the time taken and left (from the mean pace so far: stages run at their own)
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}",
    )
    started = time.monotonic()
    logged = {"tenths": 0, "fraction": 0.0, "at": started}

    def progress(fraction: float, message: str) -> None:
        if bar.disable:
            now, tenths = time.monotonic(), int(fraction * 10)
            due = tenths > logged["tenths"] or (
                fraction > logged["fraction"] and now - logged["at"] >= LOG_INTERVAL_SECONDS
            )
            if due and now - started > QUIET_SECONDS:
                logged.update(tenths=tenths, fraction=fraction, at=now)
                minutes = (now - started) / 60
                print(f"{description}: {100 * fraction:.0f}% after {minutes:.1f} min {message}",
                      file=sys.stderr, flush=True)  # fmt: skip
            return
        bar.n = round(fraction * total)
        bar.set_postfix_str(message, refresh=True)

    try:
        yield progress
    finally:
        bar.close()


def _box(text: str) -> tuple[int, int, int, int]:
    from gan3d_core.images import BOX_RULE, check_box

    try:
        return check_box(text.split(","))
    except UsageError:
        raise argparse.ArgumentTypeError(f"{BOX_RULE}; got {text!r}") from None


def _decode(model, latents: np.ndarray, labels, resolution: int | None) -> np.ndarray:
    """Decode with a progress bar (at ``resolution``: the implicit decoder)."""
    with progress_bar("decoding") as progress:
        return model.decode(latents, labels, progress=progress, resolution=resolution)


def _class_name(model, label) -> str | None:
    """A conditional model's name for class ``label`` (None: no class)."""
    from gan3d_core.io.latent_files import class_name_of

    return class_name_of(label if model.config.conditional else None, model.class_names)


def _say_classes(model, labels: Sequence[int]) -> None:
    """On stderr, the classes interpolated steps decode as, in runs: "decoded as chair
    (steps 0-2), table (steps 3-4)"."""
    runs: list[list[int]] = []
    for step, label in enumerate(labels):
        if not runs or runs[-1][0] != label:
            runs.append([label, step, step])
        runs[-1][2] = step
    said = ", ".join(
        f"{model.class_names[label]} (step{'s' if first < last else ''} "
        f"{first}{f'-{last}' if first < last else ''})"
        for label, first, last in runs
    )
    print(f"decoded as {said}; --class decodes every step as one class", file=sys.stderr)


def _check_surface_resolution(resolution: int | None, shapes: int = 1) -> None:
    """--surface-resolution: a grid side within the limits, and all shapes' grids together
    within :data:`~gan3d_core.limits.MAX_DECODED_VOXELS` (they are held until written)."""
    if resolution is None:
        return
    limits.check_surface_resolution(resolution)
    limits.check_decoded_shapes(shapes, resolution)


def _load_model(args: argparse.Namespace):
    from gan3d_core.inference import load_model

    return load_model(args.model, device=args.device)


def _model_config(args: argparse.Namespace):
    """The checkpoint's architecture from its header alone (milliseconds; loading takes
    seconds): a command checks its inputs against it before the model loads."""
    from gan3d_core.io.checkpoint import read_model_config
    from gan3d_core.resources import installed_default_model

    return read_model_config(installed_default_model() if args.model is None else args.model)


def _export_options(args: argparse.Namespace):
    _check_range("--smooth", args.smooth, 0, limits.MAX_SMOOTH_ITERATIONS)
    if args.faces is not None:
        _check_range("--faces", args.faces, 4, limits.MAX_FACES)
    if args.size_mm is not None and not limits.MIN_SIZE_MM <= args.size_mm <= limits.MAX_SIZE_MM:
        raise UsageError(
            f"--size-mm must be a number from {limits.MIN_SIZE_MM:g} to {limits.MAX_SIZE_MM:g}, "
            f"got {args.size_mm}"
        )
    if not 0 < args.threshold < 1:
        raise UsageError(f"--threshold must be above 0 and below 1, got {args.threshold}")
    if not 0 <= args.min_part <= 100:
        raise UsageError(f"--min-part must be a percentage from 0 to 100, got {args.min_part}")
    written = getattr(args, "format", None) or Path(args.output).suffix.lower().lstrip(".")
    mesh_only = [option for option, given in (
        ("--size-mm", args.size_mm is not None),
        ("--smooth", args.smooth != limits.DEFAULT_SMOOTH_ITERATIONS),
        ("--faces", args.faces is not None), ("--style blocks", args.style == "blocks"),
    ) if given]  # fmt: skip
    if written in ("binvox", "npy") and mesh_only:
        print(f"note: {', '.join(mesh_only)} shape meshes; .{written} files keep the voxel grid "
              "as it is", file=sys.stderr)  # fmt: skip
    elif args.style == "blocks" and (
        args.smooth != limits.DEFAULT_SMOOTH_ITERATIONS or args.faces is not None
    ):
        print("note: --smooth and --faces shape smooth surfaces; --style blocks keeps every "
              "voxel's cube as it is", file=sys.stderr)  # fmt: skip
    from gan3d_core.mesh import ExportOptions  # once the numbers are known good: seconds

    return ExportOptions(
        threshold=args.threshold,
        style=args.style,
        smooth_iterations=args.smooth,
        target_faces=args.faces,
        size=args.size_mm,
        min_part=args.min_part / 100,
    )


def seed_number(text: str) -> int:
    """A ``--seed``: a whole number from 0 (numpy's generators take no negative seed) to the
    app's largest (a seed is part of sample's file names: 300 digits made one too long)."""
    shown = text if len(text) <= 20 else f"{text[:20]}... ({len(text)} characters)"
    wrong = f"a seed is a whole number from 0 to {limits.MAX_SEED}, got {shown!r}"
    try:
        value = int(text) if len(text) <= 20 else -1
    except ValueError:
        raise argparse.ArgumentTypeError(wrong) from None
    if not 0 <= value <= limits.MAX_SEED:
        raise argparse.ArgumentTypeError(wrong)
    return value


def _refuse_latent_name(path, hint: str = "") -> None:
    """A shape may not be named NAME.latent.npy: the app and interpolate --latents would
    read it as a latent."""
    if is_latent_path(path):
        raise InputFileError(
            f"{path}: a shape named like a latent file (NAME{LATENT_SUFFIX}) would be read "
            f"as one{hint}"
        )


def _check_output_file(path) -> None:
    """An output file's path and folder, checked before a command's work (audit: pack and
    voxelize found them unwritable only after it)."""
    from gan3d_core.io.atomic import check_output_path, check_writable_folder

    check_writable_folder(check_output_path(path).parent)


def _check_range(option: str, value: int, low: int, high: int) -> None:
    """Integer options: refused outside [low, high] before any work (the limits say why)."""
    if not low <= value <= high:
        raise UsageError(f"{option} must be between {low} and {high:,}, got {value:,}")


def _output_dir(path: str, command: str) -> Path:
    """A batch command's output folder: refused before any work when it names a file (or
    a file's name, like out.stl) or cannot be made."""
    from gan3d_core.io.atomic import check_output_folder

    if Path(path).suffix.lower().lstrip(".") in FORMATS and not Path(path).is_dir():
        raise UsageError(
            f"{path}: {command} writes a folder of files; name a folder, --format sets "
            "the files' format"
        )
    return check_output_folder(path)


def _output_stems(inputs: Sequence[str], noun: str, command: str) -> list[str]:
    """The names of the files made from each input (its stem), refused before any work
    when two inputs share one: their outputs would overwrite each other."""
    stems = [Path(path).stem for path in inputs]
    # Photo.png and photo.jpg would write one file on a case-blind disk (macOS, Windows)
    repeated = [stem for stem, count in Counter(s.casefold() for s in stems).items() if count > 1]
    if repeated:
        raise UsageError(
            f"two {noun} are named {repeated[0]!r}; their outputs would share a file: "
            f"{command} them separately"
        )
    return stems


def _refuse_existing(paths: Sequence[Path], way_on: str = "") -> None:
    """Batch outputs never replace a file (a single -o OUT does, as every exporter); a
    latent's class file (NAME.latent.json) is one of them. ``way_on``: another way out
    than another folder, said too."""
    from gan3d_core.io.kinds import is_latent_path
    from gan3d_core.io.latent_files import latent_class_path

    for path in paths:
        for file in (path, latent_class_path(path)) if is_latent_path(path) else (path,):
            if file.exists():
                raise InputFileError(
                    f"{file}: already exists; choose another output folder{way_on}"
                )


def _write_shapes(shapes: np.ndarray, paths: Sequence[Path], options, description: str) -> None:
    """Export every shape, or none: check all first, remove what was written on failure."""
    from gan3d_core.errors import EmptyShapeError
    from gan3d_core.mesh.export import write_shape

    for shape, path in zip(shapes, paths):
        if not shape.max() > options.threshold:
            raise EmptyShapeError(
                f"{path}: shape is empty at threshold {options.threshold:g} (highest occupancy "
                f"{shape.max():.3g}); lower --threshold"
            )
    if paths:
        try:
            paths[0].parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputFileError(
                f"{paths[0].parent}: cannot make the output folder ({exc.strerror or exc})"
            ) from None
    written, begun = [], []
    try:
        with progress_bar(description) as progress:
            for index, (shape, path) in enumerate(zip(shapes, paths)):
                _refuse_existing([path])
                begun.append(path)  # before the write: it may land before an interrupt
                written.append(write_shape(shape, path, options))
                progress((index + 1) / len(paths), path.name)
    except BaseException:
        for path in begun:  # none of them was there before (refused above)
            path.unlink(missing_ok=True)
        raise
    for shape_file in written:
        print(shape_file.path)
    _report_notes(written)
    _report_parts(written, options.min_part)


def _write_shape(shape: np.ndarray, path, options) -> Path:
    """Export one shape to ``path`` (replacing it, as every exporter does) and say so; the
    file written."""
    from gan3d_core.mesh.export import write_shape

    written = write_shape(shape, path, options)
    print(written.path)
    _report_notes([written])
    _report_parts([written], options.min_part)
    return Path(written.path)


def _report_notes(written: Sequence) -> None:
    """On stderr, where a file differs from what was asked (a decimation stopped short)."""
    for shape_file in written:
        if shape_file.note:
            print(f"{shape_file.path.name}: {shape_file.note}", file=sys.stderr)


def _report_parts(written: Sequence, min_part: float = 0.0) -> None:
    """On stderr, which meshes hold several separate parts: a slicer prints each as a
    loose piece, and the specks among them are usually decoding noise."""
    from gan3d_core.mesh.export import MESH_FORMATS

    several = [w for w in written if w.parts > 1 and w.path.suffix.lower() in MESH_FORMATS]
    if not several:
        return
    named = ", ".join(f"{w.path.name} {w.parts}" for w in several[:3])
    more = ", ..." if len(several) > 3 else ""
    where = (
        f"{several[0].path}: {several[0].parts} separate parts"
        if len(written) == 1
        else f"{len(several)} of {len(written)} meshes hold separate parts ({named}{more})"
    )
    hint = (
        f"a --min-part above {min_part * 100:g} leaves out more"
        if min_part
        else "--min-part PERCENT leaves out those under PERCENT % of the largest"
    )
    print(f"{where}; {hint}", file=sys.stderr)


# -- commands ----------------------------------------------------------------------------


def _head_words(config: dict) -> str:
    """How many image heads a staged model's card says it averages, on which backbones:
    "4 on EfficientNet-Lite0 + 1 on EfficientNet-Lite2, averaged", "2 on their own
    fine-tuned EfficientNet-Lite0"."""
    from gan3d_core.config import backbone_variant  # torch-free, as info must stay

    heads = config.get("head_members", 1)
    heads = heads if isinstance(heads, int) and 0 < heads < 100 else 1
    backbones = config.get("member_backbones") or [config.get("image_backbone", "lite0")] * heads
    counts = Counter()
    for name in map(str, backbones):
        variant = backbone_variant(name) or name
        counts[variant, name != variant] += 1
    words = " + ".join(
        f"{count} on {('its' if count == 1 else 'their') + ' own fine-tuned ' if tuned else ''}"
        f"EfficientNet-{variant.capitalize()}"
        for (variant, tuned), count in counts.items()
    )
    return words + (", averaged" if sum(counts.values()) > 1 else "")


STORAGE_WORDS = {"float16": "float16", "int8": "int8 weight matrices, float16 elsewhere"}


def cmd_info(args: argparse.Namespace) -> int:
    from gan3d_core.io.card import (
        framing_shift,
        inference_settings,
        quality_rows,
        refine_steps,
        training_words,
    )
    from gan3d_core.io.checkpoint import checkpoint_file, read_model_card

    if args.checkpoint is None:
        from gan3d_core.resources import default_model_path  # torch-free, as info must stay

        args.checkpoint = default_model_path()
    card = read_model_card(args.checkpoint)
    if args.json:
        print(json.dumps(card, indent=2))
        return 0
    config = card["config"]
    lines = [
        f"checkpoint   {args.checkpoint}",
        f"name         {card.get('name', '(unnamed)')}",
        f"kind         {config.get('kind')}",
        f"resolution   {config.get('resolution')}^3",
        f"latent size  {config.get('latent_dim')}",
        f"weights      {STORAGE_WORDS.get(card.get('storage'), 'float32')}, "
        f"{checkpoint_file(args.checkpoint).stat().st_size / 1e6:.1f} MB",  # a run folder's too
    ]
    if config.get("kind") == "lgan":
        lines.append(f"image heads  {_head_words(config)}, {config.get('image_size')} px views")
    elif config.get("kind") != "gan":
        lines.append(
            f"encoder      {config.get('encoder_architecture')}, {config.get('image_size')} px, "
            f"{config.get('num_views')} view(s), {config.get('pool')} pooling"
        )
    shift = framing_shift(card)
    if shift > 0:
        lines.append(
            f"framings     each view also read moved {shift:.1%} of its side four ways, averaged"
        )
    inference = inference_settings(card)
    steps, candidates = refine_steps(card), inference.get("retrieval_candidates")
    if isinstance(steps, int) and steps > 0:
        start = "the image head's prediction"
        if isinstance(candidates, int) and candidates > 0:
            start += f" or one of {candidates} retrieved training shapes, whichever fits best"
        lines.append(f"fitting      {steps} silhouette-fitting steps from {start}")
    options = []  # the seed papers' network options, when any is on
    if config.get("residual_convs"):
        options.append(f"residual stages of {config['residual_convs']} conv(s)")
    if config.get("projection_axes"):
        options.append(f"projection discriminators along {', '.join(config['projection_axes'])}")
    if config.get("voxel_discriminator") is False:
        options.append("no 3D discriminator (trained on silhouettes alone)")
    if options:
        lines.append(f"options      {'; '.join(options)}")
    if card.get("class_names"):
        lines.append(f"classes      {', '.join(card['class_names'])}")
    if config.get("implicit_width"):
        lines.append(
            f"implicit     decoder of width {config['implicit_width']}: surfaces at any "
            "resolution (--surface-resolution)"
        )
    for title, rows in (
        ("training", training_words(card.get("training"))),
        ("quality", [f"{what}: {words}" for what, words in quality_rows(card.get("metrics"))]),
    ):
        lines += [f"{title if i == 0 else '':<12} {row}" for i, row in enumerate(rows)]
    if card.get("training") or card.get("metrics"):
        lines.append("(gan3d info --json: the whole card, every setting and figure)")
    print("\n".join(lines))
    return 0


def cmd_pack(args: argparse.Namespace) -> int:
    """A copy of a checkpoint to ship: float16 or int8 weights, evaluation results in its
    card, the files it came from named without their folders."""
    from gan3d_core.io.card import inference_settings, is_model, refine_steps, without_folders
    from gan3d_core.io.checkpoint import load_checkpoint, save_checkpoint
    from gan3d_core.io.inputs import read_json, same_file

    if same_file(args.output, args.checkpoint):
        raise UsageError(f"-o {args.output} is CKPT itself: pack writes a copy, name another file")
    for option, value in (("--name", args.name), ("--recipe", args.recipe)):
        if value and has_control_characters(value):  # loading refuses such a card
            raise UsageError(f"{option} holds control characters: {value!r}")
    if Path(args.output).suffix.lower() != ".safetensors":  # what it writes, and loads
        raise UsageError(f"-o {args.output}: pack writes a .safetensors file; name it so")
    _check_output_file(args.output)  # before the checkpoint is read
    if args.add_heads:
        from gan3d_core.training.staged import ensemble_image_heads

        networks, card = ensemble_image_heads(args.checkpoint, args.add_heads)
    else:
        networks, card = load_checkpoint(args.checkpoint)
    for key, value in (("name", args.name), ("recipe", args.recipe)):
        if value:
            card[key] = value
    inference = dict(inference_settings(card))
    staged_only = [option for option, value in (
        ("--framing-shift", args.framing_shift), ("--refine-steps", args.refine_steps),
        ("--retrieval-candidates", args.retrieval_candidates)) if value is not None]  # fmt: skip
    if staged_only and card["config"].get("kind", "gan") != "lgan":
        raise UsageError(
            f"{', '.join(staged_only)}: only staged models (--recipe) reconstruct with fitting; "
            f"{args.checkpoint} is a {card['config'].get('kind', 'gan')} model"
        )
    if args.framing_shift is not None:
        if not 0.0 <= args.framing_shift <= MAX_FRAMING_SHIFT:
            raise UsageError(f"--framing-shift must be in [0, {MAX_FRAMING_SHIFT}]")
        inference["framing_shift"] = args.framing_shift
    for option, key, high in (
        ("--refine-steps", "refine_steps", limits.MAX_REFINE_STEPS),
        ("--retrieval-candidates", "retrieval_candidates", limits.MAX_RETRIEVAL_CANDIDATES),
    ):
        value = getattr(args, key)
        if value is not None:
            _check_range(option, value, 0, high)
            inference[key] = value
    if inference:  # end-to-end models have no inference settings
        card["inference"] = inference
    for file in args.metrics or []:
        result = read_json(file, "evaluation result", expect=object)
        if (
            not isinstance(result, dict)
            or result.get("task") not in ("recon", "autoencode", "gen", "classify")
            or not isinstance(result.get("views", 1), int)
        ):
            raise InputFileError(f"{file}: not the output of gan3d eval --json")
        if "model" in result and not is_model(card, result["model"]):
            raise InputFileError(
                f"{file}: measured another model ({result.get('checkpoint', 'unnamed')}), "
                f"not {args.checkpoint}"
            )
        key = evaluation_key(result, refine_steps(card))
        card.setdefault("metrics", {})[key] = result
    storage = "int8" if args.int8 else "float16" if args.half else None
    print(save_checkpoint(args.output, networks, without_folders(card), storage))
    return 0


def evaluation_key(result: dict, default_refine: int = 0) -> str:
    """Where a ``gan3d eval`` result goes in a model card: recon_1view_auto, gen, classify,
    shapenet_chairs_recon_...; a staged model's reconstruction measured with other fitting
    steps than the card's ``default_refine`` (what a user gets) is told apart:
    recon_1view_auto_refine30, recon_1view_auto_refine0; autoencoding likewise against
    its own default steps: autoencode, autoencode_refine0, autoencode_given. A result
    measured on the training shapes (``--subset train``) is kept apart: train_recon_...,
    so it neither replaces nor reads as a held-out figure."""
    if result["task"] == "autoencode":
        from gan3d_core.fitting import VoxelFitSettings

        key = "autoencode_given" if result.get("labels") == "given" else "autoencode"
        default_refine = VoxelFitSettings().steps
    elif result["task"] == "recon":
        key = f"recon_{result.get('views', 1)}view_{result.get('labels', 'auto')}"
    else:
        key = str(result["task"])
    refine = result.get("refine")
    fitted = result["task"] in ("autoencode", "recon") and isinstance(refine, int)
    if fitted and refine != (default_refine or 0):
        key += f"_refine{refine}"
    if result.get("dataset"):
        key = f"{result['dataset']}_{key}"
    if result.get("subset") == "train":
        key = f"train_{key}"
    return key


def cmd_sample(args: argparse.Namespace) -> int:
    _check_range("-n", args.n, 1, limits.MAX_SHAPES)
    if args.truncation is not None and not limits.MIN_TRUNCATION <= args.truncation < np.inf:
        raise UsageError(
            f"--truncation must be a number of at least {limits.MIN_TRUNCATION}, "
            f"got {args.truncation}"
        )
    _check_surface_resolution(args.surface_resolution, args.n)
    options = _export_options(args)
    directory = _output_dir(args.output, "sample")
    model = _load_model(args)
    options = options.scaled_for(model.resolution, args.surface_resolution or model.resolution)
    labels = args.class_name or model.seeded_labels(args.n, args.seed)
    if labels is None:
        classes = [None] * args.n
    elif args.class_name:
        classes = [args.class_name] * args.n
    else:
        classes = [model.class_names[label] for label in labels]
    paths = [
        directory / f"sample_{f'{name}_' if name else ''}{args.seed}_{i:03d}.{args.format}"
        for i, name in enumerate(classes)
    ]
    latent_paths = [path.with_suffix(LATENT_SUFFIX) for path in paths]
    _refuse_existing(paths + (latent_paths if args.save_latents else []))
    latents = model.sample_latents(
        args.n, seed=args.seed, truncation=args.truncation, labels=labels
    )
    shapes = _decode(model, latents, labels, args.surface_resolution)
    # an empty shape is named and left out; the others are written
    kept = [i for i, shape in enumerate(shapes) if shape.max() > options.threshold]
    _write_shapes(shapes[kept], [paths[i] for i in kept], options, "writing")
    if args.save_latents:
        from gan3d_core.io.latent_files import write_latent

        for i in kept:
            print(write_latent(latent_paths[i], latents[i], classes[i]))
    if len(kept) < args.n:
        from gan3d_core.errors import EmptyShapeError

        empty = [paths[i].name for i in range(args.n) if i not in kept]
        raise EmptyShapeError(
            f"{len(empty)} of {args.n} shapes are empty at threshold {options.threshold:g} "
            f"and were not written ({', '.join(empty[:3])}{', ...' if len(empty) > 3 else ''}); "
            "lower --threshold"
        )
    return 0


def cmd_reconstruct(args: argparse.Namespace) -> int:
    from gan3d_core.mesh.export import export_format

    if args.refine is not None:
        _check_range("--refine", args.refine, 0, limits.MAX_REFINE_STEPS)
    if args.each:
        return _reconstruct_each(args)
    if args.format is not None:
        raise UsageError("--format goes with --each; otherwise OUT's suffix sets the format")
    if args.skip_existing:
        raise UsageError("--skip-existing goes with --each; one OUT is replaced, as exporters do")
    from gan3d_core.io.atomic import all_or_none, check_output_path, check_writable_folder
    from gan3d_core.io.latent_files import latent_class_path, write_latent

    export_format(args.output)
    _refuse_latent_name(args.output, "; --save-latent writes the latent")
    latent_path = Path(args.output).with_suffix(LATENT_SUFFIX)
    besides = [latent_path, latent_class_path(latent_path)] if args.save_latent else []
    for path in [args.output, *besides]:
        check_output_path(path)
    check_writable_folder(Path(args.output).parent)  # before the photos are read
    options = _export_options(args)
    _check_range("the number of images", len(args.images), 1, limits.MAX_VIEWS)
    _check_surface_resolution(args.surface_resolution)
    _check_photos(args, args.images, args.box)
    model = _load_model(args)
    options = options.scaled_for(model.resolution, args.surface_resolution or model.resolution)
    if args.surface_resolution is not None:
        model.require_implicit_decoder()
    found, summary, shape = _reconstructed(
        model, args, args.images, "reconstructing", pool=args.pool, box=args.box
    )
    print(summary, file=sys.stderr)
    with all_or_none(args.output, *besides):  # as encode and sample (audit: a full disk)
        _write_shape(shape[0], args.output, options)
        if args.save_latent:
            print(write_latent(latent_path, found.latent, _class_name(model, found.label)))
    return 0


def _check_photos(args: argparse.Namespace, photos, box) -> None:
    """The model can reconstruct (its header says) and each photo reads (with ``box``
    inside it): said before the seconds a model takes to load."""
    _model_config(args).require_reconstruction(args.model)
    for photo in photos:
        _check_photo(photo, box)


def _check_photo(photo: str, box) -> None:
    """Read ``photo`` (and see that ``box`` fits it), so that a broken one is named before
    the seconds a model takes to load; one in memory at a time."""
    from gan3d_core.images import check_box_inside, load_image

    pixels = load_image(photo)
    if box is not None:
        try:
            check_box_inside(box, pixels.shape[:2])
        except UsageError as exc:
            raise UsageError(f"{photo}: {exc}") from None


def _reconstructed(model, args: argparse.Namespace, images, description: str, **choices):
    """One object from its photo(s) with the command's class, fitting and surface
    options: what the model found, that said in one line, and the shape (1, R, R, R)."""
    with progress_bar(description) as progress:
        found = model.reconstruct_latent(
            images, label=args.class_name, refine=args.refine, progress=progress, **choices
        )
    summary = found.describe(model.class_names, args.class_name is not None)
    shape = model.decode(found.latent[None], found.label, resolution=args.surface_resolution)
    return found, summary, shape


def _reconstruct_each(args: argparse.Namespace) -> int:
    """--each: every photo is its own object, written to OUT/NAME.FORMAT (and
    NAME.latent.npy with --save-latent). Every photo is read before the model loads, so a
    broken one is named before any work; each shape is written as soon as it is made, so
    an interrupted batch keeps what it finished, and a photo whose shape comes out empty
    is named and skipped (the exit status says so at the end)."""
    from gan3d_core.errors import EmptyShapeError
    from gan3d_core.io.latent_files import write_latent

    for option, words in (("pool", "--pool combines views of one object"),
                          ("box", "--box marks one photo's object, in its pixels")):  # fmt: skip
        if getattr(args, option) is not None:
            raise UsageError(f"{words}; with --each every photo is an object of its own")
    options = _export_options(args)
    _check_range("the number of images", len(args.images), 1, limits.MAX_EACH_PHOTOS)
    _check_surface_resolution(args.surface_resolution)  # one shape is held at a time
    directory = _output_dir(args.output, "reconstruct --each")
    stems = _output_stems(args.images, "photos", "reconstruct")
    paths = [directory / f"{stem}.{args.format or 'stl'}" for stem in stems]
    latent_paths = [directory / f"{stem}{LATENT_SUFFIX}" for stem in stems]
    for photo, path in zip(args.images, paths):
        if is_latent_path(path):  # gan3d interpolate --latents would take the shape for one
            raise UsageError(
                f"{photo}: its shape would be {path.name}, a latent's name; rename the photo"
            )
    jobs = list(zip(args.images, paths, latent_paths))

    def missing(job) -> list[Path]:  # what a photo's reconstruction still has to write
        _, path, latent_path = job
        outputs = (path, latent_path) if args.save_latent else (path,)
        return [file for file in outputs if not file.is_file()]  # a folder is not one

    if args.skip_existing:  # an interrupted batch goes on where it stopped
        done = [job for job in jobs if not missing(job)]
        jobs = [job for job in jobs if missing(job)]
        if done:
            print(f"{len(done)} of {len(paths)} photos have their outputs in {directory} "
                  "already: skipped", file=sys.stderr)  # fmt: skip
        outputs = [file for job in jobs for file in missing(job)]
    else:
        outputs = [path for _, path, _ in jobs]
        if args.save_latent:
            outputs += [latent_path for _, _, latent_path in jobs]
    _refuse_existing(outputs, "" if args.skip_existing else ", or --skip-existing to go on")
    _check_photos(args, [photo for photo, _, _ in jobs], None)
    model = _load_model(args)
    options = options.scaled_for(model.resolution, args.surface_resolution or model.resolution)
    if args.surface_resolution is not None:
        model.require_implicit_decoder()
    empty = []
    for index, (photo, path, latent_path) in enumerate(jobs):
        found, summary, shape = _reconstructed(
            model, args, photo, f"reconstructing {index + 1} of {len(jobs)}"
        )
        print(f"{Path(photo).name}: {summary}", file=sys.stderr)
        try:
            if not path.exists():  # with --skip-existing, only its latent may be missing
                _write_shapes(shape, [path], options, f"writing {path.name}")
        except EmptyShapeError as exc:
            print(f"{Path(photo).name}: skipped, {first_line(exc)}", file=sys.stderr)
            empty.append(Path(photo).name)
            continue
        if args.save_latent and not latent_path.exists():
            print(write_latent(latent_path, found.latent, _class_name(model, found.label)))
    if empty:
        raise EmptyShapeError(
            f"{len(empty)} of {len(jobs)} photos made an empty shape at threshold "
            f"{options.threshold:g} and were not written ({', '.join(empty[:3])}"
            f"{', ...' if len(empty) > 3 else ''}); lower --threshold"
        )
    return 0


def cmd_encode(args: argparse.Namespace) -> int:
    from gan3d_core.data.datasets import load_shape_grid
    from gan3d_core.io.latent_files import latent_class_path, write_latent

    _check_range("the number of shapes", len(args.shapes), 1, limits.MAX_SHAPES)
    if args.steps is not None:
        _check_range("--steps", args.steps, 0, limits.MAX_REFINE_STEPS)
    options = _export_options(args)
    directory = _output_dir(args.output, "encode")
    stems = _output_stems(args.shapes, "inputs", "encode")  # a.v1.npy -> a.v1.latent.npy
    latent_paths = [directory / f"{stem}{LATENT_SUFFIX}" for stem in stems]
    shape_paths = [directory / f"{stem}.{args.format}" for stem in stems] if args.format else []
    _refuse_existing(latent_paths + shape_paths)
    for path in args.shapes:  # said before the model loads
        refuse_latent_as_shape(path)
    config = _model_config(args)  # the shapes are read before the model loads
    config.require_shape_encoder(args.model)
    grids = np.stack([load_shape_grid(path, config.resolution, args.up) for path in args.shapes])
    model = _load_model(args)
    if args.class_name is not None:
        model.label_index(args.class_name)
    if args.up == "auto":  # the files' convention assumed: say where the model disagrees
        for path, grid in zip(args.shapes, grids):
            if other := model.reads_better_other_up(grid, path):
                axis, read, turned = other
                print(f"note: {path} reads better {axis} up (IoU {turned:.2f} against "
                      f"{read:.2f}); if it is, use --up {axis}", file=sys.stderr)  # fmt: skip
    with progress_bar("encoding") as progress:
        encoded = model.encode_shapes(grids, args.class_name, args.steps, progress)
    if args.format:  # all or none, as every command that writes shapes
        _write_shapes(encoded.shapes, shape_paths, options, "writing")
    begun: list[Path] = []  # before each write: it may land before an interrupt
    try:
        directory.mkdir(parents=True, exist_ok=True)
        labels = encoded.labels if encoded.labels is not None else [None] * len(latent_paths)
        for path, latent, label in zip(latent_paths, encoded.latents, labels):
            begun.append(path)
            write_latent(path, latent, _class_name(model, label))
    except BaseException:
        for path in begun + [latent_class_path(path) for path in begun] + shape_paths:
            path.unlink(missing_ok=True)
        raise
    for index, path in enumerate(latent_paths):  # stdout: the latents, one per line
        label = encoded.labels[index] if encoded.labels is not None else None
        named = ""
        if label is not None:
            named = f"class {model.class_names[label] if model.class_names else label}, "
        print(path)
        print(f"{path.name}: {named}decodes at IoU {encoded.iou[index]:.3f} with the input",
              file=sys.stderr)  # fmt: skip
    return 0


def cmd_interpolate(args: argparse.Namespace) -> int:
    from gan3d_core.io.inputs import load_latent
    from gan3d_core.latent import interpolate, interpolated_label

    _check_range("--steps", args.steps, 2, limits.MAX_SHAPES)
    _check_surface_resolution(args.surface_resolution, args.steps)
    options = _export_options(args)
    directory = _output_dir(args.output, "interpolate")
    if args.seeds is None:  # the latents are read before the model loads
        latent_dim = _model_config(args).latent_dim
        start, end = (load_latent(path, latent_dim) for path in args.latents)
    model = _load_model(args)
    options = options.scaled_for(model.resolution, args.surface_resolution or model.resolution)
    ends: list = [args.class_name] * 2
    if args.seeds is not None:  # the ends `sample -n 1 --seed A` and `--seed B` give
        if args.class_name is None and model.config.conditional:
            ends = [model.seeded_labels(1, seed)[0] for seed in args.seeds]
        start, end = (
            model.sample_latents(1, seed=seed, labels=label)[0]
            for seed, label in zip(args.seeds, ends)
        )
    elif args.class_name is None and model.config.conditional:
        ends = [model.latent_file_label(path, latent)
                    for path, latent in zip(args.latents, (start, end))]  # fmt: skip
    latents = interpolate(start, end, args.steps, method=args.method)
    labels = args.class_name
    if labels is None and model.config.conditional:
        steps = np.linspace(0.0, 1.0, args.steps)
        labels = [interpolated_label(ends[0], ends[1], t) for t in steps]
        _say_classes(model, labels)
    shapes = _decode(model, latents, labels, args.surface_resolution)
    paths = [directory / f"interp_{i:03d}.{args.format}" for i in range(args.steps)]
    _write_shapes(shapes, paths, options, "writing")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from gan3d_core.mesh.export import export_format

    export_format(args.output)
    _refuse_latent_name(args.output)
    options = _export_options(args)
    _check_output_file(args.output)  # before the grid is read and meshed
    from gan3d_core.data.datasets import load_grid_z_up  # imports torch: after the checks

    voxels = load_grid_z_up(args.voxels, args.up)
    try:
        _write_shape(voxels, args.output, options)
    except UsageError as exc:  # the grid itself is the problem: name its file
        raise InputFileError(f"{args.voxels}: {exc}") from None
    return 0


def cmd_voxelize(args: argparse.Namespace) -> int:
    from gan3d_core.mesh.export import export_format, export_voxels
    from gan3d_core.mesh.voxelize import voxelize_mesh

    suffix = export_format(args.output)
    if suffix not in (".binvox", ".npy"):
        raise InputFileError(f"{args.output}: voxelize writes .binvox or .npy, not {suffix}")
    _check_range("-r", args.resolution, 4, limits.MAX_GRID_SIDE)
    _refuse_latent_name(args.output)
    _check_output_file(args.output)  # before the mesh is read and voxelized
    from gan3d_core.data.datasets import load_mesh_z_up  # imports torch: after the checks

    mesh = load_mesh_z_up(args.mesh, args.up)
    try:
        voxels = voxelize_mesh(mesh, args.resolution)
    except UsageError as exc:
        raise InputFileError(f"{args.mesh}: {exc}") from None
    print(export_voxels(voxels.astype(np.float32), args.output))
    return 0


# -- parser ------------------------------------------------------------------------------


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", metavar="CKPT", help="checkpoint (default: the bundled model)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default auto)")


def _add_surface_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--surface-resolution",
        type=int,
        metavar="N",
        help="models with an implicit decoder: sample the shape on an N^3 grid "
        f"({limits.MIN_SURFACE_RESOLUTION}..{limits.MAX_GRID_SIDE}; e.g. 128) for a finer "
        "surface than the model's own grid",
    )


def _add_export_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("mesh options")
    group.add_argument("--threshold", type=float, default=0.5, help="iso level (default 0.5)")
    group.add_argument(
        "--style",
        choices=("smooth", "blocks"),
        default="smooth",
        help="marching-cubes surface or one cube per voxel (default smooth)",
    )
    group.add_argument(
        "--smooth",
        type=int,
        default=limits.DEFAULT_SMOOTH_ITERATIONS,
        metavar="N",
        help=f"Taubin smoothing iterations (default {limits.DEFAULT_SMOOTH_ITERATIONS}; 0: none)",
    )
    group.add_argument(
        "--faces", type=int, default=None, metavar="N", help="decimate to at most N triangles"
    )
    group.add_argument(
        "--size-mm",
        type=float,
        default=None,
        metavar="MM",
        help="scale so the longest side is MM (unsized: a voxel a unit; a GLB's grid 1 m)",
    )
    group.add_argument(
        "--min-part",
        type=float,
        default=0.0,
        metavar="PERCENT",
        help="leave out separate parts smaller than PERCENT %% of the largest part (specks a "
        "printer would make loose blobs of; default 0: keep all)",
    )


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one line and exit code 1 like every other refusal."""

    def error(self, message: str):
        self.exit(1, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def parse_args(self, args=None, namespace=None):
        """An option the command does not know is said by the command's parser (`gan3d
        train: ... (see gan3d train --help)`), not by gan3d's."""
        given, args = list(sys.argv[1:] if args is None else args), []
        while given:
            token = given.pop(0)
            if token == "--box" and given and given[0][:1] == "-" and given[0][1:2].isdigit():
                # argparse takes "-10,5,80,80" for an option and says "expected one
                # argument"; as --box=-10,... the box's own check names what is wrong
                token = f"--box={given.pop(0)}"
            args.append(token)
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            commands = next(
                (a.choices for a in self._actions if isinstance(a, argparse._SubParsersAction)), {}
            )
            chosen = commands.get(getattr(parsed, "command", None), self)
            chosen.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed


def build_parser() -> argparse.ArgumentParser:
    from gan3d_core import __version__

    parser = _Parser(
        prog="gan3d", description="Generate, reconstruct and export 3D shapes with volumetric GANs."
    )
    parser.add_argument("--version", action="version", version=f"gan3d {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    info = commands.add_parser("info", help="show a checkpoint's model card")
    info.add_argument(
        "checkpoint", metavar="CKPT", nargs="?", help="checkpoint (default: the bundled model)"
    )
    info.add_argument("--json", action="store_true", help="print the card as JSON")
    info.set_defaults(func=cmd_info)

    pack = commands.add_parser(
        "pack",
        help="copy a checkpoint for shipping: float16 or int8 weights, eval results in its card",
    )
    pack.add_argument("checkpoint", metavar="CKPT")
    pack.add_argument("-o", "--output", required=True, metavar="OUT.safetensors")
    storage = pack.add_mutually_exclusive_group()
    storage.add_argument("--half", action="store_true", help="store weights as float16")
    storage.add_argument(
        "--int8",
        action="store_true",
        help="store large weight matrices as int8 with a scale per group of 128 weights of "
        "a row, the rest as float16",
    )
    pack.add_argument("--metrics", nargs="+", metavar="EVAL.json",
                      help="outputs of gan3d eval --json to record in the card")  # fmt: skip
    pack.add_argument(
        "--add-heads",
        nargs="+",
        metavar="CKPT",
        help="staged models whose image heads join CKPT's, averaged (each "
        "trained with --init-from CKPT --autoencoder-steps 0 "
        "--latent-gan-steps 0 and its own --seed)",
    )
    pack.add_argument("--name", help="the model's name in its card")
    pack.add_argument("--recipe", help="the recipe it was trained with (gan3d train --recipe)")
    pack.add_argument(
        "--framing-shift",
        type=float,
        metavar="F",
        help="staged models: the image head also reads each view moved by F of its side "
        "left, right, up and down, and averages (0: off)",
    )
    pack.add_argument(
        "--refine-steps",
        type=int,
        metavar="N",
        help="staged models: silhouette-fitting steps reconstruct takes when not told "
        "(--refine; 0: off)",
    )
    pack.add_argument(
        "--retrieval-candidates",
        type=int,
        metavar="K",
        help="staged models: retrieved training shapes that fitting may start from besides "
        "the image head's prediction (0: the prediction only)",
    )
    pack.set_defaults(func=cmd_pack)

    sample = commands.add_parser("sample", help="generate random shapes")
    _add_model_options(sample)
    sample.add_argument("-n", type=int, default=1, help="number of shapes (default 1)")
    sample.add_argument("--seed", type=seed_number, default=0, help="random seed (default 0)")
    sample.add_argument(
        "--class",
        dest="class_name",
        metavar="NAME",
        help="class (conditional models; default: every class in turn, in an order the seed sets)",
    )
    sample.add_argument(
        "--truncation",
        type=float,
        default=None,
        metavar="T",
        help="redraw latent components beyond +-T (default: none redrawn)",
    )
    sample.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    sample.add_argument(
        "--format", choices=FORMATS, default="stl", help="file format (default stl)"
    )
    sample.add_argument(
        "--save-latents",
        action="store_true",
        help="also write each shape's latent as NAME.latent.npy",
    )
    _add_surface_option(sample)
    _add_export_options(sample)
    sample.set_defaults(func=cmd_sample)

    reconstruct = commands.add_parser("reconstruct", help="3D shape of one object from photos")
    _add_model_options(reconstruct)
    reconstruct.add_argument("images", nargs="+", metavar="IMAGE",
                             help="1..N views of one object (with --each: one object each)")  # fmt: skip
    reconstruct.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="output file (.stl .3mf .obj .ply .glb .binvox .npy); with --each, a folder",
    )
    reconstruct.add_argument(
        "--each",
        action="store_true",
        help="every photo is a different object: one shape per photo, OUT/NAME.FORMAT",
    )
    reconstruct.add_argument(
        "--format", choices=FORMATS, default=None, help="with --each: file format (default stl)"
    )
    reconstruct.add_argument(
        "--skip-existing",
        action="store_true",
        help="with --each: leave out photos whose shape is in OUT already (an interrupted "
        "batch goes on)",
    )
    reconstruct.add_argument(
        "--pool",
        choices=("mean", "max", "lstm"),
        default=None,
        help="combine views (default: as the model was trained)",
    )
    reconstruct.add_argument(
        "--class",
        dest="class_name",
        metavar="NAME",
        help="class for conditional models (default: the most plausible)",
    )
    reconstruct.add_argument(
        "--box",
        type=_box,
        metavar="X,Y,W,H",
        help="where the object is in a cluttered photo, in pixels: GrabCut separates it "
        "from the background (default: automatic when the border is not a plain colour)",
    )
    reconstruct.add_argument(
        "--refine",
        type=int,
        metavar="STEPS",
        help="staged (lgan) models: steps fitting the shape to the photos' silhouettes "
        "(default: the model card's; 0: off)",
    )
    reconstruct.add_argument(
        "--save-latent",
        "--save-latents",  # as sample spells it
        dest="save_latent",
        action="store_true",
        help="also write the shape's latent beside OUT as NAME.latent.npy (for interpolate "
        "--latents or the app)",
    )
    _add_surface_option(reconstruct)
    _add_export_options(reconstruct)
    reconstruct.set_defaults(func=cmd_reconstruct)

    encode = commands.add_parser(
        "encode", help="latents of 3D shapes, to edit, interpolate or decode them"
    )
    _add_model_options(encode)
    encode.add_argument("shapes", nargs="+", metavar="SHAPE",
                        help="shape files: .binvox .npy grids or OFF OBJ STL PLY glTF 3MF meshes")  # fmt: skip
    encode.add_argument("-o", "--output", required=True, metavar="DIR",
                        help="output folder: NAME.latent.npy for each shape")  # fmt: skip
    encode.add_argument("--steps", type=int, metavar="N",
                        help="steps fitting each latent to its shape after the shape encoder "
                        "(default 50; 0: the encoder alone)")  # fmt: skip
    encode.add_argument("--class", dest="class_name", metavar="NAME",
                        help="class for conditional models (default: the nearest training "
                        "shape's)")  # fmt: skip
    encode.add_argument("--up", choices=UP_AXES, default="auto", help=UP_HELP)
    encode.add_argument("--format", choices=FORMATS,
                        help="also write each shape as the model decodes it, in this format")  # fmt: skip
    _add_export_options(encode)
    encode.set_defaults(func=cmd_encode)

    interp = commands.add_parser("interpolate", help="shapes between two latents")
    _add_model_options(interp)
    interp.add_argument(
        "--steps", type=int, required=True, metavar="K", help="shapes, ends included"
    )
    ends = interp.add_mutually_exclusive_group(required=True)
    ends.add_argument(
        "--seeds", type=seed_number, nargs=2, metavar=("A", "B"), help="latents from two seeds"
    )
    ends.add_argument("--latents", nargs=2, metavar=("A.npy", "B.npy"), help="latents from files")
    interp.add_argument(
        "--method", choices=("slerp", "lerp"), default="slerp",
        help="spherical (slerp, default) or straight (lerp) between the two latents",
    )  # fmt: skip
    interp.add_argument(
        "--class",
        dest="class_name",
        metavar="NAME",
        help="class (conditional models; default: each step the nearer end's: --seeds ends "
        "as sample -n 1 --seed gives them, a latent file's as stored beside it or as the "
        "model reads it)",
    )
    interp.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    interp.add_argument(
        "--format", choices=FORMATS, default="stl", help="file format (default stl)"
    )
    _add_surface_option(interp)
    _add_export_options(interp)
    interp.set_defaults(func=cmd_interpolate)

    export = commands.add_parser("export", help="voxels (.binvox, .npy) to a mesh file")
    export.add_argument(
        "voxels", metavar="VOXELS", help="a voxel grid: .binvox, or .npy of (R, R, R) occupancy"
    )
    export.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="output file (.stl .3mf .obj .ply .glb .binvox .npy)",
    )
    export.add_argument("--up", choices=UP_AXES, default="auto", help=UP_HELP)
    _add_export_options(export)
    export.set_defaults(func=cmd_export)

    voxelize = commands.add_parser(
        "voxelize", help="mesh (OFF OBJ STL PLY GLB 3MF) to a solid grid"
    )
    voxelize.add_argument("mesh", metavar="MESH", help="a mesh: OFF, OBJ, STL, PLY, glTF or 3MF")
    voxelize.add_argument("-r", "--resolution", type=int, default=32, help="grid size (default 32)")
    voxelize.add_argument("-o", "--output", required=True, metavar="OUT", help=".binvox or .npy")
    voxelize.add_argument("--up", choices=UP_AXES, default="auto", help=UP_HELP)
    voxelize.set_defaults(func=cmd_voxelize)

    from gan3d_core.training.cli import add_eval_parser, add_render_parser, add_train_parser

    add_render_parser(commands)
    add_train_parser(commands)
    add_eval_parser(commands)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``timeout``, a CI job cancelled): handled as Ctrl-C is, so a batch
    leaves none of its files half made."""


def _terminate(signum, frame) -> None:
    raise Terminated(signum)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # a closed terminal (SIGHUP) ends a command as kill does: its files are not left half made
    hangup = signal.SIGHUP if hasattr(signal, "SIGHUP") else None
    if hangup is not None and signal.getsignal(hangup) is signal.SIG_IGN:
        hangup = None  # nohup: the command is meant to outlive its terminal
    previous = {number: signal.signal(number, _terminate) for number in (signal.SIGTERM, hangup)
                if number is not None}  # fmt: skip
    try:
        # Over- and underflow in hostile numbers are refused by the checks that follow them,
        # with a message; numpy's warnings would only add lines to stderr.
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            code = args.func(args)
        sys.stdout.flush()  # here, so that a reader gone away is met by the handler below
        return code
    except Terminated as stopped:
        print(f"gan3d {args.command}: terminated", file=sys.stderr)
        return 128 + stopped.args[0]  # as a shell reports it: 143 for SIGTERM, 129 for SIGHUP
    except KeyboardInterrupt:
        print(f"gan3d {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `gan3d info CKPT | head`: the reader has what it wanted
        # Python flushes stdout once more at exit; point it at nothing so that flush is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # what a shell reports for a command ended by SIGPIPE (128 + 13)
    except Gan3dError as exc:  # the user's input; anything else is a bug: its traceback shows
        if os.environ.get("GAN3D_DEBUG"):
            raise
        print(f"gan3d {args.command}: error: {first_line(exc)}", file=sys.stderr)
        return 1
    except OSError as exc:  # a path the system refused (a name too long, no permission)
        if exc.errno is None or os.environ.get("GAN3D_DEBUG"):
            raise  # not the system's answer: a bug
        where = f"{exc.filename}: " if exc.filename is not None else ""  # stdout, say
        print(f"gan3d {args.command}: error: {where}{exc.strerror}", file=sys.stderr)
        return 1
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


if __name__ == "__main__":
    sys.exit(main())

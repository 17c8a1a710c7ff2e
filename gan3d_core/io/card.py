"""The model card's schema: every field a reader uses is checked on load, by type and size.

A card passes or the checkpoint is refused with a :class:`CheckpointError` naming the file
and the field; code that reads a loaded card (``gan3d info``, ``sample``, ``eval``, the app)
can then rely on the types below. Unknown top-level fields are kept (a newer writer may add
some); the model config is checked by :meth:`ModelConfig.from_dict` with its own types and
the size limits of :mod:`gan3d_core.limits`.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path, PureWindowsPath
from typing import Any

from gan3d_core.config import ModelConfig
from gan3d_core.errors import CheckpointError, first_line
from gan3d_core.limits import (
    MAX_CLASS_NAME_CHARS,
    MAX_FRAMING_SHIFT,
    MAX_NUM_CLASSES,
    MAX_REFINE_STEPS,
)
from gan3d_core.schema import (
    check_field_types,
    class_name_problem,
    has_control_characters,
    shown,
)

# Optional top-level fields and the JSON type each must have when present.
CARD_FIELD_TYPES: dict[str, type] = {
    "format": str,
    "name": str,
    "recipe": str,
    "storage": str,
    "class_names": list,
    "training": dict,
    "metrics": dict,
}
STORAGE_KINDS = ("float16", "int8")
PRINTED_FIELDS = ("name", "recipe")  # shown by gan3d info and the app as they are


def validate_card(path: Path, card: Any, format_version: int) -> ModelConfig:
    """Check a parsed model card field by field; return its model config."""
    if not isinstance(card, dict):
        raise CheckpointError(f"{path}: model card must be a JSON object, not {shown(card)}")
    version = card.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(f"{path}: model card has no integer format_version")
    if version > format_version:
        raise CheckpointError(
            f"{path}: checkpoint format {version} is newer than this gan3d-studio reads "
            f"({format_version}); upgrade gan3d-studio"
        )
    if not isinstance(card.get("config"), dict):
        raise CheckpointError(f"{path}: model card has no model config")
    for name, kind in CARD_FIELD_TYPES.items():
        if name in card and not isinstance(card[name], kind):
            expected = {str: "a string", list: "a list", dict: "an object"}[kind]
            raise CheckpointError(
                f"{path}: model card field {name} must be {expected}, got {shown(card[name])}"
            )
    for name in PRINTED_FIELDS:
        if name in card and has_control_characters(card[name]):
            raise CheckpointError(
                f"{path}: model card field {name} holds control characters: {card[name]!r}"
            )
    if card.get("storage", STORAGE_KINDS[0]) not in STORAGE_KINDS:
        raise CheckpointError(f"{path}: unknown weight storage {shown(card['storage'])}")
    try:
        config = ModelConfig.from_dict(card["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: {first_line(exc)}") from None
    _check_class_names(path, card.get("class_names"), config)
    settings = card.get("training", {}).get("settings")
    if settings is not None:
        _check_training_settings(path, settings)
    return config


def _check_class_names(path: Path, names: list | None, config: ModelConfig) -> None:
    if not names:
        return
    if len(names) > MAX_NUM_CLASSES:
        raise CheckpointError(
            f"{path}: model card lists {len(names)} class names, over the limit of "
            f"{MAX_NUM_CLASSES}"
        )
    for name in names:
        if not isinstance(name, str) or not 1 <= len(name) <= MAX_CLASS_NAME_CHARS:
            raise CheckpointError(
                f"{path}: model card class_names must be names of 1 to {MAX_CLASS_NAME_CHARS} "
                f"characters, got {shown(name)}"
            )
        problem = class_name_problem(name)
        if problem:
            raise CheckpointError(f"{path}: model card class name {name!r} {problem}")
    if len(set(names)) != len(names):
        raise CheckpointError(f"{path}: model card class_names has duplicates")
    if config.conditional and len(names) != config.num_classes:
        raise CheckpointError(
            f"{path}: model card has {len(names)} class names for a model of "
            f"{config.num_classes} classes"
        )


def _check_training_settings(path: Path, settings: Any) -> None:
    """The recorded training split (``gan3d eval --subset``) uses TrainConfig's types."""
    from gan3d_core.training.config import TrainConfig

    if not isinstance(settings, dict):
        raise CheckpointError(f"{path}: model card training.settings must be an object")
    try:
        check_field_types(TrainConfig, settings, "model card training.settings")
    except ValueError as exc:
        raise CheckpointError(f"{path}: {exc}") from None


# Card fields that record a file the model came from: a training set, a checkpoint it
# started from or joined, the model an evaluation measured.
RECORDED_FILE_KEYS = frozenset(
    {"data", "init_from", "kept_from", "from", "checkpoint", "cache_dir"}
)


def without_folders(record: Any) -> Any:
    """``record`` (a card or part of one) with each recorded file named by its file name
    alone: where it lay on the machine that trained or packed the model means nothing to
    whoever opens it, and tells them about that machine."""
    if isinstance(record, dict):
        return {
            # PureWindowsPath splits at / and \ both: a Windows path packed elsewhere too
            key: PureWindowsPath(value).name
            if key in RECORDED_FILE_KEYS and isinstance(value, str)
            else without_folders(value)
            for key, value in record.items()
        }
    if isinstance(record, list):
        return [without_folders(item) for item in record]
    return record


def model_fingerprint(card: dict[str, Any]) -> str:
    """Which model a card describes, whatever its measured figures, storage or the folders
    its files were in: the SHA-256 of its config, classes and training record. ``gan3d
    eval`` files its results under it, ``gan3d pack --metrics`` checks it, sessions
    recognise their model by it."""
    return _digest(without_folders(_described(card)))


def is_model(card: dict[str, Any], fingerprint: Any) -> bool:
    """Whether ``fingerprint`` (an eval result's, a session file's) is this card's model:
    its :func:`model_fingerprint`, or the one gan3d took before it ignored folders."""
    return fingerprint in (model_fingerprint(card), _digest(_described(card)))


def _described(card: dict[str, Any]) -> dict[str, Any]:
    return {key: card.get(key) for key in ("config", "class_names", "training")}


def _digest(described: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()


def inference_settings(card: dict[str, Any]) -> dict[str, Any]:
    """The card's ``inference`` section (a staged model's defaults at reconstruction:
    ``refine_steps``, ``retrieval_candidates``, ``framing_shift``, fitting settings); empty
    when absent or not a mapping, as in a card made elsewhere."""
    inference = card.get("inference")
    return inference if isinstance(inference, dict) else {}


def framing_shift(card: dict[str, Any]) -> float:
    """The card's ``inference.framing_shift`` (0: off) when it is a number in
    [0, MAX_FRAMING_SHIFT]; anything else, as from a card made elsewhere, reads as off."""
    value = inference_settings(card).get("framing_shift")
    if isinstance(value, (int, float)) and 0.0 <= value <= MAX_FRAMING_SHIFT:
        return float(value)
    return 0.0


def refine_steps(card: dict[str, Any]) -> int:
    """The card's ``inference.refine_steps`` (fitting steps by default; 0: none) when it is
    a whole number of steps in [0, MAX_REFINE_STEPS] (10.0 reads as 10); anything else, as
    from a card made elsewhere, reads as none."""
    value = inference_settings(card).get("refine_steps")
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and math.isfinite(value) and value == int(value) and 0 <= value <= MAX_REFINE_STEPS:
        return int(value)
    return 0


def _figure(section: Any, *keys: str) -> float | None:
    """A number deep in a card's metrics or training section (``section[k1][k2]...``), or
    None when any step is missing or not what it should be, as in a card made elsewhere."""
    for key in keys:
        if not isinstance(section, dict):
            return None
        section = section.get(key)
    if not isinstance(section, (int, float)) or isinstance(section, bool):
        return None
    try:
        number = float(section)  # JSON integers have no size limit
    except OverflowError:
        return None
    return number if math.isfinite(number) else None  # NaN and infinity read as absent


def _iou_sentence(result: Any, what: str) -> str | None:
    iou = _figure(result, "iou")
    if iou is None:
        return None
    text = f"IoU {iou:.2f} {what}"
    chairs = _figure(result, "per_class", "chair", "iou")
    if chairs is not None:
        text += f" (chairs {chairs:.2f})"
    baseline = _figure(result, "retrieval_iou")
    if baseline is not None:
        text += f"; copying the most similar training shape: {baseline:.2f}"
    return text


def _measured_on(result: Any) -> str:
    """On which shapes an eval result was measured, in words: the run's held-out split
    or another dataset are shapes the model never saw; every shape of a file may include
    those it trained on."""
    result = result if isinstance(result, dict) else {}
    if result.get("subset") == "validation" or result.get("dataset"):
        return "on shapes it never saw (1 = perfect)"
    data = result.get("data")
    named = f" of {Path(data).name}" if isinstance(data, str) else ""
    return f"on every shape{named}, maybe some it trained on (1 = perfect)"


def quality_rows(metrics: Any) -> list[tuple[str, str]]:
    """The measured quality in a model card's metrics (``gan3d eval`` results, as packed by
    ``gan3d pack --metrics``), in words, as ``gan3d info`` and the app's model panel say
    it; figures that are absent or malformed are left out."""
    rows = []
    metrics = metrics if isinstance(metrics, dict) else {}
    for key, title in (("recon_1view_auto", "From one photo"),
                       ("recon_5view_auto", "From five photos"),
                       ("shapenet_chairs_recon_1view_auto", "ShapeNet chairs, one photo")):  # fmt: skip
        sentence = _iou_sentence(metrics.get(key), _measured_on(metrics.get(key)))
        if sentence is not None:
            rows.append((title, sentence))
    encoded = _figure(metrics, "autoencode", "iou")
    if encoded is not None:  # gan3d encode, File > Open shape
        text = f"decoded back at IoU {encoded:.2f} {_measured_on(metrics['autoencode'])}"
        shapenet = _figure(metrics, "shapenet_chairs_autoencode", "iou")
        if shapenet is not None:
            text += f"; ShapeNet chairs {shapenet:.2f}"
        rows.append(("Your own shapes", text))
    accuracy = _figure(metrics, "recon_1view_auto", "class_accuracy")
    if accuracy is not None:
        rows.append(("Class from one photo", f"right {accuracy:.0%} of the time"))
    coverage, nna = _figure(metrics, "gen", "coverage"), _figure(metrics, "gen", "1-nna")
    if coverage is not None and nna is not None:
        rows.append((
            "Random shapes",
            f"cover {coverage:.0%} of the real ones; 1-NNA {nna:.2f} (0.5: indistinguishable "
            "from real)",
        ))  # fmt: skip
    classify = _figure(metrics, "classify", "accuracy")
    if classify is not None:
        rows.append(("Shape classification", f"{classify:.0%} (linear SVM on features)"))
    return rows


def validation_words(validation: Any, count: int = 3) -> str:
    """A stage's first ``count`` validation figures by name ("validation iou 0.731,
    class_accuracy 0.894"); the internal score and per-class figures are left out, and so
    is what is not a number ("" when nothing is left)."""
    if not isinstance(validation, dict):
        return ""
    named = [(key, _figure(validation, key)) for key in validation
             if key != "score" and not key.startswith("iou_class")]  # fmt: skip
    figures = [f"{key} {value:.3f}" for key, value in named if value is not None]
    return "validation " + ", ".join(figures[:count]) if figures else ""


def training_words(training: Any) -> list[str]:
    """How a model was trained, from its card's ``training`` section, in short lines: the
    data, then each stage's steps and time; what is absent or malformed is left out."""
    if not isinstance(training, dict):
        return []
    lines = []
    data, shapes = training.get("data"), _figure(training, "shapes")
    if isinstance(data, str):
        lines.append(f"{data}" + (f" ({shapes:.0f} shapes)" if shapes is not None else ""))
    steps, epochs = _figure(training, "steps"), _figure(training, "epochs")
    if steps is not None:  # a model trained end to end: one run, no stages
        seconds = _figure(training, "seconds")
        epochs_said = None if epochs is None else f" ({epochs:g} epoch{'s' if epochs != 1 else ''})"
        words = [f"{steps:.0f} steps" + (epochs_said or ""),
                 f"{seconds / 60:.1f} min" if seconds is not None else None,
                 training.get("device") if isinstance(training.get("device"), str) else None]  # fmt: skip
        lines.append(", ".join(word for word in words if word))
    stages = training.get("stages")
    for name, stage in stages.items() if isinstance(stages, dict) else ():
        stage = stage if isinstance(stage, dict) else {}
        steps, seconds = _figure(stage, "steps"), _figure(stage, "seconds")
        words = [f"{steps:.0f} steps" if steps is not None else None,
                 f"{seconds / 60:.1f} min" if seconds is not None else None]  # fmt: skip
        if isinstance(stage.get("device"), str):
            words.append(stage["device"])
        words.append(validation_words(stage.get("validation")))
        lines.append(f"{name}: {', '.join(w for w in words if w) or 'no figures'}")
    return lines

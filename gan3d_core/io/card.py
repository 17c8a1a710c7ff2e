"""The model card's schema: every field a reader uses is checked on load, by type and size.

A card passes or the checkpoint is refused with a :class:`CheckpointError` naming the file
and the field; code that reads a loaded card (``gan3d info``, ``sample``, ``eval``, the app)
can then rely on the types below. Unknown top-level fields are kept (a newer writer may add
some); the model config is checked by :meth:`ModelConfig.from_dict` with its own types and
the size limits of :mod:`gan3d_core.limits`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gan3d_core.config import ModelConfig
from gan3d_core.errors import CheckpointError, first_line
from gan3d_core.limits import MAX_CLASS_NAME_CHARS, MAX_FRAMING_SHIFT, MAX_NUM_CLASSES
from gan3d_core.schema import check_field_types, shown

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

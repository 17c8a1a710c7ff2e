"""Where installed resources live; importing this loads nothing heavy (the app's GUI uses it)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

DEFAULT_MODEL_NAME = "default.safetensors"


def default_model_path() -> Path:
    """Where the bundled default model is installed (it may not exist yet)."""
    return Path(str(files("gan3d_resources") / "models" / DEFAULT_MODEL_NAME))


def installed_default_model() -> Path:
    """The bundled default model's file; a CheckpointError saying so when it is not there."""
    from gan3d_core.errors import CheckpointError

    path = default_model_path()
    if not path.is_file():
        raise CheckpointError(
            f"{path}: no bundled default model is installed; pass a checkpoint path"
        )
    return path

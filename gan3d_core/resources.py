"""Where installed resources live; importing this loads nothing heavy (the app's GUI uses it)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

DEFAULT_MODEL_NAME = "default.safetensors"


def default_model_path() -> Path:
    """Where the bundled default model is installed (it may not exist yet)."""
    return Path(str(files("gan3d_resources") / "models" / DEFAULT_MODEL_NAME))

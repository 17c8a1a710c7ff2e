"""Latent files: NAME.latent.npy, a float32 vector any NumPy reads, and beside it, for a
conditional model's shape, NAME.latent.json naming the class it was decoded as, so that the
file opens as the same shape. Without it a conditional model picks the class itself, and a
latent fitted to a shape can read as another class (a ShapeNet chair's as a table)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from gan3d_core.errors import InputFileError
from gan3d_core.io.atomic import all_or_none, write_bytes_atomic, write_npy_atomic


def latent_class_path(path: str | os.PathLike) -> Path:
    """Where the class of the latent file ``path`` is kept: NAME.latent.json."""
    return Path(path).with_suffix(".json")


def class_name_of(label: int | None, class_names) -> str | None:
    """The name to keep beside a latent decoded with class ``label`` (None: no class)."""
    if label is None:
        return None
    return class_names[int(label)] if class_names else str(int(label))


def write_latent(path: str | os.PathLike, latent: np.ndarray, class_name: str | None) -> Path:
    """Write ``latent`` to ``path`` and its class (None: unconditional) beside it, both
    atomically; a class file left from an earlier latent of that name goes."""
    beside = latent_class_path(path)
    with all_or_none(path, beside):  # a latent is never left with another's class
        written = write_npy_atomic(path, np.asarray(latent, np.float32))
        if class_name is None:
            beside.unlink(missing_ok=True)
        else:
            write_bytes_atomic(beside, json.dumps({"class": class_name}).encode())
    return written


def read_latent_class(path: str | os.PathLike) -> str | None:
    """The class named beside the latent file ``path``, or None when nothing is."""
    from gan3d_core.io.inputs import read_json

    beside = latent_class_path(path)
    if not beside.exists():
        return None
    data = read_json(beside, "latent's class file")
    name = data.get("class")
    if not isinstance(name, str) or not name:
        raise InputFileError(f'{beside}: expected {{"class": NAME}}, got {json.dumps(data)[:80]}')
    return name

"""Read voxel grids from ``.binvox`` and ``.npy`` files."""

from __future__ import annotations

import os

import numpy as np

from gan3d_core.errors import InputFileError
from gan3d_core.io.atomic import check_input_file
from gan3d_core.io.binvox import read_binvox
from gan3d_core.io.inputs import load_npy
from gan3d_core.io.kinds import MESH_SUFFIXES
from gan3d_core.limits import MAX_GRID_SIDE, MAX_GRID_VOXELS


def load_voxels(path: str | os.PathLike) -> np.ndarray:
    """Read a ``.binvox`` or ``.npy`` grid as float32 (X, Y, Z) occupancy in [0, 1]."""
    path = check_input_file(path, "voxel file")
    suffix = path.suffix.lower()
    if suffix == ".binvox":
        return read_binvox(path).voxels.astype(np.float32)
    if suffix != ".npy":
        hint = "; a mesh becomes voxels with gan3d voxelize" if suffix in MESH_SUFFIXES else ""
        raise InputFileError(
            f"{path}: voxels must be .binvox or .npy, got {suffix or '(none)'}{hint}"
        )
    array = load_npy(path, "voxel grid", max_elements=MAX_GRID_VOXELS)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 3:
        raise InputFileError(f"{path}: expected a 3D grid, got {array.dtype} {array.shape}")
    if array.size == 0:
        raise InputFileError(f"{path}: grid has no voxels (shape {array.shape})")
    if max(array.shape) > MAX_GRID_SIDE:
        raise InputFileError(
            f"{path}: grid {array.shape} is larger than the limit of {MAX_GRID_SIDE} a side"
        )
    with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf: refused
        array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise InputFileError(f"{path}: grid contains NaN or infinite values")
    if array.min() < 0 or array.max() > 1:
        raise InputFileError(
            f"{path}: occupancy must be in [0, 1], found {array.min():g}..{array.max():g}"
        )
    return array

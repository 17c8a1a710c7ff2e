"""Shape files by suffix, without loading what reads them (trimesh, torch): the app sorts
dropped files with these in its GUI process."""

from __future__ import annotations

import os
from pathlib import Path

from gan3d_core.errors import InputFileError

MESH_SUFFIXES = (".off", ".obj", ".stl", ".ply", ".glb", ".gltf", ".3mf")
GLTF_SUFFIXES = (".glb", ".gltf")  # y up, by the format's specification
GRID_SUFFIXES = (".binvox", ".npy")
SHAPE_SUFFIXES = GRID_SUFFIXES + MESH_SUFFIXES
# the commands' --up: which way is up in the shape files they read
UP_AXES = ("auto", "z", "y")
UP_HELP = ("the input files' up axis (what is written is z up, a GLB y up): z (ModelNet, binvox, "
           "STL, 3MF) or y (ShapeNet's .binvox, OBJ from Blender); default auto: y for glTF, "
           "z for the rest")  # fmt: skip
# A latent vector, as gan3d encode and gan3d sample --save-latents write it: a .npy too
LATENT_SUFFIX = ".latent.npy"


def is_latent_path(path: str | os.PathLike) -> bool:
    """A latent vector file (NAME.latent.npy)."""
    return Path(path).name.lower().endswith(LATENT_SUFFIX)


def latent_file_path(path: str | os.PathLike) -> Path:
    """``path`` named as a latent file: NAME.latent.npy (a .npy suffix gives way to it)."""
    path = Path(path)
    if is_latent_path(path):
        return path
    stem = path.name[:-4] if path.name.lower().endswith(".npy") else path.name
    return path.with_name(stem + LATENT_SUFFIX)


def refuse_latent_as_shape(path: str | os.PathLike) -> None:
    """An error naming ``path`` if it is a latent file, where a shape was asked for."""
    if is_latent_path(path):
        raise InputFileError(
            f"{path}: a latent, not a shape (decode it with gan3d interpolate --latents, or "
            "open it in gan3d-studio)"
        )


def is_shape_path(path: str | os.PathLike) -> bool:
    """A voxel grid or a mesh: what ``gan3d encode`` and the app's Open shape read."""
    return Path(path).suffix.lower() in SHAPE_SUFFIXES and not is_latent_path(path)

"""Shape files by suffix, without loading what reads them (trimesh, torch): the app sorts
dropped files with these in its GUI process."""

from __future__ import annotations

import os
from pathlib import Path

MESH_SUFFIXES = (".off", ".obj", ".stl", ".ply", ".glb", ".gltf")
GLTF_SUFFIXES = (".glb", ".gltf")  # y up, by the format's specification
GRID_SUFFIXES = (".binvox", ".npy")
SHAPE_SUFFIXES = GRID_SUFFIXES + MESH_SUFFIXES
# A latent vector, as gan3d encode and gan3d generate --save-latents write it: a .npy too
LATENT_SUFFIX = ".latent.npy"


def is_latent_path(path: str | os.PathLike) -> bool:
    """A latent vector file (NAME.latent.npy)."""
    return Path(path).name.lower().endswith(LATENT_SUFFIX)


def is_shape_path(path: str | os.PathLike) -> bool:
    """A voxel grid or a mesh: what ``gan3d encode`` and the app's Open shape read."""
    return Path(path).suffix.lower() in SHAPE_SUFFIXES and not is_latent_path(path)

"""File formats: atomic writes, checkpoints, ``.binvox`` and meshes."""

from gan3d_core.io.atomic import write_bytes_atomic
from gan3d_core.io.binvox import BinvoxGrid, read_binvox, write_binvox
from gan3d_core.io.checkpoint import load_checkpoint, read_model_card, save_checkpoint
from gan3d_core.io.meshes import load_mesh
from gan3d_core.io.voxels import load_voxels

__all__ = [
    "BinvoxGrid",
    "load_checkpoint",
    "load_mesh",
    "load_voxels",
    "read_binvox",
    "read_model_card",
    "save_checkpoint",
    "write_binvox",
    "write_bytes_atomic",
]

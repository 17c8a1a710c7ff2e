"""gan3d_core: volumetric GANs for generating, reconstructing and exporting 3D shapes.

Quick use::

    import gan3d_core as g3
    model = g3.load_model("model.safetensors")
    shapes = model.decode(model.sample_latents(4, seed=0))   # (4, R, R, R) occupancy
    g3.export_shape(shapes[0], "shape.stl")

This package never imports Qt; the desktop app sits on top of it.
"""

from gan3d_core.config import ModelConfig
from gan3d_core.errors import (
    CheckpointError,
    EmptyShapeError,
    Gan3dError,
    InputFileError,
    OperationCancelled,
)
from gan3d_core.images import preprocess_image
from gan3d_core.inference import GanModel, load_model, resolve_device
from gan3d_core.io import load_mesh, load_voxels, read_binvox, save_checkpoint, write_binvox
from gan3d_core.latent import combine_latents, interpolate, lerp, slerp
from gan3d_core.mesh import ExportOptions, export_shape, voxelize_mesh, voxels_to_mesh
from gan3d_core.models import GanNetworks

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "EmptyShapeError",
    "ExportOptions",
    "Gan3dError",
    "GanModel",
    "GanNetworks",
    "InputFileError",
    "ModelConfig",
    "OperationCancelled",
    "combine_latents",
    "export_shape",
    "interpolate",
    "lerp",
    "load_mesh",
    "load_model",
    "load_voxels",
    "preprocess_image",
    "read_binvox",
    "resolve_device",
    "save_checkpoint",
    "slerp",
    "voxelize_mesh",
    "voxels_to_mesh",
    "write_binvox",
]

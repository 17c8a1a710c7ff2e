"""Meshes from occupancy grids, grids from meshes, and export to files."""

from gan3d_core.mesh.export import (
    EXPORT_SUFFIXES,
    ExportOptions,
    export_mesh,
    export_shape,
    export_voxels,
    shape_to_mesh,
)
from gan3d_core.mesh.surface import fit_to_size, voxels_to_cubes, voxels_to_mesh
from gan3d_core.mesh.voxelize import voxelize_mesh

__all__ = [
    "EXPORT_SUFFIXES",
    "ExportOptions",
    "export_mesh",
    "export_shape",
    "export_voxels",
    "fit_to_size",
    "shape_to_mesh",
    "voxelize_mesh",
    "voxels_to_cubes",
    "voxels_to_mesh",
]

"""Meshes from occupancy grids, grids from meshes, and export to files (loaded on first use)."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "export": [
            "EXPORT_SUFFIXES",
            "ExportOptions",
            "export_mesh",
            "export_shape",
            "export_voxels",
            "shape_to_mesh",
            "write_shape",
        ],
        "parts": ["count_parts", "count_shells", "drop_small_parts", "drop_small_shells"],
        "surface": ["fit_to_size", "vertex_normals", "voxels_to_cubes", "voxels_to_mesh"],
        "voxelize": ["voxelize_mesh"],
    },
)

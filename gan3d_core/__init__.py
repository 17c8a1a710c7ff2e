"""gan3d_core: volumetric GANs for generating, reconstructing and exporting 3D shapes.

Quick use::

    import gan3d_core as g3
    model = g3.load_model("model.safetensors")
    shapes = model.decode(model.sample_latents(4, seed=0))   # (4, R, R, R) occupancy
    g3.export_shape(shapes[0], "shape.stl")

This package never imports Qt; the desktop app sits on top of it.
"""

import lazy_loader

# Submodules load on first use (SPEC 1, as scikit-image does): `import gan3d_core` stays
# cheap, and the app's window opens before torch is imported.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "config": ["ModelConfig"],
        "data.datasets": ["load_shape_grid"],
        "errors": [
            "CheckpointError",
            "EmptyShapeError",
            "Gan3dError",
            "InputFileError",
            "OperationCancelled",
            "OutputFileError",
            "UsageError",
        ],
        "images": ["preprocess_image"],
        "inference": ["GanModel", "load_model", "resolve_device"],
        "io": ["load_mesh", "load_voxels", "read_binvox", "save_checkpoint", "write_binvox"],
        "latent": ["combine_latents", "interpolate", "lerp", "slerp"],
        "mesh": ["ExportOptions", "export_shape", "voxelize_mesh", "voxels_to_mesh"],
        "models": ["GanNetworks"],
    },
)

__version__ = "0.1.0"

"""File formats: atomic writes, checkpoints, ``.binvox`` and meshes (loaded on first use)."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "atomic": ["write_bytes_atomic"],
        "binvox": ["BinvoxGrid", "read_binvox", "write_binvox"],
        "checkpoint": ["load_checkpoint", "read_model_card", "save_checkpoint"],
        "meshes": ["load_mesh"],
        "voxels": ["load_voxels"],
    },
)

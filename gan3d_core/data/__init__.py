"""Training data: voxel datasets, splits, augmentation and rendered views."""

from gan3d_core.data.augment import ShapeAugmentation, augment_images
from gan3d_core.data.datasets import (
    VoxelDataset,
    downsample,
    load_dataset,
    load_npz,
    stratified_limit,
    stratified_split,
)

__all__ = [
    "ShapeAugmentation",
    "VoxelDataset",
    "augment_images",
    "downsample",
    "load_dataset",
    "load_npz",
    "stratified_limit",
    "stratified_split",
]

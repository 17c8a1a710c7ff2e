"""Shape metrics on occupancy grids (IoU, Dice). Grids are (..., R, R, R) arrays."""

from __future__ import annotations

import numpy as np

DEFAULT_THRESHOLD = 0.5


def _binarise(a: np.ndarray, b: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim < 3:
        raise ValueError(
            f"grids must have equal shapes (..., R, R, R), got {a.shape} and {b.shape}"
        )
    return a > threshold, b > threshold


def iou(a: np.ndarray, b: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> float | np.ndarray:
    """Intersection over union of the voxels above ``threshold``; two empty grids give 1.

    A batch (N, R, R, R) gives an (N,) array.
    """
    a, b = _binarise(a, b, threshold)
    axes = (-3, -2, -1)
    intersection = np.logical_and(a, b).sum(axis=axes)
    union = np.logical_or(a, b).sum(axis=axes)
    result = np.where(union > 0, intersection / np.maximum(union, 1), 1.0)
    return float(result) if result.ndim == 0 else result


def dice(a: np.ndarray, b: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> float | np.ndarray:
    """Dice coefficient 2|A n B| / (|A| + |B|) of the voxels above ``threshold``."""
    a, b = _binarise(a, b, threshold)
    axes = (-3, -2, -1)
    total = a.sum(axis=axes) + b.sum(axis=axes)
    intersection = np.logical_and(a, b).sum(axis=axes)
    result = np.where(total > 0, 2 * intersection / np.maximum(total, 1), 1.0)
    return float(result) if result.ndim == 0 else result

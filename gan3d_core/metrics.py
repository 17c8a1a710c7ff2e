"""Shape metrics on occupancy grids (``(..., R, R, R)`` arrays, occupied above a threshold).

Reconstruction: IoU, Dice, 3D SSIM, BCE / L2. Generation (sets of shapes against reference
shapes, distance = 1 - IoU): MMD, coverage, 1-NNA (Achlioptas et al. 2018, Yang et al.
2019), and the Jensen-Shannon divergence of occupancy marginals.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from gan3d_core.config import DEFAULT_THRESHOLD

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
_SSIM_C1, _SSIM_C2 = 0.01**2, 0.03**2  # (K * data range)^2 with K1 = 0.01, K2 = 0.03


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


def _gaussian_window(size: int, sigma: float, device, dtype) -> torch.Tensor:
    coords = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    kernel = torch.exp(-(coords**2) / (2 * sigma**2))
    return kernel / kernel.sum()  # (size,)


def ssim3d_torch(
    a: torch.Tensor, b: torch.Tensor, window: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA
) -> torch.Tensor:
    """Mean 3D SSIM per shape of occupancies (B, R, R, R) or (B, 1, R, R, R) in [0, 1] -> (B,).

    Wang et al.'s SSIM with a separable Gaussian window (``window`` voxels, ``sigma``),
    zero-padded at the border; differentiable, so it also serves as a training loss.
    """
    if a.shape != b.shape:
        raise ValueError(f"grids must have equal shapes, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.ndim == 4:
        a, b = a[:, None], b[:, None]  # (B, 1, R, R, R)
    kernel = _gaussian_window(window, sigma, a.device, a.dtype)
    pad = window // 2

    def blur(x: torch.Tensor) -> torch.Tensor:
        for axis in range(3):  # separable: one 1D convolution per axis
            shape = [1, 1, 1, 1, 1]
            shape[2 + axis] = window
            padding = [0, 0, 0]
            padding[axis] = pad
            x = F.conv3d(x, kernel.view(shape), padding=tuple(padding))
        return x

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    covariance = blur(a * b) - mu_a * mu_b
    numerator = (2 * mu_a * mu_b + _SSIM_C1) * (2 * covariance + _SSIM_C2)
    denominator = (mu_a**2 + mu_b**2 + _SSIM_C1) * (var_a + var_b + _SSIM_C2)
    return (numerator / denominator).flatten(1).mean(dim=1)


def ssim3d(a: np.ndarray, b: np.ndarray) -> float | np.ndarray:
    """3D SSIM of grids (R, R, R) -> float, or batches (N, R, R, R) -> (N,)."""
    ta = torch.as_tensor(np.asarray(a, np.float32))
    tb = torch.as_tensor(np.asarray(b, np.float32))
    single = ta.ndim == 3
    with torch.no_grad():
        result = ssim3d_torch(ta[None] if single else ta, tb[None] if single else tb).numpy()
    return float(result[0]) if single else result


def reconstruction_bce(prediction: np.ndarray, target: np.ndarray) -> float:
    """Mean binary cross-entropy of predicted occupancy against target (0/1) voxels."""
    p = np.clip(np.asarray(prediction, np.float64), 1e-7, 1 - 1e-7)
    t = np.asarray(target, np.float64)
    return float(-(t * np.log(p) + (1 - t) * np.log(1 - p)).mean())


def reconstruction_l2(prediction: np.ndarray, target: np.ndarray) -> float:
    """Mean squared error between predicted and target occupancy."""
    return float(np.mean((np.asarray(prediction, np.float64) - np.asarray(target)) ** 2))


# -- generation ---------------------------------------------------------------------------


def pairwise_iou(a: np.ndarray, b: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """IoU between every shape of ``a`` (N, R, R, R) and of ``b`` (M, R, R, R) -> (N, M)."""
    flat_a = (np.asarray(a) > threshold).reshape(len(a), -1).astype(np.float32)  # (N, V)
    flat_b = (np.asarray(b) > threshold).reshape(len(b), -1).astype(np.float32)  # (M, V)
    intersection = flat_a @ flat_b.T  # (N, M)
    union = flat_a.sum(1)[:, None] + flat_b.sum(1)[None, :] - intersection
    return np.where(union > 0, intersection / np.maximum(union, 1), 1.0)


def mmd_and_coverage(generated: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Minimum matching distance and coverage with distance 1 - IoU.

    MMD: mean over reference shapes of the distance to their closest generated shape (lower
    is better). Coverage: fraction of reference shapes that are the closest reference of at
    least one generated shape (higher is better; collapse gives low coverage).
    """
    distance = 1.0 - pairwise_iou(generated, reference)  # (G, R)
    mmd = float(distance.min(axis=0).mean())
    coverage = len(np.unique(distance.argmin(axis=1))) / distance.shape[1]
    return {"mmd": mmd, "coverage": float(coverage)}


def one_nna(generated: np.ndarray, reference: np.ndarray) -> float:
    """Leave-one-out 1-nearest-neighbour accuracy on generated + reference (ideal 0.5).

    Near 1.0 means a 1-NN classifier tells generated from real shapes easily.
    """
    shapes = np.concatenate([generated, reference])
    return nearest_neighbour_accuracy(1.0 - pairwise_iou(shapes, shapes), len(generated))


def nearest_neighbour_accuracy(distance: np.ndarray, generated_count: int) -> float:
    """1-NNA from a distance matrix (N, N) over generated items (the first
    ``generated_count``) then reference items: leave-one-out, so the diagonal is ignored."""
    distance = np.array(distance, dtype=np.float64)
    np.fill_diagonal(distance, np.inf)
    is_generated = np.arange(len(distance)) < generated_count
    nearest = distance.argmin(axis=1)
    return float(np.mean(is_generated[nearest] == is_generated))


def occupancy_jsd(generated: np.ndarray, reference: np.ndarray, eps: float = 1e-12) -> float:
    """Jensen-Shannon divergence (nats) between the two sets' mean occupancy grids."""
    p = (np.asarray(generated) > DEFAULT_THRESHOLD).mean(axis=0).ravel() + eps
    q = (np.asarray(reference) > DEFAULT_THRESHOLD).mean(axis=0).ravel() + eps
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2
    return float(0.5 * np.sum(p * np.log(p / m)) + 0.5 * np.sum(q * np.log(q / m)))


def mean_pairwise_iou(shapes: np.ndarray) -> float:
    """Mean IoU between distinct shapes of one set: a mode-collapse signal (1 = all alike)."""
    if len(shapes) < 2:
        raise ValueError("need at least two shapes")
    matrix = pairwise_iou(shapes, shapes)
    return float(matrix[~np.eye(len(shapes), dtype=bool)].mean())

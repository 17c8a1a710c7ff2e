"""Latent-space operations: interpolation, arithmetic and principal directions.

All functions take and return numpy float32 arrays; latents are (latent_dim,) vectors or
(n, latent_dim) batches.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gan3d_core.errors import UsageError
from gan3d_core.reprs import summary_repr


def lerp(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Straight-line interpolation ``(1 - t) a + t b``."""
    a, b = (latent.astype(np.float32) for latent in _pair(a, b))
    t = np.asarray(t, np.float32)[..., None] if np.ndim(t) else np.float32(t)
    return ((1 - t) * a + t * b).astype(np.float32)


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two latents of one shape, as float64 vectors."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise UsageError(f"latents to interpolate must be two vectors of one size, got "
                         f"{a.shape} and {b.shape}")  # fmt: skip
    return a, b


def slerp(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Spherical interpolation along the great circle between the two directions: latents
    midway keep about the ends' norm, where a straight line between latents far apart
    passes nearer the origin.

    Falls back to :func:`lerp` when ``a`` and ``b`` are (anti-)parallel or zero.
    """
    a, b = _pair(a, b)
    norm_a, norm_b = np.linalg.norm(a), np.linalg.norm(b)
    if norm_a == 0 or norm_b == 0:
        return lerp(a, b, t)
    cos_omega = np.clip(np.dot(a / norm_a, b / norm_b), -1.0, 1.0)
    omega = np.arccos(cos_omega)
    if np.sin(omega) < 1e-6:
        return lerp(a, b, t)
    t = np.asarray(t, np.float64)[..., None] if np.ndim(t) else float(t)
    result = (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)
    return result.astype(np.float32)


def interpolate(a: np.ndarray, b: np.ndarray, steps: int, method: str = "slerp") -> np.ndarray:
    """``steps`` latents from ``a`` to ``b`` inclusive, (steps, latent_dim)."""
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 2:
        raise UsageError(f"steps must be a whole number >= 2, got {steps!r}")
    if np.shape(a) != np.shape(b) or np.ndim(a) != 1:
        raise UsageError(
            f"a and b must be latents of equal shape (L,), got {np.shape(a)} and {np.shape(b)}"
        )
    functions = {"slerp": slerp, "lerp": lerp}
    if method not in functions:
        raise UsageError(f"method must be slerp or lerp, got {method!r}")
    return functions[method](a, b, np.linspace(0.0, 1.0, steps))


def interpolated_label(start: int | None, end: int | None, t: float) -> int | None:
    """The class a conditional model decodes the step ``t`` (0..1) of an interpolation
    with: the nearer end's, so that both ends decode as themselves and the class changes
    once, halfway, between ends of two classes."""
    return start if t < 0.5 else end


def combine_latents(latents: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """Weighted sum of latents, e.g. A - B + C is ``combine_latents([A, B, C], [1, -1, 1])``."""
    latents = [np.asarray(z, np.float32) for z in latents]
    weights = np.asarray(weights, np.float32)
    if weights.shape != (len(latents),) or not latents:
        raise UsageError(
            f"need one weight per latent, got {len(latents)} latents and weights of shape "
            f"{weights.shape}"
        )
    if latents[0].ndim != 1 or any(z.shape != latents[0].shape for z in latents):
        raise UsageError(
            f"latents to combine must be vectors of one size, got {[z.shape for z in latents]}"
        )
    return np.tensordot(weights, np.stack(latents), axes=1).astype(np.float32)


@dataclass(frozen=True)
class LatentDirections:
    """Unit directions in latent space, strongest first, with slider scales.

    vectors (k, L) unit rows; ``scales`` (k,) the standard deviation of sampled latents
    along each direction (a +-3 sigma slider spans ``3 * scales``); ``strengths`` (k,) how
    much each direction changes the output (SeFa eigenvalues or PCA variance ratios).
    """

    vectors: np.ndarray
    scales: np.ndarray
    strengths: np.ndarray
    method: str
    # (L,) where sliders read zero: the mean latent (zeros for N(0, I) latents)
    centre: np.ndarray | None = None

    __repr__ = summary_repr

    def spread_over(self, latents: np.ndarray) -> LatentDirections:
        """These directions, with scales and centre measured on real latents (N, L): for
        latent spaces that are not N(0, I), such as an autoencoder's."""
        centre = latents.mean(axis=0).astype(np.float32)
        scales = ((latents - centre) @ self.vectors.T).std(axis=0).astype(np.float32)
        return dataclasses.replace(self, scales=np.maximum(scales, 1e-6), centre=centre)


def sefa_directions(first_layer_weight: np.ndarray, count: int) -> LatentDirections:
    """Closed-form directions (Shen & Zhou, SeFa) from the generator's first layer.

    ``first_layer_weight`` is the ConvTranspose3d weight (L, C, k, k, k): the first layer is
    linear in z, so the directions it amplifies most are the top eigenvectors of A^T A with
    A = W viewed as (C k^3, L). For z ~ N(0, I) the spread along any unit direction is 1.
    """
    latent_dim = first_layer_weight.shape[0]
    a = np.asarray(first_layer_weight, np.float64).reshape(latent_dim, -1).T  # (C k^3, L)
    eigenvalues, eigenvectors = np.linalg.eigh(a.T @ a)  # ascending
    order = np.argsort(eigenvalues)[::-1][:count]
    vectors = eigenvectors[:, order].T.astype(np.float32)  # (k, L)
    strengths = (eigenvalues[order] / eigenvalues.sum()).astype(np.float32)
    return LatentDirections(vectors, np.ones(len(order), np.float32), strengths, "sefa")


def pca_directions(latents: np.ndarray, features: np.ndarray, count: int) -> LatentDirections:
    """GANSpace-style directions: PCA of generator features, regressed back to latents.

    latents (N, L) and the features they produce (N, F). The top principal components of
    the features are found with an SVD; each component's coordinates are regressed onto z
    by least squares, giving one latent direction per component.
    """
    centred = features - features.mean(axis=0)  # (N, F)
    u, s, _vt = np.linalg.svd(centred, full_matrices=False)  # u (N, r)
    count = min(count, u.shape[1])
    coordinates = u[:, :count] * s[:count]  # (N, k)
    solution, *_ = np.linalg.lstsq(latents - latents.mean(axis=0), coordinates, rcond=None)
    vectors = solution.T / np.linalg.norm(solution.T, axis=1, keepdims=True)  # (k, L)
    scales = (latents @ vectors.T).std(axis=0)
    strengths = s[:count] ** 2 / (s**2).sum()
    return LatentDirections(
        vectors.astype(np.float32), scales.astype(np.float32), strengths.astype(np.float32), "pca"
    )

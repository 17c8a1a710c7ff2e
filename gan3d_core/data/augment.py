"""Training-time augmentation of voxel batches and image batches (torch, on device).

Shapes: rotation about the up axis (z), integer-ish translations and mirroring in x, as one
affine resampling with nearest-neighbour lookup so grids stay binary. Images: a small random
scale and shift on a white background, the way a photo is rarely framed like a render.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# affine_grid's coordinates for a (B, C, X, Y, Z) tensor run (Z, Y, X): reverse the axes.
_REVERSE = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])


@dataclass(frozen=True)
class ShapeAugmentation:
    """Random rotation about z (up to +-``rotation_degrees``), translation (up to
    +-``translation_voxels``) and mirroring of x (probability 1/2 when ``mirror``)."""

    rotation_degrees: float = 0.0
    translation_voxels: float = 0.0
    mirror: bool = False

    @property
    def enabled(self) -> bool:
        return self.rotation_degrees > 0 or self.translation_voxels > 0 or self.mirror

    def __call__(
        self, voxels: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """voxels (B, 1, R, R, R) -> augmented (B, 1, R, R, R)."""
        if not self.enabled:
            return voxels
        batch, resolution = voxels.shape[0], voxels.shape[-1]

        def uniform(low: float, high: float, size: tuple[int, ...]) -> torch.Tensor:
            return torch.rand(size, generator=generator) * (high - low) + low

        angle = uniform(-1, 1, (batch,)) * math.radians(self.rotation_degrees)
        cos, sin = torch.cos(angle), torch.sin(angle)
        matrix = torch.zeros(batch, 3, 3)
        matrix[:, 0, 0], matrix[:, 0, 1] = cos, -sin
        matrix[:, 1, 0], matrix[:, 1, 1] = sin, cos
        matrix[:, 2, 2] = 1.0
        if self.mirror:
            flip = torch.where(torch.rand(batch, generator=generator) < 0.5, -1.0, 1.0)
            matrix[:, :, 0] *= flip[:, None]
        shift = uniform(-1, 1, (batch, 3)) * self.translation_voxels * 2.0 / resolution
        theta = torch.cat([_REVERSE @ matrix @ _REVERSE, (shift @ _REVERSE)[:, :, None]], dim=2)
        grid = F.affine_grid(theta.to(voxels), list(voxels.shape), align_corners=False)
        return F.grid_sample(
            voxels, grid, mode="nearest", padding_mode="zeros", align_corners=False
        )


def augment_images(
    images: torch.Tensor,
    generator: torch.Generator | None = None,
    scale: float = 0.1,
    shift: float = 0.05,
) -> torch.Tensor:
    """images (..., 3, H, W) in [0, 1] on white -> randomly rescaled (1 +- ``scale``) and
    shifted (+- ``shift`` of the side) copies, still on white."""
    shape = images.shape
    flat = images.reshape(-1, *shape[-3:])  # (N, 3, H, W)
    count = flat.shape[0]
    zoom = 1.0 + (torch.rand(count, generator=generator) * 2 - 1) * scale
    offset = (torch.rand(count, 2, generator=generator) * 2 - 1) * shift * 2
    theta = torch.zeros(count, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0 / zoom
    theta[:, :, 2] = offset
    grid = F.affine_grid(theta.to(flat), list(flat.shape), align_corners=False)
    # Sample the inverted image so the area brought in from outside is white, not black.
    out = 1.0 - F.grid_sample(1.0 - flat, grid, mode="bilinear", align_corners=False)
    return out.reshape(shape)

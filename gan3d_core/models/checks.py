"""Input checks the 3D networks share."""

from __future__ import annotations

import torch


def voxel_batch(voxels: torch.Tensor, resolution: int) -> torch.Tensor:
    """Occupancy (B, R, R, R) or (B, 1, R, R, R) -> (B, 1, R, R, R); a ValueError naming
    both shapes otherwise."""
    if voxels.ndim == 4:
        voxels = voxels[:, None]  # (B, R, R, R) -> (B, 1, R, R, R)
    if voxels.shape[1:] != (1, resolution, resolution, resolution):
        raise ValueError(
            f"voxels must have shape (B, 1, {resolution}, {resolution}, {resolution}), "
            f"got {tuple(voxels.shape)}"
        )
    return voxels

"""An implicit decoder: occupancy at any point of the grid's box, so a surface can be
extracted at any resolution from a model trained on 32^3 or 64^3 grids.

PIFu (Saito et al. 2019) made its implicit function local by reading, for each query
point, the image features aligned with it. Here the features aligned with a point are the
voxel decoder's own: its last hidden layer (C channels at R/2) sampled trilinearly at the
point, with the point's position inside the grid (Fourier features). The occupancy logit is
the voxel decoder's logit sampled trilinearly at the point plus an MLP's correction, whose
last layer starts at zero: the untrained decoder is the voxel decoder interpolated, and
training only learns what lies between the voxel centres (as the latent sampler learns a
correction to its Gaussian). A global MLP on the latent alone (IM-NET, OccNet) needs
GPU-hours to match a convolutional decoder; this one trains in minutes on a CPU.

Points are in normalised coordinates: the grid's box is [-1, 1]^3, axes (x, y, z), and
voxel i of R sits at (2 i + 1) / R - 1, as ``grid_sample`` places it (``align_corners``
off): the generator's R/2 features and its R logits then cover the same box.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from gan3d_core.config import ModelConfig
from gan3d_core.errors import OperationCancelled

# Points queried at once when sampling a grid: ~20 MB of features at width 64.
CHUNK_POINTS = 1 << 16
StopHook = Callable[[], bool]


def sample_grid(volume: torch.Tensor, points: torch.Tensor, padding: str) -> torch.Tensor:
    """Trilinear samples (B, C, P) of ``volume`` (B, C, X, Y, Z) at ``points`` (B, P, 3)
    in [-1, 1], (x, y, z); ``padding`` is grid_sample's padding_mode outside the centres."""
    # grid_sample reads (W, H, D) coordinates, i.e. (z, y, x) of our (X, Y, Z) volumes
    grid = points.flip(-1)[:, :, None, None]  # (B, P, 1, 1, 3)
    samples = F.grid_sample(volume, grid, padding_mode=padding, align_corners=False)
    return samples[:, :, :, 0, 0]  # (B, C, P, 1, 1) -> (B, C, P)


def grid_points(resolution: int, start: int = 0, stop: int | None = None) -> torch.Tensor:
    """Centres (P, 3) of the voxels of an R^3 grid over the box, x slices start..stop."""
    centres = (2 * torch.arange(resolution, dtype=torch.float32) + 1) / resolution - 1
    x, y, z = torch.meshgrid(centres[start:stop], centres, centres, indexing="ij")
    return torch.stack([x, y, z], dim=-1).view(-1, 3)


def fourier_features(points: torch.Tensor, octaves: int) -> torch.Tensor:
    """Points (..., 3) -> (..., 3 (1 + 2 octaves)): the point, then sin and cos of
    2^k pi times it for k < octaves."""
    frequencies = math.pi * 2.0 ** torch.arange(octaves, dtype=points.dtype, device=points.device)
    angles = (points[..., None] * frequencies).flatten(-2)  # (..., 3 * octaves)
    return torch.cat([points, angles.sin(), angles.cos()], dim=-1)


class ImplicitDecoder(nn.Module):
    """Generator features (B, C, R/2, R/2, R/2), its logits (B, 1, R, R, R) and points
    (B, P, 3) -> occupancy logits (B, P) at the points."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        width = config.implicit_width
        # the finest octave's period is one feature cell, two voxels
        self.octaves = int(math.log2(config.resolution))
        # The first layer's part for the features, applied on the grid before sampling:
        # linear maps commute with trilinear interpolation, and the grid has fewer cells
        # than a surface has points.
        self.features = nn.Conv3d(config.generator_widths[-1], width, 1)
        self.point = nn.Linear(3 * (1 + 2 * self.octaves), width, bias=False)
        self.layers = nn.Sequential(
            nn.ReLU(),
            nn.Linear(width, width),
            nn.ReLU(),
            nn.Linear(width, width),
            nn.ReLU(),
            nn.Linear(width, 1),
        )
        nn.init.zeros_(self.layers[-1].weight)
        nn.init.zeros_(self.layers[-1].bias)

    def forward(
        self, hidden: torch.Tensor, logits: torch.Tensor, points: torch.Tensor
    ) -> torch.Tensor:
        return self.query(self.project(hidden), logits, points)

    def project(self, hidden: torch.Tensor) -> torch.Tensor:
        """The generator's features (B, C, S, S, S) -> the first layer's part (B, W, S, S, S):
        computed once per shape, then queried at any number of points."""
        return self.features(hidden)

    def query(
        self, projected: torch.Tensor, logits: torch.Tensor, points: torch.Tensor
    ) -> torch.Tensor:
        """Occupancy logits (B, P) at ``points`` (B, P, 3) from :meth:`project`'s output."""
        # outside the outermost centres, the nearest centre's values (no fading to zero)
        local = sample_grid(projected, points, "border").transpose(1, 2)  # (B, P, W)
        base = sample_grid(logits, points, "border")[:, 0]  # (B, P)
        hidden = local + self.point(fourier_features(points, self.octaves))  # (B, P, W)
        return base + self.layers(hidden)[..., 0]

    @torch.no_grad()
    def occupancy(
        self,
        projected: torch.Tensor,
        logits: torch.Tensor,
        resolution: int,
        should_stop: StopHook | None = None,
    ) -> torch.Tensor:
        """Occupancy (N, N, N) in [0, 1] of one shape (inputs (1, ...), from :meth:`project`
        and the generator) at the voxel centres of an N^3 grid over the same box.

        The MLP runs at the model's own R^3 voxel centres, then only at the points of the
        cells between those centres whose eight corners disagree and of the cells around
        them; elsewhere the centres' occupancy is interpolated trilinearly. The surface of
        the training targets (the grid interpolated trilinearly) passes only through such
        cells: between corners that agree, it has nowhere to be.
        """
        side = logits.shape[-1]
        device = logits.device
        centres = grid_points(side).to(device)[None]
        coarse = torch.sigmoid(self.query(projected, logits, centres)).view(side, side, side)
        if resolution == side:
            return coarse
        fine = F.interpolate(
            coarse[None, None], size=(resolution,) * 3, mode="trilinear", align_corners=False
        )[0, 0]
        # cells between centres, corners at -1..R along each axis: the outside is empty
        occupied = F.pad((coarse > 0.5).float(), (1,) * 6)[None, None]  # (1, 1, R+2, ...)
        any_corner = F.max_pool3d(occupied, 2, stride=1)  # (1, 1, R+1, R+1, R+1)
        every_corner = -F.max_pool3d(-occupied, 2, stride=1)
        mixed = (any_corner > every_corner).float()
        band = F.max_pool3d(mixed, 3, stride=1, padding=1)[0, 0] > 0  # (R+1,) * 3
        # the cell holding each fine centre along an axis
        cell = ((torch.arange(resolution, device=device) + 0.5) * side / resolution + 0.5).long()
        slab = max(1, CHUNK_POINTS // resolution**2)
        for start in range(0, resolution, slab):
            if should_stop is not None and should_stop():
                raise OperationCancelled("decoding cancelled")
            inside = band[cell[start : start + slab]][:, cell][:, :, cell]  # (s, N, N)
            indices = inside.nonzero()  # (K, 3)
            if len(indices) == 0:
                continue
            indices[:, 0] += start
            points = (2 * indices.float() + 1) / resolution - 1  # (K, 3)
            values = torch.sigmoid(self.query(projected, logits, points[None]))[0]
            fine[tuple(indices.T)] = values
        return fine

"""Differentiable silhouettes of occupancy grids, seen as the project's renderer sees them.

:func:`silhouettes` casts one perspective ray per pixel from a camera placed like
:class:`gan3d_core.data.render.View` (azimuth, elevation, distance; z up, 30 degree view
angle, the shape scaled to unit size and centred) and samples the occupancy along it with
trilinear interpolation (``grid_sample``), accumulated as the probability that the ray is
stopped, 1 - prod(1 - o). Against the masks of the renderer's own images (15 views of 5
validation shapes) this agrees better than the largest occupancy on the ray (mean IoU
0.93 against 0.89): both the renderer's antialiased edges and the product widen an edge by
about half a voxel. The rays pass through the window that frames the object the way
:func:`gan3d_core.images.preprocess_image` frames every photo and render (cropped to the
object, padded square with :data:`gan3d_core.images.OBJECT_MARGIN`), so a silhouette
compares pixel for pixel with the mask of a preprocessed image (DIB-R's silhouette loss,
Chen et al. 2019). :func:`axis_projections` gives the cheap orthographic silhouettes
along the grid's axes that MPSE-GAN's perspective discriminators judge.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from gan3d_core.config import PROJECTION_AXES
from gan3d_core.data.render import CAMERA_DISTANCE
from gan3d_core.images import OBJECT_MARGIN

# The shape is scaled to unit size, so every point lies within this radius of the centre.
BOUNDING_RADIUS = math.sqrt(3.0) / 2.0
# Occupancy is clamped below 1 so that log(1 - o) stays finite.
MAX_OCCUPANCY = 1.0 - 1e-4


def occupied_box(voxels: torch.Tensor, threshold: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Centre (B, 3) and size (B,) of each grid's occupied box in voxel units, as the
    renderer's marching-cubes surface bounds it (half a voxel beyond the outer centres).

    An empty grid gets the whole grid's box. Not differentiable (it fixes the frame)."""
    batch, resolution = voxels.shape[0], voxels.shape[-1]
    centres = torch.full((batch, 3), (resolution - 1) / 2.0, device=voxels.device)
    sizes = torch.full((batch,), float(resolution), device=voxels.device)
    occupied = voxels.detach().reshape(batch, resolution, resolution, resolution) > threshold
    for index in range(batch):
        points = occupied[index].nonzero()  # (P, 3)
        if len(points):
            low, high = points.min(0).values.float(), points.max(0).values.float()
            centres[index] = (low + high) / 2.0
            sizes[index] = (high - low).max() + 1.0
    return centres, sizes


def camera_basis(
    azimuth: torch.Tensor, elevation: torch.Tensor, distance: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Camera position, forward, right and up unit vectors, each (B, 3), of cameras looking
    at the origin with z up. Angles in degrees; differentiable in all three."""
    azimuth, elevation = torch.deg2rad(azimuth), torch.deg2rad(elevation)
    direction = torch.stack(
        [
            torch.cos(elevation) * torch.cos(azimuth),
            torch.cos(elevation) * torch.sin(azimuth),
            torch.sin(elevation),
        ],
        dim=-1,
    )  # (B, 3)
    origin = direction * distance[:, None]
    forward = -direction
    world_up = torch.tensor([0.0, 0.0, 1.0], device=forward.device).expand_as(forward)
    right = F.normalize(torch.cross(forward, world_up, dim=-1), dim=-1)
    up = torch.cross(right, forward, dim=-1)
    return origin, forward, right, up


def _object_windows(
    voxels: torch.Tensor,
    centres: torch.Tensor,
    sizes: torch.Tensor,
    basis: tuple[torch.Tensor, ...],
    margin: float,
) -> torch.Tensor:
    """Per shape, the square window (u centre, v centre, half side) on the image plane at
    unit focal distance that frames the shape like :func:`gan3d_core.images.preprocess_image`
    frames a photo: the box of its projected occupied voxels (corners included), padded
    square with ``margin``. Fixed per shape (no gradient)."""
    origin, forward, right, up = (b.detach() for b in basis)
    resolution = voxels.shape[-1]
    device = voxels.device
    corners = torch.tensor(
        [[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)], device=device
    )  # (8, 3) voxel corners around a centre
    windows = torch.zeros(len(voxels), 3, device=device)
    for index in range(len(voxels)):
        occupied = (voxels[index].detach() > 0.5).nonzero().float()  # (P, 3)
        if len(occupied) == 0:
            occupied = torch.full((1, 3), (resolution - 1) / 2.0, device=device)
        points = (occupied[:, None] + corners[None]).reshape(-1, 3)
        world = (points - centres[index]) / sizes[index] - origin[index]  # from the camera
        depth = world @ forward[index]
        u, v = world @ right[index] / depth, world @ up[index] / depth
        half = max(u.max() - u.min(), v.max() - v.min()) / 2.0 / (1.0 - 2.0 * margin)
        windows[index] = torch.stack([(u.max() + u.min()) / 2, (v.max() + v.min()) / 2, half])
    return windows


def silhouettes(
    voxels: torch.Tensor,
    azimuth: torch.Tensor,
    elevation: torch.Tensor,
    distance: torch.Tensor | None = None,
    output_size: int = 64,
    samples: int = 64,
    margin: float = OBJECT_MARGIN,
) -> torch.Tensor:
    """Soft silhouettes (B, output_size, output_size) in [0, 1] of occupancy (B, R, R, R)
    seen from cameras (B,) each (degrees; distance in shape sizes), framed like a
    preprocessed image; differentiable in the occupancy and the camera angles.

    One ray per output pixel, through the window that frames the object (so no pixel is
    wasted on background), ``samples`` trilinear samples along it across the shape's
    bounding sphere, accumulated as 1 - prod(1 - o)."""
    if voxels.ndim == 5:
        voxels = voxels[:, 0]
    if voxels.ndim != 4 or len({*voxels.shape[1:]}) != 1:
        raise ValueError(f"voxels must have shape (B, R, R, R), got {tuple(voxels.shape)}")
    batch, resolution = voxels.shape[0], voxels.shape[-1]
    device = voxels.device
    if distance is None:
        distance = torch.full((batch,), CAMERA_DISTANCE, device=device)
    centres, sizes = occupied_box(voxels)
    basis = camera_basis(azimuth, elevation, distance)
    origin, forward, right, up = basis
    windows = _object_windows(voxels, centres, sizes, basis, margin)  # (B, 3)
    steps = (torch.arange(output_size, dtype=torch.float32, device=device) + 0.5) / output_size
    steps = steps * 2.0 - 1.0
    u = windows[:, 0, None] + windows[:, 2, None] * steps[None]  # (B, W): left to right
    v = windows[:, 1, None] - windows[:, 2, None] * steps[None]  # (B, H): top to bottom
    directions = F.normalize(
        forward[:, None, None]
        + u[:, None, :, None] * right[:, None, None]
        + v[:, :, None, None] * up[:, None, None],
        dim=-1,
    )  # (B, H, W, 3)
    depths = torch.linspace(-BOUNDING_RADIUS, BOUNDING_RADIUS, samples, device=device)
    along = distance[:, None] + depths[None]  # (B, T): across the sphere around the centre
    # World point p = origin + t * direction maps to grid_sample's [-1, 1] coordinates as
    # p * scale + offset; fold that into the ray so the (B, H, W, T, 3) grid is one
    # multiply-add. grid_sample wants (z, y, x) for a (B, 1, X, Y, Z) input.
    scale = (sizes * 2.0 / (resolution - 1))[:, None]  # (B, 1)
    offset = centres * 2.0 / (resolution - 1) - 1.0  # (B, 3)
    ray_origin = (origin * scale + offset).flip(-1)  # (B, 3)
    ray_direction = (directions * scale[:, :, None, None]).flip(-1)  # (B, H, W, 3)
    grid = torch.addcmul(
        ray_origin[:, None, None, None],
        ray_direction[:, :, :, None],
        along[:, None, None, :, None],
    )  # (B, H, W, T, 3)
    occupancy = F.grid_sample(
        voxels[:, None].float(), grid, mode="bilinear", padding_mode="zeros", align_corners=True
    )  # (B, 1, H, W, T)
    free = torch.log1p(-occupancy[:, 0].clamp(0.0, MAX_OCCUPANCY)).sum(-1)  # log P(not stopped)
    return 1.0 - torch.exp(free)  # (B, H, W)


def axis_projections(voxels: torch.Tensor, axes: str = PROJECTION_AXES) -> torch.Tensor:
    """Soft silhouettes of occupancy (B, R, R, R) seen along grid axes, (B, len(axes), R, R)
    in [0, 1]: the probability that a ray along the axis is stopped, 1 - prod(1 - o).

    Orthographic, unframed and exact on binary grids (MPSE-GAN's perspectives): along ``x``
    the image is indexed (y, z), along ``y`` (x, z), along ``z`` (x, y), z up."""
    if voxels.ndim == 5:
        voxels = voxels[:, 0]
    if voxels.ndim != 4 or len({*voxels.shape[1:]}) != 1:
        raise ValueError(f"voxels must have shape (B, R, R, R), got {tuple(voxels.shape)}")
    if not axes or any(axes.count(axis) != 1 or axis not in PROJECTION_AXES for axis in axes):
        raise ValueError(f"axes must be distinct letters of {PROJECTION_AXES!r}, got {axes!r}")
    free = 1.0 - voxels.float()  # (B, X, Y, Z): the chance each voxel lets a ray through
    return torch.stack(
        [1.0 - free.prod(dim=1 + PROJECTION_AXES.index(axis)) for axis in axes], dim=1
    )


def soft_iou(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Soft IoU per item of (B, ...) maps in [0, 1]: sum(p t) / sum(p + t - p t)."""
    p, t = predicted.flatten(1), target.flatten(1)
    overlap = (p * t).sum(1)
    union = (p + t - p * t).sum(1)
    return overlap / union.clamp_min(1e-6)


def image_mask(image: np.ndarray, size: int) -> np.ndarray:
    """The object mask, float32 (size, size), of a preprocessed uint8 image (object on
    white), resized with antialiasing."""
    from PIL import Image

    from gan3d_core.images import object_mask

    mask = object_mask(np.asarray(image)[:, :, :3]).astype(np.uint8) * 255
    resized = Image.fromarray(mask).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(resized, np.float32) / 255.0

"""Triangle meshes -> solid occupancy grids, filled the way ``binvox -c`` carves.

The surface is rasterised by covering every triangle with a lattice of points less than
half a voxel apart and marking the voxels they fall in. The interior is filled by carving: a voxel
is outside when it is visible from outside along any of the six axis directions (no
surface voxel between it and the border). Unlike a flood fill this does not leak through
cracks, gaps between parts or holes smaller than a voxel, so it fills the many ModelNet
meshes that are not watertight; a big opening (the top of a bathtub) stays open, as with
binvox.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import trimesh

from gan3d_core.errors import UsageError
from gan3d_core.limits import MAX_GRID_SIDE, MAX_SURFACE_SAMPLES
from gan3d_core.schema import whole_number

# empty voxels left around a mesh's longest side: none, as ModelNet's grids (and what
# encode, voxelize and training read from meshes) span the whole grid
DEFAULT_MARGIN = 0
# voxels: past surface.py's 1e-4 tie-break and the ~0.03 that two Taubin passes move a wall
BOUNDARY_NUDGE = 0.05
SURFACE_SPACING = 0.4  # voxels between surface samples; under 0.5 so no voxel is skipped
# Surface points made at once: 2 M points are 48 MB of float64 (x, y, z).
CHUNK_POINTS = 1 << 21


def voxelize_mesh(
    mesh: trimesh.Trimesh, resolution: int = 32, margin: int = DEFAULT_MARGIN
) -> np.ndarray:
    """Solid boolean (R, R, R) grid of ``mesh``, in its own axis order (x, y, z).

    The mesh is scaled uniformly so its longest side spans ``resolution - 2 * margin``
    voxels and centred in the grid, its low corner moved (by under half a voxel) onto a
    voxel boundary: a mesh of whole voxels, as gan3d exports a grid that spans that many,
    then lands on the lattice and reads back voxel for voxel.
    """
    if not isinstance(mesh, trimesh.Trimesh):
        raise UsageError(
            f"voxelize_mesh takes a trimesh.Trimesh, got {type(mesh).__name__}; for a file, "
            "use load_shape_grid(path, resolution)"
        )
    resolution = whole_number("resolution", resolution, 1, MAX_GRID_SIDE)
    if resolution < 2 * margin + 1:
        raise UsageError(f"resolution {resolution} leaves no room inside a {margin}-voxel margin")
    if len(mesh.faces) == 0:
        raise UsageError("cannot voxelize a mesh with no triangles")
    low, high = mesh.bounds
    extent = float((high - low).max())
    if not np.isfinite(extent) or extent <= 0:
        raise UsageError("cannot voxelize a mesh with zero or non-finite extent")
    span = resolution - 2 * margin
    scale = span / extent
    if not np.isfinite(scale * float(np.abs(mesh.bounds).max() + extent)):
        raise UsageError(f"cannot voxelize a mesh this small (extent {extent:.3g})")
    # Continuous grid coordinates: voxel i covers [i, i + 1).
    start = np.round((resolution - scale * (high - low)) / 2.0)
    # corners joined by position, so each has the normal of all its faces (an STL, or
    # gan3d's blocks, repeat a corner for every face around it); on the grid's scale, where
    # trimesh's merging distance is a voxel's hundred-millionth whatever the file's units
    # (in them, a mesh 1e-8 across merged into one point and one voxel)
    mesh = trimesh.Trimesh((mesh.vertices - low) * scale + start, mesh.faces, process=False)
    mesh.merge_vertices()
    triangles = mesh.vertices[mesh.faces]  # (F, 3, 3)
    # A surface on a voxel boundary (a box's face, a marching-cubes surface of whole voxels,
    # which gan3d places a hair outside them and smoothing moves a little) counts for the
    # voxel behind it: each corner is moved inward along its vertex normal by more than that
    # (along a face's normal alone, a point on a box's edge would stay on the other face's
    # boundary).
    triangles = triangles - BOUNDARY_NUDGE * mesh.vertex_normals[mesh.faces]
    samples = surface_sample_count(triangles, SURFACE_SPACING)
    if samples > MAX_SURFACE_SAMPLES:
        raise UsageError(
            f"{len(triangles):,} triangles need {samples:,} surface samples at resolution "
            f"{resolution}, over the limit of {MAX_SURFACE_SAMPLES:,}; use a lower resolution "
            "or a simpler mesh"
        )
    surface = np.zeros((resolution,) * 3, dtype=bool)
    for points in iter_surface_points(triangles, SURFACE_SPACING):
        indices = np.clip(np.floor(points).astype(np.int64), margin, resolution - margin - 1)
        surface[indices[:, 0], indices[:, 1], indices[:, 2]] = True
    return surface | carve_interior(surface)


def carve_interior(surface: np.ndarray) -> np.ndarray:
    """Voxels with a surface voxel on both sides along each of the three axes."""
    inside = np.ones_like(surface)
    for axis in range(3):
        seen_before = np.logical_or.accumulate(surface, axis=axis)
        seen_after = np.flip(np.logical_or.accumulate(np.flip(surface, axis), axis=axis), axis)
        inside &= seen_before & seen_after
    return inside


def _lattice_steps(triangles: np.ndarray, spacing: float) -> np.ndarray:
    """Steps per edge (F,) int64: n = ceil(longest edge / spacing), at least 1."""
    edges = triangles - np.roll(triangles, 1, axis=1)  # (F, 3, 3)
    steps = np.maximum(np.ceil(np.linalg.norm(edges, axis=2).max(axis=1) / spacing), 1)
    return steps.astype(np.int64)


def surface_sample_count(triangles: np.ndarray, spacing: float) -> int:
    """How many points :func:`surface_points` makes for triangles (F, 3, 3), without making
    them: a lattice of n steps per edge has (n + 1)(n + 2) / 2 points."""
    steps = _lattice_steps(triangles, spacing)
    return int(((steps + 1) * (steps + 2) // 2).sum())


def iter_surface_points(
    triangles: np.ndarray, spacing: float, chunk_points: int = CHUNK_POINTS
) -> Iterator[np.ndarray]:
    """The points of :func:`surface_points` in chunks (P_i, 3) of about ``chunk_points``.

    A triangle whose longest edge is L gets the barycentric lattice with n = ceil(L / spacing)
    steps per edge; triangles are batched by n.
    """
    steps = _lattice_steps(triangles, spacing)
    for n in np.unique(steps):
        i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
        keep = i + j <= n
        weights = np.stack([n - i[keep] - j[keep], i[keep], j[keep]], axis=1) / n  # (P, 3)
        group = triangles[steps == n]  # (F_n, 3, 3)
        per_chunk = max(1, chunk_points // len(weights))
        for start in range(0, len(group), per_chunk):
            batch = np.einsum("pk,fkd->fpd", weights, group[start : start + per_chunk])
            yield batch.reshape(-1, 3)  # (F_chunk * P, 3)


def surface_points(triangles: np.ndarray, spacing: float) -> np.ndarray:
    """Points (P, 3) on triangles (F, 3, 3), at most ``spacing`` apart along each edge."""
    return np.concatenate(list(iter_surface_points(triangles, spacing)))

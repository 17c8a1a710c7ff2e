"""Separate pieces of a shape, and leaving the small ones out of an export.

Decoded shapes often carry specks beside the object (more than half of the bundled model's
random samples have more than one piece); a slicer prints each as a loose blob. Leaving out
the pieces under a share of the largest is MeshLab's "Remove Isolated pieces (wrt Face
Num.)". A mesh's pieces are its connected sets of faces (a closed cavity inside the object
is a piece of its own); a grid's are its voxels above the threshold joined through faces or
edges, the joins the exported surface of a binary grid makes (see
:mod:`gan3d_core.mesh.surface`; voxels touching at a corner only stay apart).
"""

from __future__ import annotations

import numpy as np
import trimesh

# the 18 neighbours sharing a face or an edge
_JOINED = np.array(
    [[[abs(x) + abs(y) + abs(z) <= 2 for z in (-1, 0, 1)] for y in (-1, 0, 1)] for x in (-1, 0, 1)]
)


def mesh_pieces(mesh: trimesh.Trimesh) -> list[trimesh.Trimesh]:
    """The mesh's connected pieces, largest (most faces) first."""
    pieces = mesh.split(only_watertight=False)
    return sorted(pieces, key=lambda piece: len(piece.faces), reverse=True)


def drop_small_pieces(mesh: trimesh.Trimesh, min_share: float) -> trimesh.Trimesh:
    """``mesh`` without the pieces that have fewer faces than ``min_share`` (0..1) of the
    largest piece's; the largest always stays, and 0 keeps everything (``mesh`` itself)."""
    if min_share <= 0 or len(mesh.faces) == 0:
        return mesh
    pieces = mesh_pieces(mesh)
    if len(pieces) <= 1:
        return mesh
    least = min_share * len(pieces[0].faces)
    return trimesh.util.concatenate([piece for piece in pieces if len(piece.faces) >= least])


def count_parts(voxels: np.ndarray, threshold: float) -> int:
    """How many separate parts the grid's voxels above ``threshold`` make."""
    from scipy import ndimage

    return int(ndimage.label(np.asarray(voxels) > threshold, structure=_JOINED)[1])


def drop_small_parts(voxels: np.ndarray, threshold: float, min_share: float) -> np.ndarray:
    """A copy of ``voxels`` without the parts that have fewer voxels than ``min_share``
    (0..1) of the largest part's (their voxels become 0); the largest always stays, and 0
    keeps everything (``voxels`` itself)."""
    from scipy import ndimage

    if min_share <= 0:
        return voxels
    labels, count = ndimage.label(np.asarray(voxels) > threshold, structure=_JOINED)
    if count <= 1:
        return voxels
    sizes = np.bincount(labels.ravel())[1:]  # part k has sizes[k - 1] voxels
    small = np.flatnonzero(sizes < min_share * sizes.max()) + 1
    kept = np.array(voxels, copy=True)
    kept[np.isin(labels, small)] = 0
    return kept

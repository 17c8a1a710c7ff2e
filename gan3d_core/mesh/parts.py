"""Separate parts of an occupancy grid or a mesh, and leaving the small ones out of an export.

Decoded shapes often carry specks beside the object (more than half of the bundled model's
random samples have more than one part); a slicer prints each as a loose blob. Leaving out
the parts under a share of the largest is MeshLab's "Remove Isolated pieces", done on the
grid before any surface is made, so that every format and surface style loses the same
voxels and a closed cavity inside the object is not a part. A part is a set of voxels above
the threshold joined through faces or edges, the joins the surface of a binary grid makes
(see :mod:`gan3d_core.mesh.surface`); voxels touching at a corner only stay apart.

A smooth surface does not always join voxels that share only an edge (that depends on the
occupancies around the edge), so an export counts and drops the parts of its mesh too:
its closed shells, those around a cavity aside.
"""

from __future__ import annotations

import numpy as np

# the 18 neighbours sharing a face or an edge
_JOINED = np.array(
    [[[abs(x) + abs(y) + abs(z) <= 2 for z in (-1, 0, 1)] for y in (-1, 0, 1)] for x in (-1, 0, 1)]
)


def _labelled(voxels: np.ndarray, threshold: float) -> tuple[np.ndarray, int]:
    from scipy import ndimage  # here: the app's window opens without loading scipy

    return ndimage.label(np.asarray(voxels) > threshold, structure=_JOINED)


def count_parts(voxels: np.ndarray, threshold: float) -> int:
    """How many separate parts the grid's voxels above ``threshold`` make."""
    return int(_labelled(voxels, threshold)[1])


def drop_small_parts(voxels: np.ndarray, threshold: float, min_share: float) -> np.ndarray:
    """A copy of ``voxels`` without the parts that have fewer voxels than ``min_share``
    (0..1) of the largest part's (their voxels become 0); the largest always stays, and 0
    keeps everything (``voxels`` itself)."""
    if min_share <= 0:
        return voxels
    labels, count = _labelled(voxels, threshold)
    if count <= 1:
        return voxels
    sizes = np.bincount(labels.ravel())[1:]  # part k has sizes[k - 1] voxels
    small = np.flatnonzero(sizes < min_share * sizes.max()) + 1
    kept = np.array(voxels, copy=True)
    kept[np.isin(labels, small)] = 0
    return kept


def shell_volumes(mesh) -> tuple[np.ndarray, np.ndarray]:
    """Each face's shell (faces joined through shared edges) and each shell's signed
    volume: positive for a piece, negative for the wall of a cavity (surfaces here are
    wound outwards)."""
    import trimesh

    shells = trimesh.graph.connected_component_labels(mesh.face_adjacency, len(mesh.faces))
    a, b, c = (mesh.vertices[mesh.faces[:, k]] for k in range(3))
    volumes = np.bincount(shells, weights=np.einsum("ij,ij->i", a, np.cross(b, c)) / 6)
    return shells, volumes


def count_shells(mesh) -> int:
    """How many separate pieces a mesh holds: its shells facing outwards (a shell around a
    cavity inside a piece faces inwards, with negative volume, and is not one)."""
    return int((shell_volumes(mesh)[1] > 0).sum()) if len(mesh.faces) else 0


def largest_piece_place(mesh) -> tuple[float, float, float]:
    """Where the largest piece stands within the whole: how far its lowest point is above
    the mesh's, as a share of the mesh's height; its longest side as a share of the mesh's;
    and the share of the volume the other pieces hold. A slicer sets a print on its lowest
    point and a size counts every piece, so a speck under a chair leaves the chair in the
    air and smaller ((0, 1, 0) for one piece)."""
    if len(mesh.faces) == 0:
        return 0.0, 1.0, 0.0
    shells, volumes = shell_volumes(mesh)
    pieces = volumes[volumes > 0]
    if len(pieces) < 2:
        return 0.0, 1.0, 0.0
    largest = mesh.vertices[np.unique(mesh.faces[shells == np.argmax(volumes)])]
    low, high = mesh.vertices.min(axis=0), mesh.vertices.max(axis=0)
    height, side = high[2] - low[2], (high - low).max()
    lift = (largest[:, 2].min() - low[2]) / height if height > 0 else 0.0
    share = np.ptp(largest, axis=0).max() / side if side > 0 else 1.0
    return float(lift), float(share), float(1 - pieces.max() / pieces.sum())


def drop_small_shells(mesh, min_share: float):
    """``mesh`` without the outward shells enclosing less than ``min_share`` (0..1) of the
    largest one's volume; 0 keeps everything. Cavities stay: the grid's own pass
    (:func:`drop_small_parts`) has already left out small parts with whatever they enclose,
    so what is left to drop here are slivers a few voxels wide."""
    if min_share <= 0 or len(mesh.faces) == 0:
        return mesh
    shells, volumes = shell_volumes(mesh)
    kept = (volumes < 0) | (volumes >= min_share * volumes.max())
    if kept.all():
        return mesh
    mesh = mesh.copy()
    mesh.update_faces(kept[shells])
    mesh.remove_unreferenced_vertices()
    return mesh

"""Write shapes to disk: meshes (STL, OBJ, PLY, GLB, 3MF) and voxels (.binvox, .npy), atomically.

The format comes from the file suffix; an unknown suffix or an empty shape is an error
before anything is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from numbers import Integral, Real
from pathlib import Path
from typing import NamedTuple

import numpy as np
import trimesh

from gan3d_core.config import DEFAULT_THRESHOLD
from gan3d_core.errors import EmptyShapeError, InputFileError, OutputFileError, UsageError
from gan3d_core.io.atomic import check_output_path, write_bytes_atomic, write_npy_atomic
from gan3d_core.io.binvox import write_binvox
from gan3d_core.io.inputs import check_voxel_grid
from gan3d_core.io.kinds import GLTF_SUFFIXES
from gan3d_core.limits import (
    DEFAULT_SMOOTH_ITERATIONS,
    MAX_FACES,
    MAX_SIZE_MM,
    MAX_SMOOTH_ITERATIONS,
    MAX_SURFACE_FACES,
    MIN_SIZE_MM,
)
from gan3d_core.mesh.parts import (
    count_parts,
    count_shells,
    drop_small_parts,
    drop_small_shells,
    largest_piece_place,
)
from gan3d_core.mesh.surface import (
    fit_to_size,
    voxels_to_cubes,
    voxels_to_mesh,
)

# A largest piece this share of the height above the lowest point, or this share smaller than
# the whole, is said to be (a chair over a one-voxel speck stood 21 % of its height up, and
# was 79 % of the size asked)
PLACE_NOTED = 0.02
# ... when the other pieces hold under this share of the volume: specks, which --min-part
# leaves out (two equal slabs, or a table's legs broken off its top at 32^3, are the shape)
SPECKS_SHARE = 0.05
# 3MF, the slicers' own format (PrusaSlicer, Bambu Studio, Cura), states its unit: millimetres
MESH_FORMATS = {".stl": "stl", ".obj": "obj", ".ply": "ply", ".glb": "glb", ".3mf": "3mf"}
VOXEL_FORMATS = (".binvox", ".npy")
METRES_PER_MM = 1e-3
# Without a size, a glTF file's grid spans this many metres (glTF's unit): ModelNet's
# furniture comes out near life size, where a metre a voxel made a 32^3 chair 32 m tall.
GLTF_GRID_METRES = 1.0
# the app's own grey, not metallic, mostly rough: how a GLB looks in Blender and web viewers
MATTE_GREY = trimesh.visual.material.PBRMaterial(
    name="gan3d grey", baseColorFactor=[184, 184, 194, 255], metallicFactor=0.0,
    roughnessFactor=0.8,
)  # fmt: skip
PRODUCTION_NAMESPACE = "http://schemas.microsoft.com/3dmanufacturing/production/2015/06"
EXPORT_SUFFIXES = tuple(MESH_FORMATS) + VOXEL_FORMATS
# glTF is y up by its specification, ours z up: (x, y, z) -> (x, z, -y), as Blender's glTF
# exporter turns its z-up scenes, the inverse of gan3d_core.data.datasets.GLTF_Y_UP_TO_Z_UP
Z_UP_TO_GLTF = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, -1, 0, 0], [0, 0, 0, 1]], float)


@dataclass(frozen=True)
class ExportOptions:
    """How a voxel grid becomes a file: surface style, threshold, smoothing, size."""

    threshold: float = DEFAULT_THRESHOLD
    style: str = "smooth"  # "smooth" (marching cubes) or "blocks" (one cube per voxel)
    smooth_iterations: int = DEFAULT_SMOOTH_ITERATIONS
    target_faces: int | None = None
    size: float | None = None  # longest side in output units (mm for printing); None: voxels
    # separate parts with fewer voxels than this share (0..1: 0.05 is the command line's
    # --min-part 5) of the largest part's are left out (0: all kept), in every format;
    # see gan3d_core.mesh.parts
    min_part: float = 0.0
    # mesh units per voxel when no size is given: a finer surface of a shape (an implicit
    # decoder's 128^3 for a 32^3 model) has voxels of 32 / 128, so it comes out as large
    voxel_size: float = 1.0

    def __post_init__(self) -> None:
        # the types first: a string compared with a number raised Python's TypeError, and
        # 2.5 smoothing passes failed only once the mesh was being smoothed (audit)
        for name, whole in (("threshold", False), ("smooth_iterations", True),
                            ("target_faces", True), ("size", False), ("min_part", False),
                            ("voxel_size", False)):  # fmt: skip
            value = getattr(self, name)
            if value is None and name in ("target_faces", "size"):
                continue
            if isinstance(value, bool) or not isinstance(value, Integral if whole else Real):
                kind = "a whole number" if whole else "a number"
                raise UsageError(f"{name} must be {kind}, got {value!r}")
        if self.style not in ("smooth", "blocks"):
            raise UsageError(f"style must be smooth or blocks, got {self.style!r}")
        if not 0.0 < self.threshold < 1.0:
            raise UsageError(f"threshold must be between 0 and 1, got {self.threshold}")
        if self.smooth_iterations < 0:
            raise UsageError(f"smooth_iterations must be >= 0, got {self.smooth_iterations}")
        if self.target_faces is not None and self.target_faces < 4:
            raise UsageError(f"target_faces must be >= 4, got {self.target_faces}")
        if self.smooth_iterations > MAX_SMOOTH_ITERATIONS:
            raise UsageError(
                f"smooth_iterations {self.smooth_iterations} is over the limit of "
                f"{MAX_SMOOTH_ITERATIONS}"
            )
        if self.target_faces is not None and self.target_faces > MAX_FACES:
            raise UsageError(f"target_faces {self.target_faces} is over the limit of {MAX_FACES}")
        if not 0.0 <= self.min_part <= 1.0:  # NaN fails too
            raise UsageError(f"min_part must be a share between 0 and 1, got {self.min_part}")
        if not 0.0 < self.voxel_size < float("inf"):
            raise UsageError(f"voxel_size must be a positive number, got {self.voxel_size}")
        if self.size is not None and not MIN_SIZE_MM <= self.size <= MAX_SIZE_MM:
            # NaN and infinity fail this too: they would write a mesh of NaN vertices
            raise UsageError(
                f"size must be a number in [{MIN_SIZE_MM:g}, {MAX_SIZE_MM:g}], got {self.size}"
            )

    def scaled_for(self, model_resolution: int, grid_side: int) -> ExportOptions:
        """These options for a grid of ``grid_side`` decoded by a model of
        ``model_resolution`` (a finer surface: --surface-resolution, the app's high
        resolution): its meshes come out the size of the model's own."""
        return replace(self, voxel_size=model_resolution / grid_side)


def export_format(path: str | os.PathLike) -> str:
    """The lower-case suffix of ``path`` if gan3d can write it, else an error."""
    suffix = Path(path).suffix.lower()
    if not suffix and Path(path).is_dir():
        raise OutputFileError(f"{path}: is a directory, expected a file name")
    if suffix not in EXPORT_SUFFIXES:
        raise UsageError(
            f"{path}: unknown export format {suffix or '(no suffix)'}; "
            f"use one of {', '.join(EXPORT_SUFFIXES)}"
        )
    return suffix


def surface_face_count(voxels: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> int:
    """Faces between an occupied and an empty voxel (the grid's outside counts as empty):
    what a mesh of ``voxels`` costs, counted without making it."""
    occupied = np.pad(np.asarray(voxels) > threshold, 1)
    return sum(
        int(np.count_nonzero(np.diff(occupied.view(np.uint8), axis=axis))) for axis in range(3)
    )


def check_mesh_cost(voxels: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> None:
    """Refuse grids whose surface is over :data:`~gan3d_core.limits.MAX_SURFACE_FACES`."""
    faces = surface_face_count(voxels, threshold)
    if faces > MAX_SURFACE_FACES:
        raise UsageError(
            f"shape has {faces:,} surface faces at threshold {threshold:g}, over the limit "
            f"of {MAX_SURFACE_FACES:,} (is it noise?)"
        )


def shape_to_mesh(voxels: np.ndarray, options: ExportOptions = ExportOptions()) -> trimesh.Trimesh:
    """The mesh that exporting ``voxels`` with ``options`` writes."""
    voxels = drop_small_parts(voxels, options.threshold, options.min_part)
    check_mesh_cost(voxels, options.threshold)
    if options.style == "blocks":
        mesh = voxels_to_cubes(voxels, options.threshold)
    else:
        mesh = voxels_to_mesh(
            voxels, options.threshold, options.smooth_iterations, options.target_faces
        )
    mesh = drop_small_shells(mesh, options.min_part)  # the surface parts some voxels apart
    if options.size is None and options.voxel_size != 1.0:
        mesh.apply_scale(options.voxel_size)
    return fit_to_size(mesh, options.size)  # on the ground, centred: a slicer's plate


def export_mesh(mesh: trimesh.Trimesh, path: str | os.PathLike, shaded: bool = False) -> Path:
    """Write ``mesh`` to ``path`` (binary STL, OBJ, binary PLY, GLB or 3MF), atomically;
    formats that name their objects (OBJ, GLB, 3MF) name it after the file, and a GLB is
    turned y up, as glTF viewers and Blender read it, with a neutral matte material.
    ``shaded``: a smooth surface, whose vertex normals OBJ and GLB carry so that viewers
    shade it smooth (glTF without normals is drawn flat, as blocks should be)."""
    check_output_path(path)
    suffix = export_format(path)
    if suffix not in MESH_FORMATS:
        raise InputFileError(f"{path}: {suffix} holds voxels, not a mesh; use export_voxels")
    if len(mesh.faces) == 0:
        raise EmptyShapeError(f"{path}: nothing to export, the mesh is empty")
    if suffix in GLTF_SUFFIXES:
        mesh = mesh.copy()
        mesh.apply_transform(Z_UP_TO_GLTF)
        # without a material three.js draws glTF fully metallic: near black with no lights
        mesh.visual = trimesh.visual.TextureVisuals(material=MATTE_GREY)
    normals = {"include_normals": shaded} if suffix in (".obj", ".glb") else {}
    data = _named_scene(mesh, Path(path).stem).export(file_type=MESH_FORMATS[suffix], **normals)
    if suffix == ".3mf":
        data = _tidy_3mf(data)
    return write_bytes_atomic(path, data.encode("utf-8") if isinstance(data, str) else data)


def _tidy_3mf(data: bytes) -> bytes:
    """trimesh's 3MF, rewritten so that lib3mf reads it without a warning and the same mesh
    always gives the same bytes.

    trimesh declares every namespace again on the build's ``<item>`` (lib3mf: "Invalid
    Attribute in namespace"), gives each object and item a random UUID and stamps the zip
    entries with the time; here the item inherits its parent's namespaces, the UUIDs are
    drawn from the model's content and the entries carry the zip format's first date."""
    import hashlib
    import io
    import uuid
    import zipfile

    from lxml import etree

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        parts = {member.filename: archive.read(member) for member in archive.infolist()}
    model_name = next(name for name in parts if name.endswith(".model"))
    root = etree.fromstring(parts[model_name])
    for item in list(root.iter("{*}item")):  # replaced as it goes: iterate over a copy
        parent, position = item.getparent(), item.getparent().index(item)
        parent.remove(item)
        parent.insert(position, etree.Element(item.tag, dict(item.attrib), nsmap=parent.nsmap))
    uuid_attribute = f"{{{PRODUCTION_NAMESPACE}}}UUID"
    identified = [element for element in root.iter() if uuid_attribute in element.attrib]
    for element in identified:
        del element.attrib[uuid_attribute]
    digest = hashlib.sha256(etree.tostring(root)).hexdigest()
    for number, element in enumerate(identified):
        element.set(uuid_attribute, str(uuid.uuid5(uuid.NAMESPACE_URL, f"{digest}/{number}")))
    parts[model_name] = etree.tostring(root, xml_declaration=True, encoding="utf-8")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            archive.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), content,
                             compress_type=zipfile.ZIP_DEFLATED)  # fmt: skip
    return out.getvalue()


def _named_scene(mesh: trimesh.Trimesh, name: str) -> trimesh.Scene:
    """``mesh`` as the one object of a scene, named ``name``. trimesh's 3MF writer leaves
    out of the build any node whose name starts with "camera", and "world" is its scene's
    root, so such names are kept for the object but not given to its node."""
    scene = trimesh.Scene()
    reserved = name.startswith("camera") or name == scene.graph.base_frame
    scene.add_geometry(mesh, geom_name=name, node_name=f"shape {name}" if reserved else name)
    return scene


def export_voxels(
    voxels: np.ndarray, path: str | os.PathLike, threshold: float = DEFAULT_THRESHOLD
) -> Path:
    """Write voxels: ``.npy`` keeps float32 occupancy, ``.binvox`` the grid above threshold."""
    suffix = export_format(path)
    voxels = check_voxel_grid(voxels)
    if suffix == ".npy":
        return write_npy_atomic(path, voxels)
    if suffix == ".binvox":
        # binvox's scale is the grid's side in world units: one unit a voxel, as in meshes
        return write_binvox(path, voxels > threshold, scale=float(max(voxels.shape)))
    raise InputFileError(f"{path}: {suffix} is a mesh format; use export_mesh")


class WrittenShape(NamedTuple):
    path: Path
    parts: int  # separate parts written: a mesh's shells, a grid's parts (gan3d_core.mesh.parts)
    note: str = ""  # where the file differs from what was asked, for the user to read


def export_shape(
    voxels: np.ndarray, path: str | os.PathLike, options: ExportOptions = ExportOptions()
) -> Path:
    """Write an occupancy grid to ``path`` in the format its suffix names.

    Raises :class:`EmptyShapeError` (nothing written) when no voxel exceeds the threshold.
    """
    return write_shape(voxels, path, options).path


def write_shape(
    voxels: np.ndarray, path: str | os.PathLike, options: ExportOptions = ExportOptions()
) -> WrittenShape:
    """:func:`export_shape`, also saying how many separate parts it wrote."""
    check_output_path(path)
    suffix = export_format(path)
    voxels = check_voxel_grid(voxels)
    if not voxels.max() > options.threshold:
        raise EmptyShapeError(
            f"{path}: nothing to export, no voxel is above threshold {options.threshold:g} "
            f"(highest occupancy {voxels.max():.3g}); lower the threshold"
        )
    kept = drop_small_parts(voxels, options.threshold, options.min_part)
    notes = [_left_out(voxels, kept, options)] if kept is not voxels else []
    if suffix in VOXEL_FORMATS:
        return WrittenShape(
            export_voxels(kept, path, options.threshold),
            count_parts(kept, options.threshold),
            "; ".join(note for note in notes if note),
        )
    mesh = shape_to_mesh(kept, options)
    if suffix in GLTF_SUFFIXES:  # glTF's unit is the metre; a size is millimetres
        grid_side = max(voxels.shape) * options.voxel_size  # its longest side spans 1 m
        mesh.apply_scale(
            METRES_PER_MM if options.size is not None else GLTF_GRID_METRES / grid_side
        )
    lift, share, others = largest_piece_place(mesh)
    specks = others < SPECKS_SHARE  # not a table's broken-off legs, which are the shape
    placed = [f"starts {lift:.0%} of the height above the base"] if lift > PLACE_NOTED else []
    if share < 1 - PLACE_NOTED:
        placed.append(
            f"is {share * options.size:.3g} mm long, not the {options.size:g} mm asked"
            if options.size
            else f"is {share:.0%} as long as the whole"
        )
    if placed and specks:  # the command and the app then say how to leave out small parts
        notes.append(f"the largest part {' and '.join(placed)}: specks set the base and size")
    asked = options.target_faces if options.style == "smooth" else None
    if asked is not None and len(mesh.faces) > asked:  # see surface.decimate
        notes.append(
            f"decimated to {len(mesh.faces):,} faces, not {asked:,}: every decimation to "
            "fewer tried left it open or lost its shape"
        )
    written = export_mesh(mesh, path, options.style == "smooth")
    return WrittenShape(written, count_shells(mesh), "; ".join(note for note in notes if note))


def _left_out(voxels: np.ndarray, kept: np.ndarray, options: ExportOptions) -> str:
    """What ``min_part`` left out, in words ("" when nothing): a table's legs are small
    beside its top, and a user should hear that they went."""
    before = int((voxels > options.threshold).sum())
    gone = before - int((kept > options.threshold).sum())
    parts = count_parts(voxels, options.threshold) - count_parts(kept, options.threshold)
    if parts == 0:
        return ""
    amount = f"{gone:,}" if gone < 100 else f"{gone / before:.1%}"  # specks: not "0.0%"
    return (
        f"left out {parts} part{'s' if parts != 1 else ''} under {options.min_part * 100:g} % "
        f"of the largest, {amount} of the shape's {before:,} voxels"
    )

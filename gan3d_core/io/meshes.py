"""Load triangle meshes (OFF, OBJ, STL, PLY, GLB, 3MF) with clear errors."""

from __future__ import annotations

import codecs
import io
import os
import re
import zipfile
import zlib

import numpy as np
import trimesh

from gan3d_core.errors import InputFileError, first_line
from gan3d_core.io.atomic import check_input_file, read_input_bytes
from gan3d_core.io.inputs import parse_json
from gan3d_core.io.kinds import MESH_SUFFIXES
from gan3d_core.limits import (
    MAX_3MF_UNPACKED_BYTES,
    MAX_MESH_FILE_BYTES,
    MAX_MESH_TRIANGLES,
    MAX_TEXT_MESH_FILE_BYTES,
)

# ModelNet has files whose first line is "OFF490 518 0": the counts glued to the keyword.
_GLUED_OFF_HEADER = re.compile(rb"^(\s*OFF)(?=[\s\d-])[ \t]*(?=\S)")
# An OBJ face naming vertex 0: OBJ counts from 1, and trimesh took 0 for another vertex.
_OBJ_FACE_WITH_VERTEX_ZERO = re.compile(
    rb"(?m)^[ \t]*f[ \t][^\n]*?(?<=[ \t])[+]?0+(?=[/ \t\r\n]|$)"
)


def load_mesh(path: str | os.PathLike) -> trimesh.Trimesh:
    """Read a mesh file into one ``trimesh.Trimesh`` (scenes are concatenated)."""
    path = check_input_file(path, "mesh file", max_bytes=MAX_MESH_FILE_BYTES)
    suffix = path.suffix.lower()
    if suffix not in MESH_SUFFIXES:
        raise InputFileError(
            f"{path}: unsupported mesh format {suffix or '(none)'}; use {', '.join(MESH_SUFFIXES)}"
        )
    _, data = read_input_bytes(path, "mesh file", max_bytes=MAX_MESH_FILE_BYTES)
    text = _is_text_mesh(suffix, data)
    if len(data) > MAX_TEXT_MESH_FILE_BYTES and text:
        raise InputFileError(
            f"{path}: a text mesh of {len(data) / 1e6:.3g} MB is over the limit of "
            f"{MAX_TEXT_MESH_FILE_BYTES >> 20} MiB (text takes 100 times its size to read); "
            "save it as binary STL, PLY or GLB"
        )
    if suffix == ".off":
        data = _fix_off_header(data)
        _check_off_layout(path, data)
    if suffix == ".obj" and (zero := _OBJ_FACE_WITH_VERTEX_ZERO.search(data)):
        line = data.count(b"\n", 0, zero.start()) + 1
        raise InputFileError(f"{path}: line {line}: a face names vertex 0 (OBJ counts from 1)")
    if suffix == ".3mf":
        _check_3mf_archive(path, data)
    if suffix == ".glb":
        _check_glb_header(path, data)
    if suffix == ".gltf":
        _check_gltf_buffers(path, data)
    if suffix == ".stl" and not text:
        data = _binary_stl_triangles(path, data)
    try:
        # From bytes, with no resolver: a file cannot make trimesh open others (an OBJ's
        # `mtllib` or a .gltf buffer naming a FIFO, a device or /etc/passwd).
        mesh = trimesh.load(
            io.BytesIO(data), file_type=suffix[1:], force="mesh", process=False, resolver=None
        )
    except Exception as exc:  # trimesh raises many types for malformed files
        reason = first_line(exc)
        if isinstance(exc, LookupError):  # a bare key or index says little on its own
            reason = f"malformed, {type(exc).__name__} {reason}"
        raise InputFileError(f"{path}: cannot read mesh ({reason})") from None
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise InputFileError(f"{path}: mesh has no triangles")
    if len(mesh.faces) > MAX_MESH_TRIANGLES:
        raise InputFileError(
            f"{path}: mesh has {len(mesh.faces):,} triangles, over the limit of "
            f"{MAX_MESH_TRIANGLES:,}; simplify it first"
        )
    faces = np.asarray(mesh.faces)
    if (
        faces.ndim != 2
        or faces.shape[1] != 3
        or faces.min() < 0
        or faces.max() >= len(mesh.vertices)
    ):
        raise InputFileError(f"{path}: mesh has triangles with invalid vertex indices")
    if np.ndim(mesh.vertices) != 2 or np.shape(mesh.vertices)[1] != 3:
        raise InputFileError(f"{path}: mesh vertices are not 3D points")
    if not np.isfinite(mesh.vertices).all():
        raise InputFileError(f"{path}: mesh has NaN or infinite vertex coordinates")
    return mesh


def _is_text_mesh(suffix: str, data: bytes) -> bool:
    """Whether a mesh file's bytes are text: OBJ and OFF always, PLY when its header says
    ascii, STL when it begins "solid" with facets after and its size is not the binary
    layout's (84 bytes and 50 a triangle)."""
    if suffix in (".obj", ".off"):
        return True
    if suffix == ".ply":
        return b"format ascii" in data[:1024]
    if suffix == ".stl":  # binary headers may begin "solid" too: their size and facets tell
        triangles = int.from_bytes(data[80:84], "little") if len(data) >= 84 else -1
        head = data[:1024].removeprefix(codecs.BOM_UTF8).lstrip().lower()
        return (
            len(data) != 84 + 50 * triangles
            and head.startswith(b"solid")
            and (b"facet" in head or b"endsolid" in head)
        )
    return False


def _binary_stl_triangles(path: os.PathLike, data: bytes) -> bytes:
    """A binary STL's bytes up to its last declared triangle (padding after it is left out:
    trimesh read a padded file as one with no triangles); one cut short is named so, not
    as a mesh with no triangles."""
    if len(data) < 84:
        return data  # the reader says what it is
    declared = int.from_bytes(data[80:84], "little")
    if len(data) < 84 + 50 * declared:
        raise InputFileError(
            f"{path}: binary STL declares {declared:,} triangles but holds "
            f"{(len(data) - 84) // 50:,}; it is cut short or corrupt"
        )
    return data[: 84 + 50 * declared]


def _check_gltf_buffers(path: os.PathLike, data: bytes) -> None:
    """A .gltf whose buffers are other files (Blender's "glTF Separate") is refused with
    that reason: gan3d opens no file a mesh names (see load_mesh)."""
    try:
        buffers = parse_json(data, path).get("buffers", [])
        external = [
            buffer["uri"] for buffer in buffers
            if isinstance(buffer.get("uri"), str) and not buffer["uri"].startswith("data:")
        ]  # fmt: skip
    except (InputFileError, AttributeError, TypeError):
        return  # the reader says what is wrong with it
    if external:
        raise InputFileError(
            f"{path}: its buffers are other files ({external[0]!r}); gan3d reads "
            "self-contained glTF: export .glb, or .gltf with embedded buffers"
        )


def _check_glb_header(path: os.PathLike, data: bytes) -> None:
    """Refuse a GLB whose 12-byte header (magic glTF, version 2, total length) does not
    match the file: a download cut short is named as one, not by the JSON parser's words
    for the half of its scene description it got."""
    if len(data) < 12 or data[:4] != b"glTF":
        raise InputFileError(f"{path}: not a GLB file (it does not start with 'glTF')")
    version, length = int.from_bytes(data[4:8], "little"), int.from_bytes(data[8:12], "little")
    if version != 2:
        raise InputFileError(f"{path}: a glTF {version} file; gan3d reads glTF 2")
    if length > len(data):
        raise InputFileError(
            f"{path}: cut short: its header says {length:,} bytes, the file has {len(data):,}"
        )


def _fix_off_header(data: bytes) -> bytes:
    """Split ``OFF490 518 0`` into ``OFF`` and ``490 518 0`` lines."""
    return _GLUED_OFF_HEADER.sub(rb"\1\n", data, count=1)


def _check_off_layout(path: os.PathLike, data: bytes) -> None:
    """Refuse an OFF file whose lines do not match its counts: trimesh reads a face line
    as a vertex when one vertex line is missing, and a shape out of place is made."""
    lines = [line.split(b"#")[0].split() for line in data.splitlines()]
    lines = [tokens for tokens in lines if tokens][1:]  # after the OFF keyword
    try:
        vertex_count, face_count = (int(value) for value in lines[0][:2])
    except (IndexError, ValueError):
        raise InputFileError(f"{path}: OFF file has no vertex and face counts") from None
    vertices, faces = lines[1 : 1 + vertex_count], lines[1 + vertex_count :]
    short = next((n for n, tokens in enumerate(vertices) if len(tokens) < 3), None)
    if short is not None:
        raise InputFileError(f"{path}: OFF vertex {short} has fewer than 3 coordinates")
    if len(vertices) < vertex_count or len(faces) < face_count:
        raise InputFileError(
            f"{path}: OFF file declares {vertex_count:,} vertices and {face_count:,} faces "
            f"but holds {len(lines) - 1:,} lines of them; it is truncated or a line is missing"
        )


def _check_3mf_archive(path: os.PathLike, data: bytes) -> None:
    """A 3MF is a zip archive: refuse one that is not, or that would unpack to more than
    :data:`~gan3d_core.limits.MAX_3MF_UNPACKED_BYTES`, before anything is unpacked."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            if not any(member.filename.lower().endswith(".model") for member in members):
                raise InputFileError(f"{path}: not a 3MF file, it holds no 3D model part (.model)")
            unpacked = sum(member.file_size for member in members)
            if unpacked > MAX_3MF_UNPACKED_BYTES:
                raise InputFileError(
                    f"{path}: 3MF unpacks to {unpacked / 2**20:,.0f} MiB, over the limit of "
                    f"{MAX_3MF_UNPACKED_BYTES >> 20} MiB"
                )
            # The sizes are what the archive declares: read in chunks, a member stops at
            # its declared size and fails its checksum if it holds more (a zip bomb that
            # understates its size, which a whole read would unpack in full)
            for member in members:
                with archive.open(member) as stream:
                    while stream.read(1 << 20):
                        pass
    except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError) as exc:
        if isinstance(exc, InputFileError):
            raise
        raise InputFileError(
            f"{path}: not a 3MF file, its zip archive is unreadable ({exc})"
        ) from None

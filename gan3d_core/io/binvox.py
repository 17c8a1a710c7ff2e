"""Read and write ``.binvox`` voxel files (Patrick Min's binvox format, version 1).

Our own reader: the ``binvox`` package breaks on numpy 2 in its sparse paths and does not
validate input. Grids are returned in gan3d order (x, y, z); the file stores voxels with
index ``x * (d * h) + z * w + y``, i.e. a C-order array of shape (x, z, y).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gan3d_core.config import DEFAULT_THRESHOLD
from gan3d_core.errors import InputFileError, UsageError
from gan3d_core.io.atomic import read_input_bytes, write_bytes_atomic
from gan3d_core.io.inputs import check_voxel_grid
from gan3d_core.limits import MAX_GRID_SIDE
from gan3d_core.reprs import summary_repr

# Run-length pairs are 2 bytes and cover at least one voxel each; the header is a few lines.
MAX_BINVOX_BYTES = 2 * MAX_GRID_SIDE**3 + 4096


@dataclass
class BinvoxGrid:
    """A binvox grid: ``voxels`` bool (X, Y, Z) and the transform to model coordinates."""

    voxels: np.ndarray
    translate: tuple[float, float, float] = (0.0, 0.0, 0.0)
    scale: float = 1.0

    __repr__ = summary_repr


def read_binvox(path: str | os.PathLike) -> BinvoxGrid:
    """Read a ``.binvox`` file: its boolean (x, y, z) grid with the header's translate and
    scale; malformed files raise an InputFileError naming the file and the fault."""
    path, raw = read_input_bytes(path, ".binvox file", max_bytes=MAX_BINVOX_BYTES)
    dims, translate, scale, data_start = _parse_header(path, raw)
    data = np.frombuffer(raw, dtype=np.uint8, offset=data_start)
    if data.size % 2:
        raise InputFileError(f"{path}: truncated .binvox data (odd number of run-length bytes)")
    values, counts = data[::2], data[1::2].astype(np.int64)
    expected, found = int(np.prod(dims)), int(counts.sum())
    if found < expected:
        raise InputFileError(f"{path}: truncated .binvox data ({found} of {expected} voxels)")
    if found > expected:
        raise InputFileError(f"{path}: corrupt .binvox data ({found} voxels for a {dims} grid)")
    if values.max(initial=0) > 1:
        raise InputFileError(
            f"{path}: corrupt .binvox data (run value {values.max()} is not 0 or 1)"
        )
    flat = np.repeat(values.astype(bool), counts)
    voxels = flat.reshape(dims[0], dims[2], dims[1]).transpose(0, 2, 1)  # (x, z, y) -> (x, y, z)
    return BinvoxGrid(np.ascontiguousarray(voxels), translate, scale)


def write_binvox(
    path: str | os.PathLike,
    voxels: np.ndarray,
    translate: tuple[float, float, float] = (0.0, 0.0, 0.0),
    scale: float = 1.0,
) -> Path:
    """Write an (x, y, z) grid as ``.binvox``, atomically: a boolean grid as it is, an
    occupancy grid (a decoded shape: float, never exactly 0) filled where it is over 0.5,
    the project's threshold."""
    if Path(path).suffix.lower() != ".binvox":  # binvox bytes in a file named .stl
        raise UsageError(f"{path}: write_binvox writes .binvox files; export_shape writes others")
    voxels = check_voxel_grid(voxels) > DEFAULT_THRESHOLD
    flat = np.ascontiguousarray(voxels.transpose(0, 2, 1)).ravel()  # (x, z, y)
    header = (
        "#binvox 1\n"
        f"dim {voxels.shape[0]} {voxels.shape[2]} {voxels.shape[1]}\n"
        f"translate {translate[0]:g} {translate[1]:g} {translate[2]:g}\n"
        f"scale {scale:g}\n"
        "data\n"
    )
    return write_bytes_atomic(path, header.encode("ascii") + _run_length_encode(flat))


def _run_length_encode(flat: np.ndarray) -> bytes:
    """(value, count) byte pairs with runs of at most 255, as binvox stores them."""
    if flat.size == 0:
        return b""
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    starts = np.concatenate(([0], change))
    lengths = np.diff(np.concatenate((starts, [flat.size])))
    values = flat[starts].astype(np.uint8)
    chunks = (lengths + 254) // 255  # runs longer than 255 split into 255s and a remainder
    run_values = np.repeat(values, chunks)
    run_counts = np.full(run_values.size, 255, dtype=np.int64)
    last_chunk = np.cumsum(chunks) - 1
    run_counts[last_chunk] = lengths - 255 * (chunks - 1)
    pairs = np.empty(2 * run_values.size, dtype=np.uint8)
    pairs[0::2], pairs[1::2] = run_values, run_counts
    return pairs.tobytes()


def _parse_header(path: Path, raw: bytes):
    """(dims as stored (d, h, w) -> reported as (x, y, z) sizes, translate, scale, offset)."""
    if not raw.startswith(b"#binvox"):
        raise InputFileError(f"{path}: not a .binvox file (no '#binvox' header)")
    first_end = raw.find(b"\n")
    if first_end < 0:
        raise InputFileError(f"{path}: truncated .binvox header")
    version = raw[len(b"#binvox") : first_end].strip()  # only version 1 was ever published
    if version != b"1":
        shown = version.decode("ascii", errors="replace")[:20] or "none"
        raise InputFileError(f"{path}: .binvox version {shown!r} is not supported (only 1)")
    dims = translate = scale = None
    offset = first_end + 1
    for _ in range(16):  # the header has a handful of lines; stop on garbage
        end = raw.find(b"\n", offset)
        if end < 0:
            raise InputFileError(f"{path}: truncated .binvox header")
        line = raw[offset:end].decode("ascii", errors="replace").strip()
        offset = end + 1
        key, _, rest = line.partition(" ")
        try:
            if key == "dim":
                depth, height, width = (int(v) for v in rest.split())
                dims = (depth, width, height)  # stored x, z, y -> sizes along x, y, z
            elif key == "translate":
                translate = tuple(_finite(float(v)) for v in rest.split())
                if len(translate) != 3:
                    raise ValueError
            elif key == "scale":
                scale = _finite(float(rest))
            elif key == "data":
                break
        except ValueError:
            raise InputFileError(f"{path}: malformed .binvox header line {line!r}") from None
    else:
        raise InputFileError(f"{path}: .binvox header has no 'data' line")
    if dims is None or min(dims) < 1:
        raise InputFileError(f"{path}: .binvox header has no valid 'dim' line")
    if max(dims) > MAX_GRID_SIDE:
        raise InputFileError(
            f"{path}: .binvox grid {dims[0]}x{dims[1]}x{dims[2]} is larger than the limit of "
            f"{MAX_GRID_SIDE} a side"
        )
    return dims, translate or (0.0, 0.0, 0.0), 1.0 if scale is None else scale, offset


def _finite(value: float) -> float:
    if not np.isfinite(value):
        raise ValueError
    return value

"""Readers for untrusted JSON and ``.npy``/``.npz`` files that believe no declared size.

JSON is checked for depth before it is parsed (Python's parser recurses and would end in a
``RecursionError``); an array's header is read and its shape, dtype and byte count are
checked against :mod:`gan3d_core.limits` and the file's real size before numpy allocates.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from gan3d_core.errors import Gan3dError, InputFileError, UsageError, first_line
from gan3d_core.io.atomic import check_input_file, read_input_bytes
from gan3d_core.limits import (
    MAX_GRID_SIDE,
    MAX_JSON_BYTES,
    MAX_JSON_DEPTH,
    MAX_LATENT_ABS,
    MAX_LATENT_DIM,
    MAX_NPY_HEADER_BYTES,
)

# Numeric and boolean arrays only: complex values would be cast silently, objects unpickled.
NUMERIC_KINDS = "biuf"


# -- JSON ----------------------------------------------------------------------------------


def json_depth_exceeds(text: str, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether brackets outside strings nest deeper than ``max_depth`` (no recursion)."""
    # Drop escaped backslashes, then escaped quotes: every '"' left opens or closes a string.
    outside = "".join(text.replace("\\\\", "").replace('\\"', "").split('"')[0::2])
    opening = outside.count("[") + outside.count("{")
    if opening <= max_depth:
        return False
    codes = np.frombuffer(outside.encode("utf-8", errors="replace"), dtype=np.uint8)
    steps = np.isin(codes, (ord("["), ord("{"))).astype(np.int32)
    steps -= np.isin(codes, (ord("]"), ord("}")))
    return int(np.cumsum(steps, dtype=np.int32).max()) > max_depth


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def parse_json(
    text: str | bytes,
    source: str | os.PathLike,
    error: type[Gan3dError] = InputFileError,
    what: str = "JSON",
) -> Any:
    """Parse untrusted JSON: bounded depth, no NaN or Infinity; failures raise ``error``
    naming ``source``."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise error(f"{source}: {what} is not UTF-8 text ({exc.reason})") from None
    if json_depth_exceeds(text):
        raise error(f"{source}: {what} nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise error(f"{source}: {what} is not valid JSON ({first_line(exc)})") from None


def read_json(
    path: str | os.PathLike,
    what: str = "JSON file",
    error: type[Gan3dError] = InputFileError,
    expect: type = dict,
) -> Any:
    """A JSON file of at most :data:`MAX_JSON_BYTES` whose top level is ``expect``."""
    path, data = read_input_bytes(path, what, error, MAX_JSON_BYTES)
    value = parse_json(data, path, error, what)
    if not isinstance(value, expect):
        expected = "an object" if expect is dict else f"a {expect.__name__}"
        raise error(f"{path}: {what} must hold {expected}, not {_json_type(value)}")
    return value


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false"}
    return names.get(type(value), "null" if value is None else "a number")


# -- .npy / .npz ---------------------------------------------------------------------------


def _read_header(handle, source: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, header length) of the ``.npy`` stream at ``handle``'s position."""
    start = handle.tell()
    try:
        version = np.lib.format.read_magic(handle)
        # numpy reads the whole declared header before its own size check: read the length
        # field first (u16 in version 1, u32 after) so a 4 GB claim allocates nothing.
        field = 2 if version == (1, 0) else 4
        length_bytes = handle.read(field)
        declared = int.from_bytes(length_bytes, "little")
        if len(length_bytes) != field:
            raise ValueError("truncated header")
        if declared > MAX_NPY_HEADER_BYTES:
            raise ValueError(f"header of {declared:,} bytes is over {MAX_NPY_HEADER_BYTES:,}")
        handle.seek(start + 8)
        if version == (1, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_1_0(
                handle, max_header_size=MAX_NPY_HEADER_BYTES
            )
        elif version == (2, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_2_0(
                handle, max_header_size=MAX_NPY_HEADER_BYTES
            )
        else:
            raise ValueError(f"format version {version[0]}.{version[1]} is not supported")
    except Exception as exc:  # numpy parses the header with ast/tokenize: any of their errors
        raise InputFileError(f"{source}: not a readable .npy array ({first_line(exc)})") from None
    return tuple(shape), dtype, handle.tell() - start


def check_voxel_grid(voxels: np.ndarray) -> np.ndarray:
    """Return ``voxels`` as float32 (X, Y, Z) after checking it is a grid of 1 to
    MAX_GRID_SIDE a side (what the readers take) of booleans or finite real numbers: a
    grid handed to the Python API is as untrusted as a file."""
    voxels = np.asarray(voxels)
    if voxels.ndim != 3 or not 1 <= min(voxels.shape) <= max(voxels.shape) <= MAX_GRID_SIDE:
        raise UsageError(
            f"voxels must be a 3D (x, y, z) grid of 1 to {MAX_GRID_SIDE} a side, got shape "
            f"{voxels.shape}"
        )
    if voxels.dtype.kind not in NUMERIC_KINDS:  # complex would be cast, silently, to its real part
        raise UsageError(f"voxels must be booleans or occupancy numbers, got {voxels.dtype}")
    voxels = voxels.astype(np.float32, copy=False)
    if not np.isfinite(voxels).all():
        raise UsageError("voxel grid contains NaN or infinite values")
    return voxels


def _check_array(
    source: str,
    shape: tuple[int, ...],
    dtype: np.dtype,
    header_bytes: int,
    stored_bytes: int,
    max_elements: int,
    kinds: str,
    what: str,
) -> None:
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise InputFileError(f"{source}: {what} has dtype {dtype}; expected plain numbers")
    if dtype.kind not in kinds:
        names = {"c": "complex", "U": "text", "S": "bytes", "M": "datetime", "m": "timedelta"}
        expected = {"iu": "integers", "U": "text"}.get(kinds, "real numbers")
        raise InputFileError(
            f"{source}: {what} holds {names.get(dtype.kind, str(dtype))} values; expected "
            f"{expected}"
        )
    elements = math.prod(shape)
    if elements > max_elements:
        raise InputFileError(
            f"{source}: {what} of shape {shape} has {elements:,} elements, over the limit of "
            f"{max_elements:,}"
        )
    if header_bytes + elements * dtype.itemsize != stored_bytes:
        raise InputFileError(
            f"{source}: {what} declares shape {shape} {dtype} ({elements * dtype.itemsize:,} "
            f"bytes) but holds {stored_bytes - header_bytes:,} bytes (truncated or corrupt)"
        )


def load_npy(
    path: str | os.PathLike,
    what: str = ".npy array",
    max_elements: int = 1 << 28,
    kinds: str = NUMERIC_KINDS,
) -> np.ndarray:
    """A ``.npy`` array, after its header's shape, dtype and size are checked."""
    path = check_input_file(path, what)
    size = path.stat().st_size
    try:
        with open(path, "rb") as handle:
            if handle.read(4) == b"PK\x03\x04":
                raise InputFileError(
                    f"{path}: holds several arrays (an .npz archive?), expected one {what}"
                )
            handle.seek(0)
            shape, dtype, header_bytes = _read_header(handle, str(path))
            _check_array(str(path), shape, dtype, header_bytes, size, max_elements, kinds, what)
            return np.load(path, allow_pickle=False)
    except InputFileError:
        raise
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    except Exception as exc:  # numpy's own checks, after ours
        raise InputFileError(f"{path}: not a readable .npy array ({first_line(exc)})") from None


def load_latent(path: str | os.PathLike, latent_dim: int) -> np.ndarray:
    """A latent vector, float32 (latent_dim,), from a ``.npy`` file as ``gan3d sample
    --save-latents`` and ``gan3d encode`` write it ((latent_dim,) or (1, latent_dim))."""
    file = Path(path)
    what = f"latent (of {latent_dim} values)"  # a grid given for one: say what was expected
    latent = np.atleast_1d(np.squeeze(load_npy(file, what, max_elements=MAX_LATENT_DIM)))
    if latent.shape != (latent_dim,) or not np.issubdtype(latent.dtype, np.floating):
        raise InputFileError(
            f"{file}: expected a float latent of shape ({latent_dim},), got {latent.dtype} "
            f"{np.shape(latent)}"
        )
    if not np.isfinite(latent).all():
        raise InputFileError(f"{file}: latent contains NaN or infinite values")
    if np.abs(latent).max() > MAX_LATENT_ABS:
        raise InputFileError(
            f"{file}: latent has values beyond +-{MAX_LATENT_ABS:g} "
            f"(largest {np.abs(latent).max():.3g}); no model's latents reach that"
        )
    return latent.astype(np.float32)


def load_npz(
    path: str | os.PathLike,
    kinds: dict[str, str],
    max_bytes: int,
    what: str = ".npz file",
) -> dict[str, np.ndarray]:
    """The arrays named in ``kinds`` (name -> allowed dtype kinds) of an ``.npz`` archive.

    Each member's declared size, header and dtype are checked before it is decompressed;
    all of them together may hold at most ``max_bytes``. Other members are not read.
    """
    path = check_input_file(path, what)
    arrays: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            members = {
                info.filename.removesuffix(".npy"): info
                for info in archive.infolist()
                if info.filename.endswith(".npy")
            }
            total = sum(members[name].file_size for name in kinds if name in members)
            if total > max_bytes:
                raise InputFileError(
                    f"{path}: arrays of {total:,} bytes, over the limit of {max_bytes:,}"
                )
            for name, allowed in kinds.items():
                if name not in members:
                    continue
                info = members[name]
                source = f"{path} ({name})"
                with archive.open(info) as handle:
                    shape, dtype, header_bytes = _read_header(handle, source)
                    _check_array(
                        source, shape, dtype, header_bytes, info.file_size, max_bytes,
                        allowed, f"array {name!r}",
                    )  # fmt: skip
                with archive.open(info) as handle:
                    arrays[name] = np.lib.format.read_array(
                        handle, allow_pickle=False, max_header_size=MAX_NPY_HEADER_BYTES
                    )
    except InputFileError:
        raise
    except Exception as exc:  # zipfile, zlib and numpy on untrusted bytes raise many types
        raise InputFileError(f"{path}: not a readable .npz file ({first_line(exc)})") from None
    return arrays


def npz_member_names(path: Path) -> list[str]:
    """Names of the arrays in an ``.npz`` archive (for messages)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return [n.removesuffix(".npy") for n in archive.namelist() if n.endswith(".npy")]
    except Exception:  # only for a message about a file already refused
        return []


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one file (through links too); False when either is missing."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False

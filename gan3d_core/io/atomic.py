"""Atomic file writes: a reader never sees a half-written file, a failure leaves none."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np

from gan3d_core.errors import Gan3dError, InputFileError


def check_output_path(path: str | os.PathLike) -> Path:
    """Return ``path`` as a Path after checking it can be written as a file."""
    path = Path(path)
    if path.is_dir():
        raise InputFileError(f"{path}: is a directory, expected a file name")
    if not path.parent.is_dir():
        raise InputFileError(f"{path}: folder {path.parent} does not exist")
    return path


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    The rename is atomic on POSIX and Windows, so ``path`` holds either its old content or
    all of ``data``, never a prefix, even if the process dies midway.
    """
    path = check_output_path(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes private (0600) files; give the result the mode a plain open() would,
        # or keep the mode of the file being replaced.
        os.chmod(tmp_name, path.stat().st_mode & 0o7777 if path.exists() else _default_mode())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def check_input_file(
    path: str | os.PathLike, what: str = "file", error: type[Gan3dError] = InputFileError
) -> Path:
    """Return ``path`` as a Path after checking it names an existing regular file."""
    path = Path(path)
    if path.is_dir():
        raise error(f"{path}: is a directory, expected a {what}")
    if not path.exists():
        raise error(f"{path}: no such {what}")
    return path


def write_npy_atomic(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Save ``array`` as ``.npy`` (no pickles), atomically."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return write_bytes_atomic(path, buffer.getvalue())

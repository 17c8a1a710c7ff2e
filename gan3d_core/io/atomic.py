"""Atomic file writes: a reader never sees a half-written file, a failure leaves none."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np

from gan3d_core.errors import Gan3dError, InputFileError, OutputFileError

TEMPORARY_NAME_BYTES = 200  # of the file's name, in its temporary file's


def check_output_path(path: str | os.PathLike) -> Path:
    """Return ``path`` as a Path after checking it can be written as a file (an
    :class:`OutputFileError` says why not)."""
    path = Path(path)
    if path.is_dir():
        raise OutputFileError(f"{path}: is a directory, expected a file name")
    if path.exists() and not path.is_file():  # replaced, a pipe's reader would wait forever
        raise OutputFileError(f"{path}: is {_file_kind(path.stat().st_mode)}, not a file")
    if not path.parent.is_dir():
        what = "is not a folder" if path.parent.exists() else "does not exist"
        raise OutputFileError(f"{path}: {path.parent} {what}")
    return path


def _why_unwritable(folder: str | os.PathLike) -> str | None:
    """Why no file can be made in ``folder`` (permissions, a read-only disk, /proc), or
    None: a temporary file is made and removed."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return None
    except OSError as exc:
        return exc.strerror or str(exc)


def check_writable_folder(path: str | os.PathLike, what: str = "folder") -> Path:
    """Return ``path``, a folder, after checking a file can be made in it, before any work."""
    reason = _why_unwritable(path)
    if reason is not None:
        raise OutputFileError(f"{path}: cannot write in this {what} ({reason})")
    return Path(path)


def check_output_folder(path: str | os.PathLike, what: str = "output folder") -> Path:
    """Return ``path`` after checking that it is a folder, or that one can be made there;
    checked before any work, and leaving nothing behind. A missing folder is not made here
    (whoever writes makes it): jobs sharing one new folder (make -j, xargs -P) would each
    remove what another has just made. A file made and removed in the nearest folder above
    it says whether it can be."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise OutputFileError(f"{path}: is a file, not a folder; -o names the {what}")
        return check_writable_folder(path, what)
    missing = [path, *(parent for parent in path.parents if not parent.exists())]
    above = missing[-1].parent
    if not above.is_dir():
        raise OutputFileError(f"{path}: cannot be made, {above} is not a folder")
    reason = _why_unwritable(above)
    if reason is not None:
        raise OutputFileError(f"{path}: cannot make the {what} ({reason})")
    return path


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`write_atomic`)."""
    return write_atomic(path, lambda handle: handle.write(data))


def write_atomic(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write`` on a temporary file in the same folder as ``path``, then rename it.

    The rename is atomic on POSIX and Windows, so ``path`` holds either its old content or
    all that ``write`` wrote, never a prefix, even if the process dies midway.
    """
    if os.path.islink(path):  # the file it points to is written, the link kept
        path = os.path.realpath(path)
    path = check_output_path(path)
    try:
        # the name cut short, in the file system's bytes (a name need not be UTF-8): a
        # temporary name adds 14 bytes, and a legal 250-byte name would pass the 255 allowed
        stem = os.fsdecode(os.fsencode(path.name)[:TEMPORARY_NAME_BYTES])
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{stem}.", suffix=".tmp")
    except OSError as exc:
        raise OutputFileError(f"{path}: cannot write ({exc.strerror or exc})") from None
    try:
        # mkstemp makes private (0600) files; give the result the mode a plain open() would,
        # or keep the mode of the file being replaced.
        os.chmod(tmp_name, path.stat().st_mode & 0o7777 if path.exists() else _default_mode())
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except OSError as exc:  # disk full, permissions: name the target, not the temporary file
        Path(tmp_name).unlink(missing_ok=True)
        raise OutputFileError(f"{path}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


@contextmanager
def all_or_none(*paths: str | os.PathLike) -> Iterator[None]:
    """Files written to ``paths`` inside this block are taken back if it fails: a new one
    goes, one that was there before comes back as it was (a shape and its latent are written
    together or not at all, and a replaced file is not lost with them). The old files are
    kept by hard links, or copies where the file system has none, until the block ends;
    anything but a file (a pipe, a device, a folder: the writers refuse them) is left alone."""
    kept: dict[Path, Path | None] = {}  # each new or replaced file: its old content's copy
    try:
        for path in paths:
            real = Path(os.path.realpath(path))  # a link is written through (write_atomic)
            if not os.path.lexists(real):
                kept[real] = None
            elif real.is_file():
                kept[real] = _keep_copy(real)
        yield
    except BaseException:
        for real, copy in kept.items():
            try:
                if copy is None:
                    real.unlink(missing_ok=True)
                else:
                    os.replace(copy, real)
            except OSError:  # put back what can be; the first error is the one to tell
                pass
        raise
    finally:
        for copy in kept.values():
            if copy is not None:
                copy.unlink(missing_ok=True)


def _keep_copy(path: Path) -> Path:
    """A hidden second name for ``path``'s current content, beside it."""
    name = None
    try:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=".kept.", suffix=".tmp")
        os.close(fd)
        os.unlink(name)
        try:
            os.link(path, name)
        except OSError:
            shutil.copy2(path, name)
    except OSError as exc:
        if name is not None:
            Path(name).unlink(missing_ok=True)  # a copy cut short
        raise OutputFileError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return Path(name)


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def check_input_file(
    path: str | os.PathLike,
    what: str = "file",
    error: type[Gan3dError] = InputFileError,
    max_bytes: int | None = None,
) -> Path:
    """Return ``path`` as a Path after checking it names an existing regular file of at most
    ``max_bytes``.

    Only ``stat`` is called, never ``open``: a named pipe or a device would block a reader
    forever (or never end), so anything but a regular file is refused here.
    """
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise error(f"{path}: is a directory, expected {_a(what)}")
    if not stat.S_ISREG(info.st_mode):
        raise error(
            f"{path}: is {_file_kind(info.st_mode)}, not a regular file; expected {_a(what)}"
        )
    if max_bytes is not None and info.st_size > max_bytes:
        raise error(
            f"{path}: {what} of {_megabytes(info.st_size)} is over the limit of "
            f"{_megabytes(max_bytes)}"
        )
    return path


def read_input_bytes(
    path: str | os.PathLike,
    what: str = "file",
    error: type[Gan3dError] = InputFileError,
    max_bytes: int | None = None,
) -> tuple[Path, bytes]:
    """``check_input_file`` then the file's bytes (at most ``max_bytes``, even if it grew)."""
    path = check_input_file(path, what, error, max_bytes)
    try:
        with open(path, "rb") as handle:
            data = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    if max_bytes is not None and len(data) > max_bytes:
        raise error(f"{path}: {what} is over the limit of {_megabytes(max_bytes)}")
    return path, data


def _a(what: str) -> str:
    return f"{'an' if what[:1].lower() in 'aeio' else 'a'} {what}"


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _megabytes(size: int) -> str:
    if size >= 1e9:  # not "3.22e+03 MB"
        return f"{size / 1e9:.3g} GB"
    return f"{size / 1e6:.3g} MB" if size >= 1e5 else f"{size} bytes"


def write_npy_atomic(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Save ``array`` as ``.npy`` (no pickles), atomically, streamed to the file: a
    rendered dataset can be most of the machine's memory, so it is never copied."""
    return write_atomic(path, lambda handle: np.save(handle, np.asarray(array), allow_pickle=False))

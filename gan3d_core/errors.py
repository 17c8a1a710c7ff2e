"""Exceptions a user can act on.

Every :class:`Gan3dError` message is one line that names the file (when there is one) and
the problem; the CLI prints it as is and the app shows it in a message box. Only these are
the user's fault: the CLI and the app show any other exception as a bug, with its traceback.
"""

from __future__ import annotations


class Gan3dError(Exception):
    """Base class of the errors gan3d-studio reports to users without a traceback."""


class CheckpointError(Gan3dError, ValueError):
    """A file that is not a loadable gan3d-studio checkpoint."""


class InputFileError(Gan3dError, ValueError):
    """An input file (voxels, mesh, image) that is missing, unreadable or malformed."""


class OutputFileError(Gan3dError, OSError):
    """An output file that cannot be written (no permission, disk full)."""


class UsageError(Gan3dError, ValueError):
    """An argument or option out of its allowed range, or one that does not fit the model."""


class EmptyShapeError(Gan3dError, ValueError):
    """A shape with nothing to export (no voxel above the threshold)."""


class OperationCancelled(Gan3dError):
    """Raised inside long work when its ``should_stop`` hook returned True."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name if it has none)."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]

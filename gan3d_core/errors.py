"""Exceptions a user can act on.

Every :class:`Gan3dError` message is one line that names the file (when there is one) and
the problem; the CLI prints it as is and the app shows it in a message box. Only these are
the user's fault: the CLI and the app show any other exception as a bug, with its traceback.
"""

from __future__ import annotations

import unicodedata

# Characters a terminal acts on or hides, besides the C0/C1 controls: bidirectional
# overrides reorder what follows them. Other format characters (zero-width joiners, which
# Persian, Indic and emoji names need) are left alone.
BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


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


def is_control_character(character: str) -> bool:
    """Whether a terminal acts on ``character`` or hides it (newlines, escapes, overrides)."""
    category = unicodedata.category(character)
    return character in BIDI_CONTROLS or (category.startswith("C") and category != "Cf")


def escape_controls(text: str) -> str:
    """``text`` with its control characters written as escapes (``\\n``, ``\\x1b``)."""
    return "".join(
        ascii(character)[1:-1] if is_control_character(character) else character
        for character in text
    )


def first_line(exc: BaseException) -> str:
    """One line for an exception (its type name if it has no message): our own messages are
    one line, so a newline in one belongs to a name it quotes (a file called "a\\nb") and is
    escaped; another library's message is cut to its first line."""
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, Gan3dError):
        return escape_controls(text)
    return text.splitlines()[0]

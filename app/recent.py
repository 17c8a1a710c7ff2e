"""Recently opened files, one list per kind (models, images), kept in the app's QSettings.

An entry is one file, or several opened together (the photos of one reconstruction), which
open together again."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

from PySide6.QtCore import QSettings

MAX_RECENT = 8


def _entry(stored: object) -> tuple[str, ...]:
    """A stored entry: a path, or a JSON list of paths opened together; () when it is
    neither (settings files are the user's to edit)."""
    if not isinstance(stored, str) or not stored:
        return ()
    if not stored.startswith("["):
        return (stored,)
    try:
        paths = json.loads(stored)
    except ValueError:
        return (stored,)  # a file whose name begins with "["
    if isinstance(paths, list) and paths and all(isinstance(p, str) and p for p in paths):
        return tuple(paths)
    return ()


def _stored(entry: tuple[str, ...]) -> str:
    return entry[0] if len(entry) == 1 and not entry[0].startswith("[") else json.dumps(entry)


class RecentFiles:
    """The newest-first list of entries of one kind under one settings key."""

    def __init__(self, settings: QSettings, key: str, limit: int = MAX_RECENT) -> None:
        self.settings = settings
        self.key = key
        self.limit = limit

    def entries(self) -> list[tuple[str, ...]]:
        """The entries whose files are all still there: one deleted, or replaced by a
        folder, drops its entry."""
        # type=list: an INI file read back holds a one-entry list as a plain string
        stored = self.settings.value(self.key, [], type=list)
        listed = [entry for entry in map(_entry, stored) if entry][: self.limit]
        return [entry for entry in listed if all(os.path.isfile(path) for path in entry)]

    def paths(self) -> list[str]:
        """Every file of the entries, newest first."""
        return [path for entry in self.entries() for path in entry]

    def add(self, paths: Iterable[str | os.PathLike], together: bool = False) -> list[str]:
        """Put ``paths`` first, in their order, as one entry each or, ``together``, as one
        entry (an entry already listed moves up); returns the new list's files."""
        named = tuple(dict.fromkeys(os.fspath(path) for path in paths))
        newest = [named] if together else [(path,) for path in named]
        recent = (newest + [e for e in self.entries() if e not in newest])[: self.limit]
        self.settings.setValue(self.key, [_stored(entry) for entry in recent])
        return [path for entry in recent for path in entry]

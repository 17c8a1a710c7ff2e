"""Recently opened files, one list per kind (models, images), kept in the app's QSettings."""

from __future__ import annotations

import os
from collections.abc import Iterable

from PySide6.QtCore import QSettings

MAX_RECENT = 8


class RecentFiles:
    """The newest-first list of files of one kind under one settings key."""

    def __init__(self, settings: QSettings, key: str, limit: int = MAX_RECENT) -> None:
        self.settings = settings
        self.key = key
        self.limit = limit

    def paths(self) -> list[str]:
        """The files still there: one deleted, or replaced by a folder, is dropped."""
        # type=list: an INI file read back holds a one-entry list as a plain string
        stored = self.settings.value(self.key, [], type=list)
        listed = [path for path in stored if isinstance(path, str) and path][: self.limit]
        return [path for path in listed if os.path.isfile(path)]

    def add(self, paths: Iterable[str | os.PathLike]) -> list[str]:
        """Put ``paths`` first, in their order (a file already listed moves up); returns the
        new list."""
        newest = list(dict.fromkeys(os.fspath(path) for path in paths))
        recent = (newest + [p for p in self.paths() if p not in newest])[: self.limit]
        self.settings.setValue(self.key, recent)
        return recent

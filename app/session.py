"""The app's state, free of Qt: the model in use, the current latent and the shape shown
for it, history, bookmarks, view settings. Widgets bind to it through its psygnal events
(napari's model/view split); it never computes anything itself.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
from psygnal import Signal

from gan3d_core.errors import UsageError
from gan3d_core.io.atomic import write_bytes_atomic
from gan3d_core.io.card import is_model, model_fingerprint
from gan3d_core.io.kinds import latent_file_path
from gan3d_core.limits import MAX_LATENT_ABS, MAX_REFINE_STEPS, MAX_SEED
from gan3d_studio.wire import (
    LatentState,
    ModelInfo,
    ReconstructOptions,
    ShapeResult,
    ViewSettings,
    is_whole_number,
)

SESSION_FORMAT = "gan3d-studio-session"
SESSION_SUFFIX = ".g3session.json"  # how a drop or File > Open recent tells a session file
SESSION_VERSION = 1
VIEW_FIELDS = {setting.name for setting in fields(ViewSettings)}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# the source of a latent panel edit (a slider, a table value, their reset) starts with this
EDIT_SOURCE_PREFIX = "edited"
# and that of the same latent decoded as another class (the Generate panel's Class box)
CLASS_SOURCE_PREFIX = "class "


def same_state(a: LatentState, b: LatentState) -> bool:
    """Whether two states are one: the same latent, class and source."""
    return a.label == b.label and a.source == b.source and np.array_equal(a.latent, b.latent)


@dataclass(frozen=True)
class Bookmark:
    name: str
    state: LatentState
    thumbnail_png: bytes = b""


@dataclass
class Session:
    """Model info, the current latent and its shape, an undo history, bookmarks and view
    settings."""

    model_changed = Signal(object)  # ModelInfo | None
    latent_changed = Signal(object)  # LatentState | None: the shape to show
    shape_shown = Signal(object)  # ShapeResult: drawn for the current latent and view
    history_changed = Signal()
    bookmarks_changed = Signal()
    view_changed = Signal(object)  # ViewSettings
    reconstruct_options_changed = Signal(object)  # ReconstructOptions
    restored = Signal()  # a session file replaced the session

    model: ModelInfo | None = None
    current: LatentState | None = None
    shown: ShapeResult | None = None  # what the 3D view shows (and Export writes)
    history: list[LatentState] = field(default_factory=list)
    history_index: int = -1
    bookmarks: list[Bookmark] = field(default_factory=list)
    view: ViewSettings = field(default_factory=ViewSettings)
    reconstruct_options: ReconstructOptions = field(default_factory=ReconstructOptions)
    # shapes recorded or bookmarks added since the session was last saved, restored or begun
    unsaved: bool = False
    # where the 3D view looked from when the session was saved or restored (the viewport's
    # camera_state: position, focal_point, up, parallel, parallel_scale); None: the view's own
    camera: dict | None = None
    seed: int = 0  # the Generate panel's, the last drawn: New random goes on from it

    # -- model ------------------------------------------------------------------------------

    def set_model(self, info: ModelInfo | None) -> None:
        """A new model: latents of the old one no longer mean anything, so history resets."""
        self.model = info
        self.history.clear()
        self.history_index = -1
        self.bookmarks.clear()
        self.current = None
        self.unsaved = False
        # Classes and defaults changed; the box belongs to the photos, not the model.
        kept = self.reconstruct_options
        self.reconstruct_options = ReconstructOptions(
            box=kept.box, box_photo_size=kept.box_photo_size
        )
        self.model_changed.emit(info)
        self.history_changed.emit()
        self.bookmarks_changed.emit()
        self.latent_changed.emit(None)

    # -- latents and history ----------------------------------------------------------------

    def _check(self, state: LatentState) -> LatentState:
        if self.model is None:
            raise UsageError("open a model first")
        latent = np.asarray(state.latent, np.float32)
        if latent.shape != (self.model.latent_dim,) or not np.isfinite(latent).all():
            raise UsageError(f"latent must be {self.model.latent_dim} finite numbers")
        if np.abs(latent).max() > MAX_LATENT_ABS:
            raise UsageError(
                f"latent values must be within +-{MAX_LATENT_ABS:g} (latents are about unit "
                f"size), got {np.abs(latent).max():.3g}"
            )
        if self.model.conditional and state.label is None:
            raise UsageError("this model needs a class")
        return replace(state, latent=latent)

    def set_latent(self, state: LatentState) -> None:
        """Show ``state`` and record it: the redo tail is dropped, as in any editor. The
        state already recorded here (a slider clicked and let go unmoved, a photo read
        again) is shown again but not recorded again, so it keeps the redo tail."""
        state = self._check(state)
        recorded = self.history[self.history_index] if self.history_index >= 0 else None
        if recorded is not None and same_state(recorded, state):
            self.current = recorded  # shown again (its status said again), not recorded
            self.latent_changed.emit(recorded)
            return
        del self.history[self.history_index + 1 :]
        self.history.append(state)
        self.history_index = len(self.history) - 1
        self.current = state
        self.unsaved = True
        self.history_changed.emit()
        self.latent_changed.emit(state)

    def preview_latent(self, state: LatentState) -> None:
        """Show ``state`` without recording it (a slider being dragged)."""
        self.current = self._check(state)
        self.latent_changed.emit(self.current)

    def show_shape(self, result: ShapeResult) -> None:
        """Show ``result`` if it is still of the current latent and view: the session may
        have moved on while it was being made, and an older shape never replaces a newer."""
        current = self.current
        if current is None or not np.array_equal(current.latent, result.state.latent):
            return
        if result.view != self.view:
            return
        self.shown = result
        self.shape_shown.emit(result)

    def edit_base(self) -> LatentState | None:
        """The shape the current slider and table edits started from: the latest recorded
        shape at or before the current history entry that is not itself such an edit, nor
        the same latent decoded as another class."""
        for state in reversed(self.history[: self.history_index + 1]):
            if not state.source.startswith((EDIT_SOURCE_PREFIX, CLASS_SOURCE_PREFIX)):
                return state
        return None

    @property
    def has_unsaved_work(self) -> bool:
        """Whether closing or another model would lose work: shapes beyond the first one a
        model shows, or bookmarks, made since the session was last saved or restored."""
        return self.unsaved and (len(self.history) > 1 or bool(self.bookmarks))

    @property
    def can_undo(self) -> bool:
        return self.history_index > 0

    @property
    def can_redo(self) -> bool:
        return self.history_index < len(self.history) - 1

    def go_to(self, index: int) -> None:
        if not 0 <= index < len(self.history):
            raise IndexError(f"history has no entry {index}")
        self.unsaved |= index != self.history_index  # a session file keeps where it was
        self.history_index = index
        self.current = self.history[index]
        self.history_changed.emit()
        self.latent_changed.emit(self.current)

    def undo(self) -> None:
        if self.can_undo:
            self.go_to(self.history_index - 1)

    def redo(self) -> None:
        if self.can_redo:
            self.go_to(self.history_index + 1)

    # -- bookmarks and view -----------------------------------------------------------------

    def add_bookmark(self, name: str, thumbnail_png: bytes = b"") -> Bookmark:
        if self.current is None:
            raise UsageError("nothing to bookmark yet")
        bookmark = Bookmark(name, self.current, thumbnail_png)
        self.bookmarks.append(bookmark)
        self.unsaved = True
        self.bookmarks_changed.emit()
        return bookmark

    def rename_bookmark(self, index: int, name: str) -> None:
        name = name.strip()
        if not name or name == self.bookmarks[index].name:
            return
        self.bookmarks[index] = replace(self.bookmarks[index], name=name)
        self.unsaved = True
        self.bookmarks_changed.emit()

    def remove_bookmark(self, index: int) -> None:
        del self.bookmarks[index]
        self.unsaved = True
        self.bookmarks_changed.emit()

    def set_reconstruct_options(self, **changes: Any) -> None:
        options = replace(self.reconstruct_options, **changes)
        if options != self.reconstruct_options:
            self.reconstruct_options = options
            self.reconstruct_options_changed.emit(options)

    def set_view(self, **changes: Any) -> None:
        view = replace(self.view, **changes)
        if view != self.view:
            self.view = view
            self.unsaved = True  # kept in a session file too
            self.view_changed.emit(view)

    # -- files ------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "format": SESSION_FORMAT,
            "version": SESSION_VERSION,
            # absolute: a path as given at launch would name another file from elsewhere
            "model_path": str(Path(self.model.path).absolute()) if self.model else None,
            # the model itself, wherever it is installed next time (see made_with)
            "model_card_sha256": model_fingerprint(self.model.card) if self.model else None,
            "history": [s.to_json() for s in self.history],
            "history_index": self.history_index,
            "bookmarks": [
                {
                    "name": b.name,
                    "state": b.state.to_json(),
                    "thumbnail_png": base64.b64encode(b.thumbnail_png).decode("ascii"),
                }
                for b in self.bookmarks
            ],
            "view": asdict(self.view),
            # how photos become shapes; not the box, which belongs to photos not saved here
            "reconstruct": {
                "pool": self.reconstruct_options.pool,
                "label": self.reconstruct_options.label,
                "refine": self.reconstruct_options.refine,
            },
            **({"camera": self.camera} if self.camera is not None else {}),
            "seed": self.seed,
        }

    def save(self, path: str | os.PathLike) -> Path:
        written = write_bytes_atomic(path, json.dumps(self.to_json(), indent=1).encode())
        self.unsaved = False
        return written

    def save_latent(self, path: str | os.PathLike) -> Path:
        """The current latent as ``gan3d interpolate --latents`` and File > Open shape read
        it: a float32 vector in a ``.npy``, named NAME.latent.npy (the suffix is added when
        missing), and a conditional model's class beside it in NAME.latent.json, so that
        the file opens as this shape."""
        from gan3d_core.io.latent_files import class_name_of, write_latent

        if self.current is None:
            raise UsageError("no shape to save: open a model first")
        names = self.model.class_names if self.model else ()
        name = class_name_of(self.current.label, names)
        return write_latent(latent_file_path(path), self.current.latent, name)

    def made_with(self, data: dict[str, Any]) -> bool:
        """Whether a session file's latents are this model's: the same file however its
        path is written, or a model with the same card (the bundled model after a reinstall,
        a copy on another machine)."""
        if self.model is None:
            return False
        if is_model(self.model.card, data.get("model_card_sha256")):
            return True
        saved = data.get("model_path")
        try:
            return (
                isinstance(saved, str) and Path(saved).resolve() == Path(self.model.path).resolve()
            )
        except (OSError, ValueError):  # a path that cannot be resolved is not this model's
            return False

    def restore(self, data: dict[str, Any], may_replace: Callable[[], bool] | None = None) -> bool:
        """Latents, bookmarks and view of a session file (its model must be loaded already);
        whether they replaced the session's.

        Everything is checked before anything changes: a bad file leaves the session as it
        was, and so does ``may_replace`` (asked once the file is known good, e.g. whether
        unsaved work may go) answering False.
        """
        if data.get("format") != SESSION_FORMAT:
            raise UsageError("not a gan3d-studio session file")
        if data.get("version", SESSION_VERSION) != SESSION_VERSION:
            raise UsageError(
                f"a session file of version {data.get('version')!r}; this gan3d-studio reads "
                f"version {SESSION_VERSION}"
            )
        entries, marks, view_fields = (
            data.get("history"),
            data.get("bookmarks", []),
            data.get("view", {}),
        )
        if not isinstance(entries, list) or not entries:
            raise UsageError("session file holds no shape (its history is empty)")
        if not isinstance(marks, list) or not all(isinstance(b, dict) for b in marks):
            raise UsageError("session file's bookmarks are not a list of bookmarks")
        if not isinstance(view_fields, dict) or not set(view_fields) <= VIEW_FIELDS:
            raise UsageError(
                f"session file's view settings are not {', '.join(sorted(VIEW_FIELDS))}"
            )
        camera = _checked_camera(data.get("camera"))
        options = self._checked_reconstruct_options(data.get("reconstruct", {}))
        history = [self._check_label(LatentState.from_json(entry)) for entry in entries]
        bookmarks = [self._bookmark(mark) for mark in marks]
        view = ViewSettings(**view_fields)
        index = data.get("history_index", len(history) - 1)
        if not isinstance(index, int) or isinstance(index, bool):
            raise UsageError(f"history_index must be a whole number, got {index!r}")
        if not 0 <= index < len(history):
            raise UsageError(f"history_index {index} is outside the {len(history)} history entries")
        seed = data.get("seed", 0)  # files saved before it was kept start again at 0
        if not (is_whole_number(seed) and 0 <= seed <= MAX_SEED):
            raise UsageError(f"seed must be a whole number from 0 to {MAX_SEED}, got {seed!r}")
        if may_replace is not None and not may_replace():
            return False
        self.history, self.bookmarks, self.view = history, bookmarks, view
        self.seed = seed
        self.camera = camera
        self.unsaved = False
        self.history_index = index if history else -1
        self.current = history[index] if history else None
        self.history_changed.emit()
        self.bookmarks_changed.emit()
        self.view_changed.emit(view)
        self.set_reconstruct_options(**options)
        self.restored.emit()
        self.latent_changed.emit(self.current)
        return True

    def _checked_reconstruct_options(self, saved: Any) -> dict[str, Any]:
        """A session file's Reconstruct choices for this model, or an error saying which
        is wrong: a pooling this model has, one of its classes, fitting steps in range."""
        if not isinstance(saved, dict) or not set(saved) <= {"pool", "label", "refine"}:
            raise UsageError("session file's reconstruct choices are not pool, label and refine")
        pool, label, refine = (saved.get(key) for key in ("pool", "label", "refine"))
        pools = ("mean", "max", "lstm") if self.model.pool == "lstm" else ("mean", "max")
        if pool is not None and pool not in pools:
            raise UsageError(f"session file's pooling {pool!r} is not one of {', '.join(pools)}")
        classes = self.model.class_names if self.model.conditional else ()
        if label is not None and not (is_whole_number(label) and 0 <= label < len(classes)):
            raise UsageError(f"session file's class {label!r} is not one of this model's classes")
        if refine is not None and not (is_whole_number(refine) and 0 <= refine <= MAX_REFINE_STEPS):
            raise UsageError(
                f"session file's fitting steps must be a whole number from 0 to "
                f"{MAX_REFINE_STEPS}, got {refine!r}"
            )
        return {"pool": pool, "label": label, "refine": refine}

    def _bookmark(self, mark: dict[str, Any]) -> Bookmark:
        name, thumbnail = mark.get("name"), mark.get("thumbnail_png", "")
        if not isinstance(name, str) or not isinstance(thumbnail, str):
            raise UsageError("a bookmark needs a name and a PNG thumbnail as text")
        try:
            png = base64.b64decode(thumbnail, validate=True)
        except binascii.Error:
            raise UsageError(f"bookmark {name!r}'s thumbnail is not base64 text") from None
        if png and not png.startswith(PNG_SIGNATURE):
            raise UsageError(f"bookmark {name!r}'s thumbnail is not a PNG image")
        return Bookmark(name, self._check_label(LatentState.from_json(mark.get("state"))), png)

    def _check_label(self, state: LatentState) -> LatentState:
        state = self._check(state)
        if self.model.conditional and not 0 <= state.label < len(self.model.class_names):
            raise UsageError(f"class {state.label} is not one of this model's classes")
        if not self.model.conditional and state.label is not None:
            raise UsageError("this model takes no class")
        return state


def _checked_camera(camera: Any) -> dict | None:
    """A session file's camera (None when it has none), or an error saying what is wrong:
    three points of three finite numbers within +-1e6, apart, a parallel flag and, where
    the file has it, the orthographic view's zoom (parallel_scale, in (0, 1e9])."""
    if camera is None:
        return None
    points = ("position", "focal_point", "up")
    if not isinstance(camera, dict) or set(camera) - {"parallel_scale"} != {*points, "parallel"}:
        raise UsageError(f"session file's camera is not {', '.join(points)} and parallel")
    scale = camera.get("parallel_scale", 1.0)
    if not (_is_finite_number(scale) and 0 < scale <= 1e9):
        raise UsageError("session file's camera parallel_scale is not a number in (0, 1e9]")
    for name in points:
        value = camera[name]
        if not (
            isinstance(value, list)
            and len(value) == 3
            and all(_is_finite_number(v) and abs(v) <= 1e6 for v in value)
        ):
            raise UsageError(f"session file's camera {name} is not three numbers")
    if not isinstance(camera["parallel"], bool):
        raise UsageError("session file's camera parallel is not true or false")
    if camera["position"] == camera["focal_point"] or not any(camera["up"]):
        raise UsageError("session file's camera looks nowhere")
    return camera


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)


def read_session_file(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON of a session file (size and depth bounded), with a one-line error for
    anything else."""
    from gan3d_core.errors import InputFileError
    from gan3d_core.io.inputs import read_json

    data = read_json(path, "session file", expect=object)
    if not isinstance(data, dict) or data.get("format") != SESSION_FORMAT:
        raise InputFileError(f"{path}: not a gan3d-studio session file")
    return data


def session_file_path(path: str | os.PathLike) -> str:
    """``path`` named as a session file, NAME.g3session.json (a bare NAME or a NAME.json
    gets the suffix), so that the file opens again when dropped."""
    name = os.fspath(path)
    if name.lower().endswith(SESSION_SUFFIX):
        return name
    if name.lower().endswith(".json"):
        name = name[: -len(".json")]
    return name + SESSION_SUFFIX

"""What crosses between the GUI and the engine process: requests, their results, and the
task state that carries one call's progress and cancellation.

Qt-free and torch-free (import-linter checks both): the engine process unpickles these
types and never imports Qt; the GUI process imports them and never imports torch. A request
is a frozen dataclass whose fields are the call's arguments; ``Request[T]`` says the call
answers with a ``T``. :meth:`gan3d_studio.engine.Engine.run` answers each type.
"""

from __future__ import annotations

import glob
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import numpy as np

from gan3d_core.errors import OperationCancelled, UsageError
from gan3d_core.images import Box, check_box
from gan3d_core.limits import (
    DEFAULT_SMOOTH_ITERATIONS,
    MAX_SMOOTH_ITERATIONS,
    check_decoded_shapes,
    check_surface_resolution,
)

if TYPE_CHECKING:
    from gan3d_core.mesh.export import ExportOptions

VIEW_MODES = ("smooth", "blocks", "points")
ProgressHook = Callable[[float, str], None]
ResultT = TypeVar("ResultT")


# -- task state ---------------------------------------------------------------------------------


class StopFlag(Protocol):
    """A ``threading.Event``, or a ``multiprocessing`` one shared with the engine process."""

    def set(self) -> None: ...

    def is_set(self) -> bool: ...


class TaskState:
    """Progress and cancellation of one call, handed to it explicitly (Orange's TaskState).

    The work reports through :meth:`progress` and polls :meth:`should_stop`; these are the
    plain hooks the core's long functions take. Whoever started the call may :meth:`cancel`
    it from another thread; the next report then raises :class:`OperationCancelled`, so a
    loop that reports stops there even if it never polls.
    """

    def __init__(self, report: ProgressHook | None = None, stop: StopFlag | None = None) -> None:
        self._report = report
        self._stop = stop if stop is not None else threading.Event()

    def cancel(self) -> None:
        self._stop.set()

    def should_stop(self) -> bool:
        return self._stop.is_set()

    def progress(self, fraction: float, message: str) -> None:
        if self._stop.is_set():
            raise OperationCancelled("cancelled")
        if self._report is not None:
            self._report(fraction, message)


# -- values -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelInfo:
    """What the GUI needs to know of a loaded model (the model itself stays in the engine)."""

    path: str
    kind: str
    resolution: int
    latent_dim: int
    class_names: tuple[str, ...]
    conditional: bool
    has_encoder: bool
    pool: str
    num_views: int
    card: dict[str, Any]
    directions: np.ndarray  # (k, L) unit latent directions, strongest first
    direction_scales: np.ndarray  # (k,) one sigma along each
    direction_centre: np.ndarray | None = None  # (L,) where the sliders read zero
    has_implicit_decoder: bool = False  # can draw surfaces finer than its grid
    has_shape_encoder: bool = False  # can bring shape files into its latent space


@dataclass(frozen=True)
class LatentState:
    """One shape: a latent, its class (conditional models) and where it came from."""

    latent: np.ndarray
    label: int | None = None
    source: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"latent": self.latent.tolist(), "label": self.label, "source": self.source}

    @classmethod
    def from_json(cls, data: Any) -> LatentState:
        """A state as :meth:`to_json` wrote it; anything else (a file edited by hand) is
        refused with a UsageError saying which part is wrong."""
        if not isinstance(data, dict) or not isinstance(data.get("latent"), list):
            raise UsageError("a shape entry needs a latent (a list of numbers)")
        if not all(_is_number(value) for value in data["latent"]):
            raise UsageError("a latent holds something that is not a number")
        label, source = data.get("label"), data.get("source", "")
        if label is not None and not is_whole_number(label):
            raise UsageError(f"a class must be a whole number, got {label!r}")
        if not isinstance(source, str):
            raise UsageError(f"a shape's source must be text, got {source!r}")
        return cls(np.asarray(data["latent"], np.float64).astype(np.float32), label, source)


def is_whole_number(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class ViewSettings:
    """How shapes are drawn. ``surface_resolution``: models with an implicit decoder sample
    the shape on a grid this fine (None, or a model without one: the model's own grid)."""

    mode: str = "smooth"
    threshold: float = 0.5
    smoothing: int = DEFAULT_SMOOTH_ITERATIONS
    wireframe: bool = False
    surface_resolution: int | None = None
    min_part: float = 0.0  # parts under this share of the largest are not drawn (as exported)

    def __post_init__(self) -> None:
        # checked for kind as well as range: a session file is read into these
        if self.mode not in VIEW_MODES:
            raise UsageError(f"view mode must be one of {', '.join(VIEW_MODES)}, got {self.mode!r}")
        if self.surface_resolution is not None:
            if not is_whole_number(self.surface_resolution):
                raise UsageError(
                    f"surface resolution must be a whole number, got {self.surface_resolution!r}"
                )
            check_surface_resolution(self.surface_resolution)
        if not _is_number(self.threshold) or not 0.0 < self.threshold < 1.0:
            raise UsageError(f"threshold must be between 0 and 1, got {self.threshold!r}")
        if not is_whole_number(self.smoothing) or not 0 <= self.smoothing <= MAX_SMOOTH_ITERATIONS:
            raise UsageError(
                f"smoothing must be a whole number from 0 to {MAX_SMOOTH_ITERATIONS}, "
                f"got {self.smoothing!r}"
            )
        if not isinstance(self.wireframe, bool):
            raise UsageError(f"wireframe must be true or false, got {self.wireframe!r}")
        if not _is_number(self.min_part) or not 0.0 <= self.min_part <= 1.0:  # NaN fails too
            raise UsageError(f"min_part must be a share between 0 and 1, got {self.min_part}")


@dataclass(frozen=True)
class ReconstructOptions:
    """How photos become a shape, whichever way they arrive (the Reconstruct panel, a drop
    on the 3D view, the command line): view pooling, the class (None: the model picks),
    silhouette-fitting steps (None: the model's default) and the box GrabCut separates the
    object in (None: automatic), as ``gan3d reconstruct --box`` gives it, with the (width,
    height) of the photo it was drawn on: photos of that size share it (a tripod's series),
    others are separated automatically (see :meth:`for_photos`)."""

    pool: str | None = None
    label: int | None = None
    refine: int | None = None
    box: Box | None = None
    box_photo_size: tuple[int, int] | None = None

    def for_photos(self, sizes: Sequence[tuple[int, int] | None]) -> ReconstructOptions:
        """These options for photos of ``sizes`` (None: unknown, left to the reader): the
        box only if every known size is the one it was drawn on."""
        drawn_on = self.box_photo_size
        if drawn_on is None or all(size in (None, drawn_on) for size in sizes):
            return self
        return replace(self, box=None, box_photo_size=None)

    def __post_init__(self) -> None:
        if self.box is not None:
            object.__setattr__(self, "box", check_box(self.box))  # frozen: set once, here


@dataclass(frozen=True)
class ShapeResult:
    """A decoded shape ready to draw: the grid plus its mesh (or points) for ``view``."""

    state: LatentState
    view: ViewSettings
    voxels: np.ndarray  # (R, R, R) float32 occupancy
    vertices: np.ndarray  # (V, 3) mesh vertices, or point positions in points mode
    faces: np.ndarray  # (F, 3) triangles; empty in points mode
    values: np.ndarray  # (V,) occupancy per point in points mode; empty otherwise
    normals: np.ndarray  # (V, 3) vertex normals in smooth mode, made off the GUI thread
    seconds: float

    @property
    def empty(self) -> bool:
        return len(self.vertices) == 0


@dataclass(frozen=True)
class CutOut:
    """What preprocessing keeps of one photo, scaled down for the box dialog."""

    photo: str
    box: Box | None  # in the photo's pixels; None: the automatic separation
    image: np.ndarray  # uint8 (h, w, 3): the photo, scaled to fit the dialog
    mask: np.ndarray  # bool (h, w): the object, as preprocessing separates it
    size: tuple[int, int]  # the photo's (width, height) in pixels
    method: str  # how it was separated (gan3d_core.images.separation): cut-out, colour, grabcut


@dataclass(frozen=True)
class Reconstruction:
    """The latent of photos, the images the encoder saw and what the model made of them."""

    state: LatentState
    inputs: tuple[np.ndarray, ...]  # uint8 (S, S, 3): what the encoder saw
    summary: str = ""  # class found, cameras, silhouette fit (ReconstructedLatent.describe)
    # (azimuth, elevation) in degrees per photo, as the staged model estimated them
    cameras: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class EncodedShape:
    """A shape file's latent, and a note for the user when the model reads the file
    clearly better the other way up (empty otherwise)."""

    state: LatentState
    note: str = ""


# -- requests -----------------------------------------------------------------------------------


class Request(Generic[ResultT]):
    """A call to the engine that answers with a ``ResultT``."""


@dataclass(frozen=True)
class LoadModel(Request[ModelInfo]):
    """Open a checkpoint (None: the bundled model); on any error the previous one stays."""

    path: str | Path | None
    device: str = "auto"


@dataclass(frozen=True)
class SampleLatent(Request[LatentState]):
    """A random latent; the class is ignored by unconditional models."""

    seed: int
    truncation: float | None = None
    label: int | None = None


@dataclass(frozen=True)
class MakeShape(Request[ShapeResult]):
    """Decode a latent and mesh it (or take its points) for a view."""

    state: LatentState
    view: ViewSettings


@dataclass(frozen=True)
class Reconstruct(Request[Reconstruction]):
    """The latent of 1..N photos (paths or uint8 arrays) of one object."""

    images: Sequence[Any]
    options: ReconstructOptions


@dataclass(frozen=True)
class EncodeShape(Request["EncodedShape"]):
    """The latent of a 3D shape file (a .binvox or .npy grid, a mesh), to edit like any
    other shape; decoded with ``label`` (None: the class of the nearest training shape)."""

    path: str | Path
    label: int | None = None
    up: str = "auto"  # the file's up axis: z, y, or auto (y for glTF, z for the rest)


@dataclass(frozen=True)
class OpenLatent(Request[LatentState]):
    """A latent from a file (NAME.latent.npy, as ``gan3d encode`` and ``gan3d sample
    --save-latents`` write it), decoded with ``label`` (None: the model's choice)."""

    path: str | Path
    label: int | None = None


@dataclass(frozen=True)
class CutOutPhoto(Request[CutOut]):
    """What preprocessing keeps of a photo with a box (None: automatic), for the box dialog."""

    photo: str | Path
    box: Box | None = None


@dataclass(frozen=True)
class ExportShape(Request["WrittenShape"]):
    """Write one grid as a mesh (or voxel) file; answers with the path written and how many
    separate parts it holds."""

    voxels: np.ndarray
    path: str | Path
    options: ExportOptions


@dataclass(frozen=True)
class ExportShapes(Request[list]):
    """Write ``target_000.stl``, ``target_001.stl``, ... next to ``target`` (the frames of an
    earlier, longer series under that name beyond the new last one are removed); answers
    with the paths written."""

    grids: Sequence[np.ndarray]
    target: Path
    options: ExportOptions


@dataclass(frozen=True)
class Interpolate(Request[list[ShapeResult]]):
    """``steps`` shapes from ``start`` to ``end`` (each with the nearer end's class)."""

    start: LatentState
    end: LatentState
    steps: int
    view: ViewSettings
    method: str = "slerp"

    def __post_init__(self) -> None:
        # every frame's grid is held until all are made (a fine surface: 256^3 each)
        if self.view.surface_resolution is not None:
            check_decoded_shapes(self.steps, self.view.surface_resolution)


def series_paths(target: Path, count: int) -> list[Path]:
    """The files a series of ``count`` shapes exported as ``target`` is written to."""
    return [target.with_name(f"{target.stem}_{index:03d}{target.suffix}") for index in range(count)]


def series_files_there(target: Path) -> list[Path]:
    """Files already beside ``target`` named as a series exported as ``target`` names them."""
    pattern = f"{glob.escape(target.stem)}_[0-9][0-9][0-9]{glob.escape(target.suffix)}"
    return sorted(path for path in target.parent.glob(pattern) if path.is_file())

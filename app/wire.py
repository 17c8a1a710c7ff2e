"""What crosses between the GUI and the engine process: the values calls take and return.

Qt-free and torch-free (import-linter checks both): the engine process unpickles these
types and never imports Qt; the GUI process imports them and never imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gan3d_core.errors import UsageError
from gan3d_core.images import Box, check_box

VIEW_MODES = ("smooth", "blocks", "points")


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


@dataclass(frozen=True)
class LatentState:
    """One shape: a latent, its class (conditional models) and where it came from."""

    latent: np.ndarray
    label: int | None = None
    source: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"latent": self.latent.tolist(), "label": self.label, "source": self.source}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LatentState:
        return cls(
            np.asarray(data["latent"], np.float32), data.get("label"), data.get("source", "")
        )


@dataclass(frozen=True)
class ViewSettings:
    mode: str = "smooth"
    threshold: float = 0.5
    smoothing: int = 2
    wireframe: bool = False

    def __post_init__(self) -> None:
        if self.mode not in VIEW_MODES:
            raise UsageError(f"view mode must be one of {', '.join(VIEW_MODES)}, got {self.mode!r}")
        if not 0.0 < self.threshold < 1.0:
            raise UsageError(f"threshold must be between 0 and 1, got {self.threshold}")
        if self.smoothing < 0:
            raise UsageError(f"smoothing must be >= 0, got {self.smoothing}")


@dataclass(frozen=True)
class ReconstructOptions:
    """How photos become a shape, whichever way they arrive (the Reconstruct panel, a drop
    on the 3D view, the command line): view pooling, the class (None: the model picks),
    silhouette-fitting steps (None: the model's default) and the box GrabCut separates the
    object in (None: automatic), as ``gan3d reconstruct --box`` gives it."""

    pool: str | None = None
    label: int | None = None
    refine: int | None = None
    box: Box | None = None

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


@dataclass(frozen=True)
class Reconstruction:
    """The latent of photos and the images the encoder saw."""

    state: LatentState
    inputs: tuple[np.ndarray, ...]  # uint8 (S, S, 3): what the encoder saw

"""What the engine process runs: plain, Qt-free functions over one loaded model.

The :class:`Engine` owns the :class:`~gan3d_core.inference.GanModel` and hands back numpy
arrays and frozen dataclasses alone. :meth:`Engine.run` answers each request type of
:mod:`gan3d_studio.wire` with the method registered for it; long work gets the call's
:class:`~gan3d_studio.wire.TaskState`. Tests drive it synchronously, as Orange tests its
runners.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gan3d_core import ExportOptions, GanModel, export_shape, load_model
from gan3d_core.errors import OperationCancelled, UsageError
from gan3d_core.images import Box, load_image, object_pixels, separation
from gan3d_core.io.kinds import GRID_SUFFIXES
from gan3d_core.latent import interpolate, interpolated_label
from gan3d_core.mesh import vertex_normals, voxels_to_cubes, voxels_to_mesh
from gan3d_core.mesh.export import WrittenShape, write_shape
from gan3d_core.mesh.parts import drop_small_parts
from gan3d_studio.wire import (
    CutOut,
    CutOutPhoto,
    EncodedShape,
    EncodeShape,
    ExportShape,
    ExportShapes,
    Interpolate,
    LatentState,
    LoadModel,
    MakeShape,
    ModelInfo,
    OpenLatent,
    Reconstruct,
    Reconstruction,
    ReconstructOptions,
    Request,
    SampleLatent,
    ShapeResult,
    TaskState,
    ViewSettings,
    series_files_there,
    series_paths,
)

DIRECTIONS_SHOWN = 10
POINTS_THRESHOLD = 0.1  # points mode shows every voxel above this, coloured by occupancy
CUT_OUT_PREVIEW_SIZE = 720  # the box dialog shows photos at most this many pixels on a side


def surface_for_view(
    voxels: np.ndarray, view: ViewSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(vertices, faces, values, normals) to draw ``voxels`` in ``view``'s mode, without
    the parts an export with the same ``min_part`` leaves out."""
    voxels = drop_small_parts(voxels, view.threshold, view.min_part)
    nothing = np.zeros(0, np.float32)
    no_normals = np.zeros((0, 3), np.float32)
    if view.mode == "points":
        indices = np.argwhere(voxels > POINTS_THRESHOLD)
        points = indices.astype(np.float32)
        return points, np.zeros((0, 3), np.int64), voxels[tuple(indices.T)], no_normals
    if view.mode == "blocks":
        mesh = voxels_to_cubes(voxels, view.threshold)
        normals = no_normals  # drawn flat
    else:
        mesh = voxels_to_mesh(voxels, view.threshold, smooth_iterations=view.smoothing)
        normals = vertex_normals(mesh.vertices, mesh.faces) if len(mesh.faces) else no_normals
    vertices, faces = np.asarray(mesh.vertices, np.float32), np.asarray(mesh.faces, np.int64)
    return vertices, faces, nothing, normals


class Engine:
    """The model and every computation on it."""

    def __init__(self) -> None:
        self.model: GanModel | None = None

    # -- requests ---------------------------------------------------------------------------
    # One handler per request type; each calls the method below by its own name, so a
    # subclass that overrides the method changes what the request does.

    @functools.singledispatchmethod
    def run(self, request: Request, task: TaskState) -> Any:
        """Answer ``request`` (a :mod:`~gan3d_studio.wire` request) with its result type."""
        raise TypeError(f"the engine answers no {type(request).__name__} request")

    @run.register
    def _(self, request: LoadModel, task: TaskState) -> ModelInfo:
        return self.load(request.path, request.device, task)

    @run.register
    def _(self, request: SampleLatent, task: TaskState) -> LatentState:
        return self.random_state(request.seed, request.truncation, request.label)

    @run.register
    def _(self, request: MakeShape, task: TaskState) -> ShapeResult:
        return self.shape(request.state, request.view)

    @run.register
    def _(self, request: Reconstruct, task: TaskState) -> Reconstruction:
        return self.reconstruct(request.images, request.options, task)

    @run.register
    def _(self, request: EncodeShape, task: TaskState) -> EncodedShape:
        return self.encode_shape(request.path, request.label, request.up, task)

    @run.register
    def _(self, request: OpenLatent, task: TaskState) -> LatentState:
        return self.open_latent(request.path, request.label)

    @run.register
    def _(self, request: CutOutPhoto, task: TaskState) -> CutOut:
        return self.cut_out(request.photo, request.box)

    @run.register
    def _(self, request: ExportShape, task: TaskState) -> WrittenShape:
        return self.export(request.voxels, request.path, request.options)

    @run.register
    def _(self, request: ExportShapes, task: TaskState) -> Path:
        return self.export_series(request.grids, request.target, request.options)

    @run.register
    def _(self, request: Interpolate, task: TaskState) -> list[ShapeResult]:
        return self.interpolation(
            request.start, request.end, request.steps, request.view, request.method, task
        )

    # -- the work ---------------------------------------------------------------------------

    def _require_model(self) -> GanModel:
        if self.model is None:
            raise UsageError("open a model first")
        return self.model

    def load(self, path: str | Path | None, device: str, task: TaskState) -> ModelInfo:
        """Load a checkpoint; on any error, or if cancelled, the previous model stays."""
        model = load_model(path, device=device)
        directions = model.principal_directions(DIRECTIONS_SHOWN, method="sefa")
        if task.should_stop():
            # The GUI will never hear of this model: keep serving the one it knows.
            raise OperationCancelled("loading cancelled")
        self.model = model
        config = model.config
        return ModelInfo(
            path=str(model.path),
            kind=config.kind,
            resolution=model.resolution,
            latent_dim=model.latent_dim,
            class_names=tuple(model.class_names)
            or tuple(f"class {i}" for i in range(config.num_classes)),
            conditional=config.conditional,
            has_encoder=config.can_reconstruct,
            pool=config.pool,
            num_views=config.num_views,
            card=model.card,
            directions=directions.vectors,
            direction_scales=directions.scales,
            direction_centre=directions.centre,
            has_implicit_decoder=model.has_implicit_decoder,
            has_shape_encoder=model.has_shape_encoder,
        )

    def random_state(self, seed: int, truncation: float | None, label: int | None) -> LatentState:
        """Seed ``seed``'s shape, of class ``label`` or, for None, the class the seed picks
        (as ``gan3d sample -n 1 --seed`` makes it)."""
        model = self._require_model()
        if not model.config.conditional:
            label = None
        elif label is None:
            [label] = model.seeded_labels(1, seed)
        latent = model.sample_latents(1, seed=seed, truncation=truncation, labels=label)[0]
        return LatentState(latent, label, f"random, seed {seed}")

    def decode(self, state: LatentState, resolution: int | None = None) -> np.ndarray:
        """The occupancy grid (R, R, R) of one latent; with ``resolution``, the implicit
        decoder's (N, N, N) if the model has one."""
        model = self._require_model()
        if not model.has_implicit_decoder:
            resolution = None  # the view's setting waits for a model that can use it
        return model.decode(state.latent[None], state.label, resolution=resolution)[0]

    def shape(self, state: LatentState, view: ViewSettings) -> ShapeResult:
        start = time.perf_counter()
        voxels = self.decode(state, view.surface_resolution)
        vertices, faces, values, normals = surface_for_view(voxels, view)
        return ShapeResult(
            state, view, voxels, vertices, faces, values, normals, time.perf_counter() - start
        )

    def reconstruct(
        self, images: Sequence, options: ReconstructOptions, task: TaskState
    ) -> Reconstruction:
        """Encode 1..N views of one object with ``options``: conditional models pick the
        class when not given; the staged model fits ``refine`` steps to the silhouettes
        (None: its default); ``box`` marks the object for GrabCut (None: automatic)."""
        model = self._require_model()
        # The one reconstruction path the CLI and the API take too: each photo is
        # preprocessed exactly once.
        found = model.reconstruct_latent(
            list(images), options.pool, options.label, options.refine, progress=task.progress,
            should_stop=task.should_stop, box=options.box,
        )  # fmt: skip
        latent, label, inputs = found.latent, found.label, tuple(found.images)
        names = ", ".join(
            Path(str(i)).name if isinstance(i, (str, Path)) else "image" for i in images
        )
        summary = found.describe(model.class_names, options.label is not None)
        boxed = ""  # a box drawn on an earlier photo applies to these too: said so
        if options.box is not None:
            x, y, width, height = options.box
            boxed = f" in the object box {width} × {height} at {x}, {y}"
        state = LatentState(latent, label, f"reconstruction of {names}{boxed}")
        cameras = ()
        if found.azimuths is not None and found.elevations is not None:
            cameras = tuple(zip(map(float, found.azimuths), map(float, found.elevations)))
        return Reconstruction(state, inputs, summary, cameras)

    def encode_shape(
        self, path: str | Path, label: int | None, up: str, task: TaskState
    ) -> EncodedShape:
        """A shape file's latent: the shape encoder's, fitted to the shape (staged models);
        ``up``: the file's up axis (see :func:`~gan3d_core.data.datasets.load_shape_grid`)."""
        from gan3d_core.data.datasets import load_shape_grid

        model = self._require_model()
        grid = load_shape_grid(path, model.resolution, up)
        other = None
        if up == "auto" and model.has_shape_encoder:
            other = model.reads_better_other_up(grid, path)
        if not model.config.conditional:
            label = None
        encoded = model.encode_shapes(
            grid[None], label, progress=task.progress, should_stop=task.should_stop
        )
        label = None if encoded.labels is None else int(encoded.labels[0])
        name = Path(path).name
        # a mesh is read fitted to the grid (its longest side spans it): said, as a shape
        # that spanned less of the grid comes back larger
        compared = (
            "the file"
            if Path(path).suffix.lower() in GRID_SUFFIXES
            else "the mesh fitted to the grid"
        )
        source = f"{name}, encoded (IoU {encoded.iou[0]:.2f} with {compared})"
        note = ""
        if other is not None:
            axis, read, turned = other
            note = (f"{name} reads better {axis} up (IoU {turned:.2f} against {read:.2f}); if "
                    f"it is, choose File > Shapes' up axis > {axis.upper()} up and open it again")  # fmt: skip
        return EncodedShape(LatentState(encoded.latents[0], label, source), note)

    def open_latent(self, path: str | Path, label: int | None) -> LatentState:
        """A latent file's vector, decoded with ``label`` or, for a conditional model
        without one, the class stored beside it or else the one the model reads in it
        (:meth:`GanModel.latent_file_label`)."""
        from gan3d_core.io.inputs import load_latent

        model = self._require_model()
        latent = load_latent(path, model.latent_dim)
        if not model.config.conditional:
            label = None
        elif label is None:
            label = model.latent_file_label(path, latent)
        return LatentState(latent, label, Path(path).name)

    def cut_out(self, photo: str | Path, box: Box | None) -> CutOut:
        """What preprocessing keeps of ``photo`` with ``box`` (None: the automatic choice),
        by the function preprocessing uses, scaled to fit :data:`CUT_OUT_PREVIEW_SIZE`."""
        from PIL import Image

        pixels = load_image(photo)
        rgb, mask = object_pixels(pixels, box)
        height, width = mask.shape
        scale = min(1.0, CUT_OUT_PREVIEW_SIZE / max(height, width))
        shown = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = np.asarray(Image.fromarray(rgb).resize(shown, Image.Resampling.BILINEAR))
        mask = np.asarray(Image.fromarray(mask).resize(shown, Image.Resampling.NEAREST))
        return CutOut(str(photo), box, image, mask, (width, height), separation(pixels, box))

    def export(self, voxels: np.ndarray, path: str | Path, options: ExportOptions) -> WrittenShape:
        return write_shape(voxels, path, options)

    def export_series(
        self, grids: Sequence[np.ndarray], target: Path, options: ExportOptions
    ) -> list[Path]:
        """Write ``target_000.stl``, ``target_001.stl``, ... next to ``target``, then remove
        the frames of an earlier, longer series under that name, so that the folder holds
        this series alone; returns the paths written."""
        paths = series_paths(target, len(grids))
        for voxels, path in zip(grids, paths):
            export_shape(voxels, path, options)
        for stale in set(series_files_there(target)) - set(paths):
            stale.unlink(missing_ok=True)
        return paths

    def interpolation(
        self,
        start: LatentState,
        end: LatentState,
        steps: int,
        view: ViewSettings,
        method: str,
        task: TaskState,
    ) -> list[ShapeResult]:
        """``steps`` shapes from ``start`` to ``end`` (each step with the nearer end's class,
        :func:`~gan3d_core.latent.interpolated_label`)."""
        latents = interpolate(start.latent, end.latent, steps, method)
        results = []
        for index, latent in enumerate(latents):
            label = interpolated_label(start.label, end.label, index / (steps - 1))
            state = LatentState(latent, label, f"interpolation {index + 1}/{steps}")
            results.append(self.shape(state, view))
            task.progress((index + 1) / steps, f"decoded {index + 1} of {steps}")
        return results

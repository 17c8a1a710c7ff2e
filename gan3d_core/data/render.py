"""Render training and evaluation views of voxel shapes, off-screen with pyvista.

One renderer serves ``gan3d render``, training data and ``gan3d eval``: the shape's
marching-cubes mesh, scaled to unit size and centred, seen from a ring of cameras (MVCNN:
12 azimuths at 30 degrees elevation) or from randomly jittered ones, on white. Every image
then goes through :func:`gan3d_core.images.preprocess_image`, exactly as a user's photo does.
pyvista is imported here only: the rest of the core does not need VTK.
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gan3d_core.errors import OperationCancelled
from gan3d_core.images import preprocess_image
from gan3d_core.io.atomic import write_npy_atomic
from gan3d_core.mesh.surface import voxels_to_mesh

ProgressHook = Callable[[float, str], None]
StopHook = Callable[[], bool]

DEFAULT_COLOUR = (0.72, 0.72, 0.76)
CAMERA_DISTANCE = 3.2  # unit-size shape, 30 degree view angle: always fully in frame
VIEW_ANGLE = 30.0
MESH_SMOOTHING = 2  # Taubin iterations: softens the voxel staircase like a real surface


@dataclass(frozen=True)
class View:
    """A camera around the shape (degrees; distance in shape sizes) and its lighting."""

    azimuth: float
    elevation: float = 30.0
    distance: float = CAMERA_DISTANCE
    light_intensity: float = 1.0
    colour: tuple[float, float, float] = DEFAULT_COLOUR


def ring_views(count: int = 12, elevation: float = 30.0, azimuth_offset: float = 0.0) -> list[View]:
    """``count`` views evenly spaced in azimuth from ``azimuth_offset`` degrees (0: from +x)."""
    return [
        View(azimuth=azimuth_offset + 360.0 * k / count, elevation=elevation) for k in range(count)
    ]


def jittered_views(count: int, rng: np.random.Generator) -> list[View]:
    """Ring views with random azimuth, elevation, distance, light and colour offsets.

    Azimuths move up to half the ring's spacing either way (+-15 degrees for 12 views), so
    over many shapes every azimuth is seen whatever the count."""
    views = []
    azimuth_jitter = 180.0 / count
    for base in ring_views(count):
        grey = rng.uniform(0.45, 0.9)
        tint = rng.uniform(-0.12, 0.12, size=3)
        views.append(
            View(
                azimuth=base.azimuth + rng.uniform(-azimuth_jitter, azimuth_jitter),
                elevation=float(np.clip(base.elevation + rng.uniform(-20, 20), -5, 75)),
                distance=CAMERA_DISTANCE * rng.uniform(0.9, 1.15),
                light_intensity=rng.uniform(0.7, 1.2),
                colour=tuple(float(c) for c in np.clip(grey + tint, 0.05, 0.95)),
            )
        )
    return views


class ShapeRenderer:
    """An off-screen pyvista plotter reused for many shapes; close it when done."""

    def __init__(self, image_size: int = 128, render_size: int | None = None) -> None:
        import pyvista
        from vtkmodules.vtkCommonCore import vtkLogger

        # With no X display VTK warns "bad X server connection" and then renders through
        # EGL, as intended: only errors are worth a user's terminal
        vtkLogger.SetStderrVerbosity(vtkLogger.VERBOSITY_ERROR)

        self.image_size = image_size
        # Render larger than the output: preprocessing crops to the object, then shrinks.
        self.render_size = render_size or max(2 * image_size, 128)
        self._plotter = pyvista.Plotter(off_screen=True, window_size=(self.render_size,) * 2)
        self._plotter.set_background("white")
        self._pyvista = pyvista
        self._actor = None
        # Jitter scales every light of the default light kit from its own intensity.
        self._light_intensities = [light.intensity for light in self._plotter.renderer.lights]

    def __enter__(self) -> ShapeRenderer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        if self._plotter is not None:
            self._plotter.close()
            self._plotter = None

    def render(self, voxels: np.ndarray, views: Sequence[View]) -> np.ndarray:
        """uint8 (V, S, S, 3) preprocessed images of one (R, R, R) shape; an empty shape's
        are blank pages, with nothing to crop."""
        frames = self.frames(voxels, views)
        if frames.min() == 255:
            return np.full((len(views), self.image_size, self.image_size, 3), 255, np.uint8)
        return np.stack([preprocess_image(frame, self.image_size) for frame in frames])

    def frames(self, voxels: np.ndarray, views: Sequence[View]) -> np.ndarray:
        """The raw frames (V, F, F, 3), uint8, of one shape before preprocessing: the whole
        render window (``render_size`` pixels), the shape on white."""
        mesh = voxels_to_mesh(voxels, smooth_iterations=MESH_SMOOTHING)
        if len(mesh.faces) == 0:  # an empty shape looks like a blank page
            return np.full((len(views), self.render_size, self.render_size, 3), 255, np.uint8)
        vertices = (mesh.vertices - mesh.bounds.mean(axis=0)) / float(mesh.extents.max())
        faces = np.hstack([np.full((len(mesh.faces), 1), 3), mesh.faces]).ravel()
        surface = self._pyvista.PolyData(vertices, faces)
        plotter = self._plotter
        if self._actor is not None:
            plotter.remove_actor(self._actor, render=False)
        self._actor = plotter.add_mesh(surface, color=DEFAULT_COLOUR, smooth_shading=True)
        images = []
        for view in views:
            self._actor.prop.color = view.colour
            for light, base in zip(plotter.renderer.lights, self._light_intensities):
                light.intensity = view.light_intensity * base
            azimuth, elevation = math.radians(view.azimuth), math.radians(view.elevation)
            camera = plotter.camera
            camera.position = (
                view.distance * math.cos(elevation) * math.cos(azimuth),
                view.distance * math.cos(elevation) * math.sin(azimuth),
                view.distance * math.sin(elevation),
            )
            camera.focal_point = (0.0, 0.0, 0.0)
            camera.up = (0.0, 0.0, 1.0)
            camera.view_angle = VIEW_ANGLE
            plotter.render()
            images.append(plotter.screenshot(return_img=True)[:, :, :3])
        return np.stack(images)


def shape_views(
    index: int, count: int, jitter: bool, seed: int, azimuth_offset: float = 0.0
) -> list[View]:
    """The views of shape ``index``: seeded by (seed, index), so any split of the shapes over
    processes renders the same images."""
    if jitter:
        return jittered_views(count, np.random.default_rng([seed, index]))
    return ring_views(count, azimuth_offset=azimuth_offset)


def view_cameras(
    count: int, views_per_shape: int, jitter: bool, seed: int, azimuth_offset: float = 0.0
) -> np.ndarray:
    """The cameras :func:`render_views` renders ``count`` shapes from, with the same
    settings: float32 (count, views_per_shape, 3) azimuth in [0, 360), elevation (degrees)
    and distance (shape sizes)."""
    cameras = [
        [(view.azimuth % 360.0, view.elevation, view.distance) for view in
         shape_views(index, views_per_shape, jitter, seed, azimuth_offset)]
        for index in range(count)
    ]  # fmt: skip
    return np.asarray(cameras, np.float32).reshape(count, views_per_shape, 3)


SHAPES_PER_TASK = 16
_worker_renderer: ShapeRenderer | None = None


def _start_worker(image_size: int) -> None:
    global _worker_renderer
    _worker_renderer = ShapeRenderer(image_size)


def _render_task(task: tuple[int, np.ndarray, int, bool, int, float]) -> tuple[int, np.ndarray]:
    start, shapes, count, jitter, seed, azimuth_offset = task
    images = [
        _worker_renderer.render(shape, shape_views(start + k, count, jitter, seed, azimuth_offset))
        for k, shape in enumerate(shapes)
    ]
    return start, np.stack(images)


def default_render_workers() -> int:
    """One per core this process may use (not every core of the machine), at most 16."""
    if hasattr(os, "sched_getaffinity"):  # Linux: honours taskset and container limits
        usable = len(os.sched_getaffinity(0))
    else:
        usable = os.cpu_count() or 1
    return max(1, min(usable, 16))


def render_views(
    voxels: np.ndarray,
    views_per_shape: int = 12,
    image_size: int = 128,
    jitter: bool = False,
    seed: int = 0,
    azimuth_offset: float = 0.0,
    progress: ProgressHook | None = None,
    should_stop: StopHook | None = None,
    workers: int | None = None,
) -> np.ndarray:
    """Views of every shape: uint8 (N, V, S, S, 3). Ring views (starting at
    ``azimuth_offset``), or jittered ones drawn with ``seed``.

    ``workers`` processes (default: one per core) each render with their own off-screen
    plotter; the images do not depend on how many there are.
    """
    count = len(voxels)
    out = np.empty((count, views_per_shape, image_size, image_size, 3), np.uint8)
    tasks = [
        (start, voxels[start : start + SHAPES_PER_TASK], views_per_shape, jitter, seed,
         azimuth_offset)
        for start in range(0, count, SHAPES_PER_TASK)
    ]  # fmt: skip
    workers = min(workers or default_render_workers(), len(tasks))
    done = 0

    def report(start: int, images: np.ndarray) -> None:
        nonlocal done
        out[start : start + len(images)] = images
        done += len(images)
        if progress is not None:
            progress(done / count, f"rendered {done} of {count} shapes")

    if workers <= 1:
        with ShapeRenderer(image_size) as renderer:
            for index, shape in enumerate(voxels):
                if should_stop is not None and should_stop():
                    raise OperationCancelled("rendering cancelled")
                views = shape_views(index, views_per_shape, jitter, seed, azimuth_offset)
                report(index, renderer.render(shape, views)[None])
        return out
    # spawn: a forked VTK/OpenGL context is not safe to reuse in the children. An executor,
    # not a Pool: a worker that crashes (e.g. no off-screen OpenGL) raises instead of hanging.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, context, _start_worker, (image_size,)) as pool:
        futures = [pool.submit(_render_task, task) for task in tasks]
        try:
            for future in as_completed(futures):
                if should_stop is not None and should_stop():
                    raise OperationCancelled("rendering cancelled")
                report(*future.result())
        except BrokenProcessPool:
            raise RuntimeError(
                "a rendering process stopped unexpectedly (is off-screen OpenGL available?); "
                "try workers=1 to see its error"
            ) from None
        finally:
            for future in futures:
                future.cancel()
    return out


def cached_render_views(
    voxels: np.ndarray,
    cache_dir: str | os.PathLike,
    views_per_shape: int = 12,
    image_size: int = 128,
    jitter: bool = False,
    seed: int = 0,
    azimuth_offset: float = 0.0,
    progress: ProgressHook | None = None,
    should_stop: StopHook | None = None,
    workers: int | None = None,
) -> np.ndarray:
    """:func:`render_views`, stored in ``cache_dir`` under a hash of shapes and settings."""
    digest = hashlib.sha1(np.ascontiguousarray(voxels, np.uint8).tobytes())
    settings = (
        f"{views_per_shape}|{image_size}|{jitter}|{seed}|{azimuth_offset}|{MESH_SMOOTHING}|v2"
    )
    digest.update(settings.encode())
    path = Path(cache_dir) / f"views_{digest.hexdigest()[:16]}.npy"
    if path.is_file():
        try:
            return np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError):
            path.unlink(missing_ok=True)
    images = render_views(
        voxels,
        views_per_shape,
        image_size,
        jitter,
        seed,
        azimuth_offset,
        progress,
        should_stop,
        workers,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_npy_atomic(path, images)
    del images  # read back paged from the file: a large render is not held in memory twice
    return np.load(path, mmap_mode="r", allow_pickle=False)

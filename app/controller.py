"""Connects the session to the engine; owns no widgets.

Requests from panels (open a model, a new random shape, a slider position, photos to
reconstruct, a shape file to encode, an export) become typed engine calls
(:mod:`gan3d_studio.wire`), run on the worker thread; each call's handle hands its result
to the session on the GUI thread, and the widgets bound to the session follow. Errors become ``error`` signals and leave the
previous state as it was.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, TypeVar

import numpy as np
from PySide6.QtCore import QObject, Signal

from gan3d_core.errors import Gan3dError, InputFileError, UsageError, first_line
from gan3d_core.images import Box, image_size, is_image_path
from gan3d_core.io.checkpoint import checkpoint_file
from gan3d_core.io.inputs import same_file
from gan3d_core.io.kinds import GRID_SUFFIXES, is_latent_path, is_shape_path
from gan3d_core.resources import default_model_path
from gan3d_studio.engine_process import EngineProcess
from gan3d_studio.session import SESSION_SUFFIX, Session, same_state
from gan3d_studio.wire import (
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
    Request,
    SampleLatent,
    ShapeResult,
)
from gan3d_studio.worker import Call, Worker

if TYPE_CHECKING:
    from gan3d_core.mesh.export import ExportOptions

CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth", ".ckpt", ".bin")
ANIMATION_SUFFIXES = (".gif", ".mp4")  # interpolation frames drawn in the 3D view
# the photos' inputs remembered for the photo shapes in the history (224 px: 150 kB each)
MAX_READING_IMAGES = 400
ResultT = TypeVar("ResultT")


class SortedFiles(NamedTuple):
    checkpoints: list[Path]
    images: list[Path]
    shapes: list[Path]  # voxel grids and meshes, to bring into the latent space
    latents: list[Path]  # NAME.latent.npy, as gan3d encode writes them
    sessions: list[Path]  # NAME.g3session.json, as File > Save session writes them
    others: list[Path]


def sort_files(paths: Sequence[str | Path]) -> SortedFiles:
    """Checkpoints, images, shapes, latents and the rest, by name: the one rule for drops,
    File > Open and the command line."""
    paths = [checkpoint_file(p) for p in paths]  # a training run's folder: its model
    checkpoints = [p for p in paths if p.suffix.lower() in CHECKPOINT_SUFFIXES]
    images = [p for p in paths if is_image_path(p)]
    shapes = [p for p in paths if is_shape_path(p)]
    latents = [p for p in paths if is_latent_path(p)]
    sessions = [p for p in paths if p.name.lower().endswith(SESSION_SUFFIX)]
    others = [p for p in paths if p not in checkpoints + images + shapes + latents + sessions]
    return SortedFiles(checkpoints, images, shapes, latents, sessions, others)


def images_beside(photo: Path) -> list[Path]:
    """The images in ``photo``'s folder, by name: the files :func:`sort_files` takes for
    images."""
    try:
        files = sorted(path for path in photo.parent.iterdir() if path.is_file())
    except OSError as exc:
        raise InputFileError(
            f"{photo.parent}: cannot list the folder ({exc.strerror or exc})"
        ) from None
    return sort_files(files).images


def step_through_folder(photo: Path, step: int) -> tuple[int, list[Path]]:
    """The index of the image ``step`` places from ``photo`` among :func:`images_beside` it,
    and those images. Past either end it wraps around, as f3d does; a photo no longer there
    counts from where its name sorts."""
    images = images_beside(photo)
    if not images:
        raise InputFileError(f"{photo.parent}: no images left in this folder")
    position = bisect.bisect_left(images, photo)
    if step > 0 and (position == len(images) or images[position] != photo):
        step -= 1  # the image after the gap is one step on already
    return (position + step) % len(images), images


class Controller(QObject):
    """The app's behaviour, minus the widgets."""

    error = Signal(str)  # a one-line message for the user
    load_failed = Signal()
    status = Signal(str)
    notice = Signal(str)  # something the user should read before the next status replaces it
    progress = Signal(float, str)
    busy_changed = Signal(bool)
    model_loaded = Signal(object)  # ModelInfo
    shape_shown = Signal(object)  # ShapeResult, once the session shows it
    reconstructed = Signal(object)  # Reconstruction: what the encoder saw, what it found
    # Reconstruction | None: the reading behind the shape shown (or the one its edits began
    # from), when it changes; None for a shape not made from photos
    reading_changed = Signal(object)
    photos_reconstructed = Signal(list)  # [Path], absolute: the photos of that reconstruction
    photo_position = Signal(str)  # "chair.png (3 of 7)": the photo Left / Right step from
    cut_out_ready = Signal(object)  # CutOut, for the box dialog
    exported = Signal(str)
    session_file_opened = Signal(object)  # Path of a session file dropped or given
    frames_ready = Signal(list, object)  # [ShapeResult], the animation file to draw them into

    def __init__(
        self, session: Session, device: str = "auto", engine: EngineProcess | None = None
    ) -> None:
        """``engine``: where the work runs; by default a new engine process, owned (and
        stopped on shutdown) by this controller."""
        super().__init__()
        self.session = session
        self.device = device  # the device of the model in use; changes only when a load works
        self._loading_device = device
        self._after_load: list[Path] = []  # photos or a shape to open once the model is in
        # Left / Right step from here: the last photo reconstructed, or stepped to (a file
        # that fails to reconstruct is stepped past, not stepped to again)
        self.photo: Path | None = None
        # shape files' up axis (File > Shapes' up axis): auto reads glTF y up, the rest z up
        self.shape_up_axis = "auto"
        # a reconstruction's state and when its photos were asked for: the status bar gives
        # the whole wait for that shape, not only its decoding
        self._reconstruction_started: tuple[LatentState, float] | None = None
        # the photos behind recent reconstructions and what the model made of them, newest
        # last: the Reconstruct panel shows the reading of the shape shown (after an undo
        # too), and a choice changed there reads that shape's photos again under the choice
        self._readings: list[tuple[list[Path], Reconstruction]] = []
        self._shown_reading: tuple[list[Path], Reconstruction] | None = None
        self._options = session.reconstruct_options
        # asked before another model clears the session's unsaved work, with what is about
        # to happen; whether to go on (the window asks the user)
        self.may_discard_work: Callable[[str], bool] = lambda action: True
        self._owns_engine = engine is None
        self.engine = engine if engine is not None else EngineProcess()
        # called on the worker thread: the signal reaches the status bar queued
        self.engine.on_restart = self.notice.emit
        self.worker = Worker()
        self.worker.busy_changed.connect(self.busy_changed)
        session.latent_changed.connect(self._on_latent_changed)
        session.view_changed.connect(lambda view: self.refresh())
        session.shape_shown.connect(self._on_shape_shown)
        session.reconstruct_options_changed.connect(self._on_reconstruct_options_changed)

    def _call(self, request: Request[ResultT]) -> Call[ResultT]:
        """Run ``request`` in the engine; it supersedes the request of its type still in
        flight. Its progress reaches the status bar, its error the user."""
        call = self.worker.submit(self.engine.run, request, lane=type(request))
        return call.on_error(self.error.emit).on_progress(self.progress.emit)

    # -- requests ---------------------------------------------------------------------------------

    def open_model(
        self, path: str | Path | None, device: str | None = None, then_open: Sequence = ()
    ) -> None:
        """Load a checkpoint (None: the bundled model) on ``device`` (default: the current
        one); the current model stays until it works. ``then_open``: photos to reconstruct
        or a shape file to encode (:meth:`open_files`) instead of showing a random first
        shape."""
        model = self.session.model
        bundled = path is None  # the bundled model: the same if it is the one in use
        another = model is None or not same_file(
            default_model_path() if bundled else path, model.path
        )
        if model is not None and another and not self.may_discard_work("opening another model"):
            return
        self.status.emit(f"Opening {Path(path).name if path else 'the bundled model'}...")
        self._loading_device = device or self.device
        self._after_load = [Path(p) for p in then_open]
        call = self._call(LoadModel(path, self._loading_device))
        call.on_done(self._loaded).on_error(self._load_failed)

    def change_device(self, device: str) -> None:
        """Run the model in use on ``device`` (the next model, with none open yet)."""
        if self.session.model is None:
            self.device = device
        else:
            self.open_model(self.session.model.path, device=device)

    def new_random(
        self, seed: int, truncation: float | None = None, label: int | None = None
    ) -> None:
        if self.session.model is None:
            self.error.emit("Open a model first")
            return
        self._call(SampleLatent(seed, truncation, label)).on_done(self.show_state)

    def reconstruct(self, images: Sequence[str | Path]) -> None:
        """Reconstruct one object from photos with the session's reconstruct options: the
        same choices apply whether the photos were dropped on the 3D view or the panel."""
        info = self.session.model
        if info is None:
            self.error.emit("Open a model first")
            return
        if not info.has_encoder:
            self.error.emit(
                f"This {info.kind} model has no image encoder; open a VAE-GAN or staged model"
            )
            return
        named = Path(images[0]).name if len(images) == 1 else f"{len(images)} photos"
        options = for_these = self.session.reconstruct_options
        self.status.emit(f"Reconstructing from {named}...")
        if options.box_photo_size is not None:  # a box drawn on a photo: this one's size?
            sizes = [image_size(image) for image in images]
            for_these = options.for_photos(sizes)
        if for_these.box is None and options.box is not None:  # drawn on another photo
            other, size = next(
                (Path(image).name, size) for image, size in zip(images, sizes)
                if size not in (None, options.box_photo_size)
            )  # fmt: skip
            self.notice.emit(
                "The object box is for {} x {} photos and ".format(*options.box_photo_size)
                + "{} is {} x {}: ".format(other, *size)
                + ("it is" if len(images) == 1 else f"these {len(images)} are")
                + " separated automatically"
            )
        # absolute: remembered among recent files, which outlive the working directory
        photos = [Path(image).absolute() for image in images]
        call = self._call(Reconstruct(photos, for_these))
        call.on_done(partial(self._reconstructed, photos, time.monotonic()))

    def step_photo(self, step: int) -> None:
        """Reconstruct the image ``step`` places from :attr:`photo` in its folder, with the
        session's reconstruct options."""
        if self.photo is None:
            self.status.emit(
                "Reconstruct a photo first; Left and Right then step through its folder"
            )
            return
        try:
            index, images = step_through_folder(self.photo, step)
        except Gan3dError as exc:
            self.error.emit(first_line(exc))
            return
        if images[index] == self.photo:
            self.status.emit(f"{self.photo.name} is the only image in its folder")
            return
        self._browse_from(images[index], images)
        self.reconstruct([images[index]])

    def cut_out(self, photo: str | Path, box: Box | None) -> None:
        """What preprocessing keeps of ``photo`` with ``box`` (None: automatic), for the box
        dialog; GrabCut takes a while on a large photo, so it runs in the engine."""
        self._call(CutOutPhoto(Path(photo), box)).on_done(self.cut_out_ready.emit)

    def stop_cut_out(self) -> None:
        """The box dialog closed: a mask still on its way has nowhere to go."""
        self.worker.cancel(CutOutPhoto)

    def export(self, path: str | Path, options: ExportOptions) -> None:
        """Write the shape on screen to ``path``."""
        shown = self.session.shown
        if shown is None:
            self.error.emit("Nothing to export yet")
            return
        call = self._call(
            ExportShape(
                shown.voxels,
                path,
                options.scaled_for(self.session.model.resolution, len(shown.voxels)),
            )
        )
        unlike = self._unlike_view(options, Path(path))
        call.on_done(
            lambda written: self._exported(
                written.path, written.parts, "; ".join(filter(None, (written.note, unlike)))
            )
        )

    def _unlike_view(self, options: ExportOptions, path: Path) -> str:
        """Where an export's settings (the Export panel's, kept for a printer) differ from
        what the 3D view draws, in words: a file unlike the screen is then no surprise."""
        view = self.session.view
        differs = []
        mesh = path.suffix.lower() not in GRID_SUFFIXES
        if mesh and view.mode in ("smooth", "blocks") and view.mode != options.style:
            differs.append(f"{options.style}, where the view draws {view.mode}")
        if path.suffix.lower() != ".npy" and view.threshold != options.threshold:  # .npy: raw
            differs.append(f"threshold {options.threshold:g} (the view's {view.threshold:g})")
        if mesh and options.style == "smooth" and view.mode == "smooth":
            if view.smoothing != options.smooth_iterations:
                differs.append(
                    f"smoothing {options.smooth_iterations} (the view's {view.smoothing})"
                )
        if view.min_part != options.min_part:
            dropped = (
                f"parts under {options.min_part * 100:g} % dropped" if options.min_part
                else "no parts dropped"
            )  # fmt: skip
            hidden = f"under {view.min_part * 100:g} %" if view.min_part else "none"
            differs.append(f"{dropped} (the view hides {hidden})")
        return "written " + ", ".join(differs) if differs else ""

    def export_frames(
        self,
        start: LatentState,
        end: LatentState,
        steps: int,
        method: str,
        target: Path,
        options: ExportOptions,
    ) -> None:
        """``steps`` shapes from ``start`` to ``end`` into ``target``: an animation (.gif,
        .mp4), drawn by whoever hears ``frames_ready``, or one mesh file per shape."""
        try:
            request = Interpolate(start, end, steps, self.session.view, method)
        except UsageError as exc:
            self.error.emit(first_line(exc))
            return
        call = self._call(request)
        if target.suffix.lower() in ANIMATION_SUFFIXES:
            call.on_done(lambda results: self.frames_ready.emit(results, target))
        else:  # marching cubes and writing belong on the worker thread
            call.on_done(
                lambda results: self._call(
                    ExportShapes(
                        [result.voxels for result in results],
                        target,
                        options.scaled_for(self.session.model.resolution, len(results[0].voxels)),
                    )
                ).on_done(self._exported_series)
            )

    def open_files(self, paths: Sequence[Path]) -> None:
        """Dropped or opened files: a checkpoint loads, images reconstruct, a shape file is
        encoded, a latent file decoded; others are refused."""
        try:
            files = sort_files(paths)
        except Gan3dError as exc:  # a training run's folder with no model yet
            self.error.emit(first_line(exc))
            return
        folders = [p for p in files.others if p.is_dir()]
        if folders:
            self.error.emit(f"{folders[0]}: is a folder; open the files in it")
            return
        if files.others:
            names = ", ".join(p.name for p in files.others)
            self.error.emit(
                f"{names}: not an image, a shape, a latent, a session or a checkpoint (drop "
                "photos, a .binvox, a mesh, a .latent.npy, a .g3session.json or a .safetensors)"
            )
            return
        if len(files.checkpoints) > 1:
            self.error.emit(
                f"{', '.join(p.name for p in files.checkpoints)}: open one model at a time"
            )
            return
        single = files.shapes + files.latents + files.sessions  # each makes the one current shape
        if single and (files.images or len(single) > 1):
            self.error.emit(
                f"{', '.join(p.name for p in single + files.images)}: open one shape, latent "
                "or session file at a time, without photos"
            )
            return
        if files.checkpoints:  # the model first, then what came with it
            self.open_model(files.checkpoints[0], then_open=files.images + single)
        elif files.sessions:
            self.session_file_opened.emit(files.sessions[0])
        elif files.images:
            self.reconstruct(files.images)
        elif files.shapes:
            self.encode_shape(files.shapes[0])
        elif files.latents:
            self.open_latent(files.latents[0])

    def encode_shape(self, path: str | Path) -> None:
        """Bring a shape file into the model's latent space and show it, decoded with the
        reconstruct options' class (None: the model's choice)."""
        info = self.session.model
        if info is None:
            self.error.emit("Open a model first")
            return
        if not info.has_shape_encoder:
            self.error.emit(
                f"{Path(path).name}: this {info.kind} model has no shape encoder; open a "
                "staged (lgan) model to encode shapes"
            )
            return
        self.status.emit(f"Encoding {Path(path).name}...")
        label = self.session.reconstruct_options.label
        request = EncodeShape(Path(path).absolute(), label, self.shape_up_axis)
        self._call(request).on_done(self._encoded)

    def _encoded(self, found: EncodedShape) -> None:
        self.show_state(found.state)
        if found.note:  # read before the shape's status line replaces it
            self.notice.emit(found.note)

    def open_latent(self, path: str | Path) -> None:
        """Show a latent file's shape, decoded with the reconstruct options' class (None:
        the model's choice)."""
        if self.session.model is None:
            self.error.emit("Open a model first")
            return
        label = self.session.reconstruct_options.label
        self._call(OpenLatent(Path(path).absolute(), label)).on_done(self.show_state)

    def show_state(self, state: LatentState, record: bool = True) -> None:
        """Make ``state`` current (recorded in history unless previewing)."""
        try:
            self.session.set_latent(state) if record else self.session.preview_latent(state)
        except Gan3dError as exc:
            self.error.emit(first_line(exc))

    def cancel(self) -> None:
        """Stop the work in progress (Esc): what is shown stays as it was."""
        self.worker.cancel_all()
        self.status.emit("Cancelled")

    def shutdown(self) -> None:
        """Cancel work and stop the worker thread; a call that ignores cancellation is ended
        with its engine process, so closing never waits long or leaves the thread running."""
        if not self.worker.shutdown(timeout_ms=2000):
            self.engine.abort()
            self.worker.shutdown()
        if self._owns_engine:
            self.engine.close()

    def refresh(self) -> None:
        """Make the session's current shape again (after a view or device change)."""
        self._on_latent_changed(self.session.current)

    # -- results (GUI thread) -----------------------------------------------------------------

    def _on_latent_changed(self, state: LatentState | None) -> None:
        if state is None:
            self.worker.cancel(MakeShape)
        else:
            self._call(MakeShape(state, self.session.view)).on_done(self.session.show_shape)
        base = self.session.edit_base() if state is not None else None
        reading = None if base is None else self._reading_of(base)
        if reading is not self._shown_reading:
            self._shown_reading = reading
            self.reading_changed.emit(None if reading is None else reading[1])
            if reading is not None:
                self._browse_from_photo(reading[0][-1])

    def suggested_name(self) -> str:
        """A file name (no suffix) for the shape shown: its photo's, else its class's."""
        if self._shown_reading is not None and not self._shown_reading[0][0].stem.startswith("."):
            return self._shown_reading[0][0].stem  # not a hidden .stl for a photo named .png
        current, info = self.session.current, self.session.model
        if current is not None and current.label is not None and info is not None:
            return info.class_names[current.label]
        return "shape"

    def _reading_of(self, state: LatentState) -> tuple[list[Path], Reconstruction] | None:
        """The photos and reconstruction that made ``state``, if it is a recent one's."""
        for reading in reversed(self._readings):
            if same_state(reading[1].state, state):
                return reading
        return None

    def _on_shape_shown(self, result: ShapeResult) -> None:
        self.shape_shown.emit(result)
        state, model = result.state, self.session.model
        # the class a conditional model decoded it as: the one it found for a photo, unless
        # the user chose one (in the Reconstruct panel, or the Generate panel afterwards)
        decoded_as = (
            "" if state.label is None or model is None
            else f"decoded as {model.class_names[state.label]}, "
        )  # fmt: skip
        seconds = result.seconds
        started = self._reconstruction_started
        if started and np.array_equal(started[0].latent, state.latent):  # (a copy, by now)
            seconds = time.monotonic() - started[1]
            self._reconstruction_started = None
        took = f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"
        self.status.emit(f"{state.source} ({decoded_as}{took})")

    def _load_failed(self, message: str) -> None:
        self._after_load = []
        self.load_failed.emit()

    def _loaded(self, info: ModelInfo) -> None:
        self.device = self._loading_device
        same_model = self.session.model is not None and self.session.model.path == info.path
        self.model_loaded.emit(info)
        self.status.emit(f"Loaded {Path(info.path).name}: {info.kind}, {info.resolution}^3")
        files, self._after_load = self._after_load, []
        if same_model:  # the same file again (e.g. on another device): keep the session
            self.session.model = info
            if files:  # dropped again with photos, a shape or a session: read them
                self.open_files(files)
            else:
                self.refresh()
            return
        self._readings.clear()  # the photos' shapes were the old model's latents
        self.session.set_model(info)
        if files:
            self.open_files(files)
        else:
            self.new_random(seed=0, label=0 if info.conditional else None)

    def _exported(self, path: Path, parts: int = 1, note: str = "") -> None:
        self.exported.emit(str(path))
        said = [note] if note else []
        if parts > 1 and path.suffix.lower() not in GRID_SUFFIXES:  # a printer: loose pieces
            said.append(
                f"{parts} separate parts (Export's 'Drop parts under' leaves out small ones)"
            )
        self.status.emit(f"Exported {path}" + (f": {'; '.join(said)}" if said else ""))

    def _exported_series(self, paths: list[Path]) -> None:
        self.exported.emit(str(paths[0]))  # the next export starts in this folder and format
        self.status.emit(
            f"Exported {len(paths)} shapes, {paths[0].name} to {paths[-1].name}, "
            f"in {paths[0].parent}"
        )

    def _browse_from(self, photo: Path, images: list[Path]) -> None:
        self.photo = photo
        place = f" ({images.index(photo) + 1} of {len(images)})" if photo in images else ""
        self.photo_position.emit(photo.name + place)

    def _on_reconstruct_options_changed(self, options) -> None:
        """The class, pooling or fitting chosen anew while the last reconstruction is shown:
        its photos are read again under the choice (a wrong class put right). The object box
        is left out: the cut-out dialog that sets it reconstructs by itself."""
        before, self._options = self._options, options
        # the photos the panel shows, while their latent is shown (as another class too)
        reading, current = self._shown_reading, self.session.current
        if reading is None or current is None:
            return
        if not np.array_equal(current.latent, reading[1].state.latent):
            return
        if (options.label, options.pool, options.refine) != (
            before.label,
            before.pool,
            before.refine,
        ):
            self.reconstruct(reading[0])

    def _reconstructed(self, photos: list[Path], started: float, result: Reconstruction) -> None:
        self._reconstruction_started = (result.state, started)
        reading = (photos, result)
        self._readings.append(reading)
        while sum(len(kept.inputs) for _, kept in self._readings) > MAX_READING_IMAGES:
            del self._readings[0]  # the oldest first; the newest is always kept
        self._shown_reading = reading  # shown here: the state it records needs no lookup
        self.reconstructed.emit(result)
        self.photos_reconstructed.emit(photos)
        self._browse_from_photo(photos[-1])
        self.show_state(result.state)

    def _browse_from_photo(self, photo: Path) -> None:
        try:
            images = images_beside(photo)
        except Gan3dError:
            images = []  # a folder that cannot be listed: the photo's name alone
        self._browse_from(photo, images)

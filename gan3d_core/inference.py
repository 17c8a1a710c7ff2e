"""Load a checkpoint and use it: sample, decode, encode, reconstruct, explore latents.

Only numpy arrays and plain values cross this API, so the app and the CLI never touch
torch. Long batches take ``progress(fraction, message)`` and ``should_stop()`` hooks.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan3d_core.config import ModelConfig
from gan3d_core.errors import InputFileError, OperationCancelled, UsageError
from gan3d_core.images import Box, ImageSource, images_to_array, preprocess_image, reframed
from gan3d_core.io.card import framing_shift, inference_settings, refine_steps
from gan3d_core.io.checkpoint import load_checkpoint
from gan3d_core.latent import LatentDirections, pca_directions, sefa_directions
from gan3d_core.limits import (
    MAX_REFINE_STEPS,
    MAX_SAMPLED_LATENTS,
    MAX_VIEWS,
    MIN_TRUNCATION,
    check_surface_resolution,
)
from gan3d_core.metrics import iou
from gan3d_core.models import GanNetworks
from gan3d_core.models.fast import FastVoxelGenerator
from gan3d_core.reprs import summary_repr
from gan3d_core.resources import installed_default_model
from gan3d_core.schema import whole_number

ProgressHook = Callable[[float, str], None]
StopHook = Callable[[], bool]
Labels = int | str | Sequence[int | str] | np.ndarray | None


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` -> cuda, then mps, then cpu; an explicit device must be available."""
    if str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise UsageError(f"unknown device {device!r}; use auto, cpu, cuda or mps") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise UsageError("device cuda was asked for, but no CUDA GPU is available")
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise UsageError("device mps was asked for, but Metal is not available")
    return resolved


MAX_REMEMBERED_DRAWS = 100_000  # latents whose drawn class decode recalls: about 15 MB


def _latent_key(latent: np.ndarray) -> bytes:
    """A drawn latent's identity: a digest of its float32 values."""
    return hashlib.blake2b(np.asarray(latent, np.float32).tobytes(), digest_size=16).digest()


def load_model(path: str | os.PathLike | None = None, device: str | None = "auto") -> GanModel:
    """Open a checkpoint (``None``: the bundled default model) on ``device`` (``"auto"`` or
    ``None``: a GPU when there is one)."""
    if path is None:
        path = installed_default_model()
    elif not isinstance(path, (str, os.PathLike)):
        raise UsageError(f"a checkpoint is a path (str or pathlib.Path), got {path!r:.60}")
    resolved = resolve_device("auto" if device is None else device)
    networks, card = load_checkpoint(path, device=resolved)
    return GanModel(networks, card, Path(path), resolved)


@dataclass
class ReconstructedLatent:
    """What :meth:`GanModel.reconstruct_latent` found: the latent (L,), the class (None for
    unconditional models), the preprocessed images the model saw, and for the staged model
    the cameras (degrees, (V,) each), the silhouettes' soft IoU after fitting and the
    features of the images from the retrieval bank's backbone
    (:meth:`GanModel.image_features`), for retrieval without a second pass."""

    latent: np.ndarray
    label: int | None
    images: list[np.ndarray]
    azimuths: np.ndarray | None = None
    elevations: np.ndarray | None = None
    silhouette_iou: float | None = None
    features: np.ndarray | None = None

    __repr__ = summary_repr

    def describe(self, class_names: Sequence[str], class_given: bool = False) -> str:
        """One line on what the model made of the photos, as the CLI and the app say it:
        the class it decodes as (found, or given), the cameras it estimated, how well the
        silhouettes matched after fitting."""
        parts = []
        if self.label is not None:
            how = "given" if class_given else "found"
            parts.append(f"decoded as {class_names[self.label]} (class {how})")
        if self.azimuths is not None and self.elevations is not None:
            turns = [round(a) % 360 for a in self.azimuths]  # 359.6 reads 0, not 360
            if len(turns) == 1:
                parts.append(f"camera at azimuth {turns[0]}°, elevation {self.elevations[0]:.0f}°")
            else:
                pairs = ", ".join(f"{a}°/{e:.0f}°" for a, e in zip(turns, self.elevations))
                parts.append(f"cameras at azimuth/elevation {pairs}")
        if self.silhouette_iou is not None:
            parts.append(f"silhouette fit IoU {self.silhouette_iou:.2f}")
        return "; ".join(parts) or "reconstructed"


# how much better (IoU of the encoder's decoding) a shape must read turned the other way
# up before gan3d says so: wrong readings of ModelNet's z-up shapes gain at most 0.05
UP_AXIS_MARGIN = 0.1


@dataclass
class EncodedShapes:
    """What :meth:`GanModel.encode_shapes` found for N shapes: latents (N, L), classes
    (N,) (None for unconditional models), their decoded occupancy (N, R, R, R) and how
    well each decodes back: IoU at 0.5 with the input (N,)."""

    latents: np.ndarray
    labels: np.ndarray | None
    shapes: np.ndarray
    iou: np.ndarray

    __repr__ = summary_repr


def fit_overrides(inference: dict[str, Any]) -> dict[str, float | int]:
    """Fitting settings a model card's ``inference`` section may tune (numbers only)."""
    kinds = {
        "learning_rate": float,
        "camera_learning_rate": float,
        "prior_weight": float,
        "sharpness": float,
        "ring_azimuths": int,
    }
    return {
        name: kind(inference[name])
        for name, kind in kinds.items()
        if isinstance(inference.get(name), (int, float)) and np.isfinite(inference[name])
    }


class GanModel:
    """A loaded model. Attributes: ``config``, ``resolution``, ``latent_dim``,
    ``class_names``, ``card`` (the model card dict), ``path`` and ``device``."""

    def __init__(
        self, networks: GanNetworks, card: dict[str, Any], path: Path | None, device: torch.device
    ) -> None:
        self.networks = networks.eval().requires_grad_(False)  # fitting needs latent grads only
        self.card = card
        self.path = path
        self.device = device
        self.config: ModelConfig = networks.config
        self.resolution = self.config.resolution
        self.latent_dim = self.config.latent_dim
        names = card.get("class_names") or []
        self.class_names: list[str] = [str(n) for n in names]
        # Rebuilt lazily: only CPU decoding uses it, and it copies the weights.
        self._fast_generator: FastVoxelGenerator | None = None
        # the class each latent this model drew was drawn for, by the latent's bytes (see
        # decode); the oldest are forgotten past MAX_REMEMBERED_DRAWS
        self._drawn_labels: OrderedDict[bytes, int] = OrderedDict()

    def __repr__(self) -> str:
        source = self.path.name if self.path else "in memory"
        return (
            f"GanModel({self.config.kind}, {self.resolution}^3, latent {self.latent_dim}, "
            f"{source}, {self.device})"
        )

    # -- latents -------------------------------------------------------------------------

    def sample_latents(
        self,
        n: int,
        seed: int | None = 0,
        truncation: float | None = None,
        labels: Labels = None,
    ) -> np.ndarray:
        """``n`` random latents, float32 (n, latent_dim); same seed, same latents.

        GAN families draw them from N(0, I). The staged ``lgan`` model draws noise and maps
        it through its latent GAN into the shape autoencoder's latent space, for the class
        in ``labels`` when it is conditional (None: :meth:`seeded_labels`' classes, each
        class once before any repeats). With ``truncation`` t, noise components beyond
        +-t are redrawn (the truncation trick): smaller t gives more typical, less varied
        shapes.
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise UsageError(f"n must be a whole number >= 0, got {n!r}")
        if n > MAX_SAMPLED_LATENTS:  # 10**9 asked numpy for 477 GiB (a MemoryError)
            raise UsageError(f"n {n:,} is over the limit of {MAX_SAMPLED_LATENTS:,} latents a call")
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0
        ):
            raise UsageError(f"seed must be a whole number >= 0 or None, got {seed!r}")
        if truncation is not None and (
            isinstance(truncation, bool)
            or not isinstance(truncation, (int, float, np.integer, np.floating))
            or not MIN_TRUNCATION <= truncation < float("inf")
        ):
            # below the limit almost every draw is redrawn: the loop would run for ever
            raise UsageError(
                f"truncation must be a number of at least {MIN_TRUNCATION}, got {truncation!r}"
            )
        sampler = getattr(self.networks, "latent_sampler", None)
        width = self.latent_dim if sampler is None else self.config.noise_dim
        rng = np.random.default_rng(seed)
        z = rng.standard_normal((n, width))
        if truncation is not None:
            outside = np.abs(z) > truncation
            while outside.any():
                z[outside] = rng.standard_normal(int(outside.sum()))
                outside = np.abs(z) > truncation
        z = z.astype(np.float32)
        if labels is not None and not self.config.conditional:
            raise UsageError(
                f"this {self.config.kind} model is not conditional; it takes no labels"
            )
        if labels is None and self.config.conditional:
            labels = self.seeded_labels(n, seed)
        label_tensor = self._labels_tensor(labels, n)
        if sampler is not None:
            with torch.inference_mode():
                z = sampler(torch.from_numpy(z).to(self.device), label_tensor).float().cpu().numpy()
        if label_tensor is not None:
            self._remember_draws(z, label_tensor.tolist())
        return z

    def _remember_draws(self, latents: np.ndarray, labels: list[int]) -> None:
        for latent, label in zip(latents, labels):
            key = _latent_key(latent)
            self._drawn_labels[key] = label
            self._drawn_labels.move_to_end(key)
        while len(self._drawn_labels) > MAX_REMEMBERED_DRAWS:
            self._drawn_labels.popitem(last=False)

    def drawn_or_best_label(self, latent: np.ndarray) -> int:
        """The class :meth:`sample_latents` drew ``latent`` for, when this model drew it
        (unchanged), else :meth:`best_label`'s."""
        label = self._drawn_labels.get(_latent_key(latent))
        return self.best_label(latent) if label is None else label

    def seeded_labels(self, n: int, seed: int | None = 0) -> list[int] | None:
        """A conditional model's classes for ``n`` shapes drawn without one: a seeded order
        of all classes, each once before any repeats (ten shapes of a ten-class model are
        one of each); None for an unconditional model."""
        if not self.config.conditional:
            return None
        order = np.random.default_rng(seed).permutation(self.config.num_classes)
        return [int(order[index % len(order)]) for index in range(n)]

    def label_index(self, label: int | str) -> int:
        """Class index from an index or a class name."""
        if not self.config.conditional:
            raise UsageError(f"this {self.config.kind} model is not conditional; it takes no class")
        count = self.config.num_classes
        if isinstance(label, (bool, np.bool_)) or (
            not isinstance(label, (str, int, np.integer))
        ):  # True is not class 1, nor 1.5 class 1
            raise UsageError(f"a class is a name or a whole index, got {label!r}")
        if isinstance(label, str):
            if label not in self.class_names:
                choices = ", ".join(self.class_names) or f"0..{count - 1}"
                raise UsageError(f"unknown class {label!r}; this model knows {choices}")
            return self.class_names.index(label)
        index = int(label)
        if not 0 <= index < count:
            raise UsageError(f"class index {index} is out of range 0..{count - 1}")
        return index

    def _labels_tensor(self, labels: Labels, n: int) -> torch.Tensor | None:
        if not self.config.conditional:
            if labels is not None:
                raise UsageError(
                    f"this {self.config.kind} model is not conditional; it takes no labels"
                )
            return None
        if labels is None:
            names = ", ".join(self.class_names) or f"0..{self.config.num_classes - 1}"
            raise UsageError(f"this model is conditional: give a class ({names})")
        if isinstance(labels, (int, str, float, np.integer, np.floating, np.bool_)):
            labels = [labels]  # one for all (a float or a bool: refused by label_index)
        indices = [self.label_index(label) for label in labels]
        if len(indices) == 1:
            indices = indices * n
        if len(indices) != n:
            raise UsageError(f"got {len(indices)} labels for {n} latents")
        return torch.tensor(indices, dtype=torch.long, device=self.device)

    def _latents_tensor(self, latents: np.ndarray) -> torch.Tensor:
        z = np.asarray(latents, dtype=np.float32)
        if z.ndim == 1:
            z = z[None]
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise UsageError(
                f"latents must have shape (n, {self.latent_dim}), got {np.shape(latents)}"
            )
        if not np.isfinite(z).all():
            raise UsageError("latents contain NaN or infinite values")
        return torch.from_numpy(z).to(self.device)

    # -- decoding ------------------------------------------------------------------------

    def _generator(self) -> torch.nn.Module:
        if self.device.type != "cpu" or self.config.residual_convs:
            return self.networks.generator
        if self._fast_generator is None:
            self._fast_generator = FastVoxelGenerator(self.networks.generator)
        return self._fast_generator

    @property
    def has_shape_encoder(self) -> bool:
        """Whether :meth:`encode_shapes` can bring 3D shapes into the latent space."""
        return self.config.has_shape_encoder

    def require_shape_encoder(self) -> None:
        """Refuse, in one line, a model that cannot encode shapes (before reading any)."""
        self.config.require_shape_encoder(self.path)

    @property
    def has_implicit_decoder(self) -> bool:
        """Whether :meth:`decode` can sample the shape on a grid finer than the model's."""
        return self.networks.implicit is not None

    def require_implicit_decoder(self) -> None:
        """Refuse, in one line, a finer surface from a model that cannot make one."""
        if not self.has_implicit_decoder:
            raise UsageError(
                "this model has no implicit decoder for a finer surface; train one with "
                "gan3d train --implicit-steps N"
            )

    def decode(
        self,
        latents: np.ndarray,
        labels: Labels = None,
        batch_size: int = 16,
        progress: ProgressHook | None = None,
        should_stop: StopHook | None = None,
        resolution: int | None = None,
    ) -> np.ndarray:
        """Occupancy grids for latents (n, latent_dim) (or one (latent_dim,) latent).

        Returns float32 (n, R, R, R) in [0, 1], axes (x, y, z) with z up. Conditional models
        take ``labels``: one class (index or name) for all, or one per latent; without them
        a latent :meth:`sample_latents` drew decodes as the class it was drawn for (so
        ``decode(sample_latents(n, seed))`` makes what ``gan3d sample`` makes), any other
        as the class :meth:`best_label` finds for it. With
        ``resolution`` N, models with an implicit decoder sample it on an N^3 grid over the
        same box instead (n, N, N, N): a finer surface than the voxel decoder's.
        """
        batch_size = whole_number("batch_size", batch_size, 1)
        z = self._latents_tensor(latents)
        n = z.shape[0]
        if labels is None and self.config.conditional:
            labels = [self.drawn_or_best_label(latent) for latent in z.cpu().numpy()]
        label_tensor = self._labels_tensor(labels, n)
        if resolution is not None:
            return self._decode_implicit(z, label_tensor, resolution, progress, should_stop)
        generator = self._generator()
        out = np.empty((n,) + (self.resolution,) * 3, dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, n, batch_size):
                if should_stop is not None and should_stop():
                    raise OperationCancelled("decoding cancelled")
                stop = min(start + batch_size, n)
                batch_labels = None if label_tensor is None else label_tensor[start:stop]
                logits = generator(z[start:stop], batch_labels)  # (b, 1, R, R, R)
                out[start:stop] = torch.sigmoid(logits)[:, 0].float().cpu().numpy()
                if progress is not None:
                    progress(stop / n, f"decoded {stop} of {n} shapes")
        return out

    def _decode_implicit(
        self,
        z: torch.Tensor,
        labels: torch.Tensor | None,
        resolution: int,
        progress: ProgressHook | None,
        should_stop: StopHook | None,
    ) -> np.ndarray:
        self.require_implicit_decoder()
        decoder = self.networks.implicit
        resolution = check_surface_resolution(resolution)
        generator = self.networks.generator
        out = np.empty((len(z),) + (resolution,) * 3, dtype=np.float32)
        with torch.inference_mode():
            for index in range(len(z)):  # one at a time: a 256^3 grid is 64 MB
                one = slice(index, index + 1)
                hidden = generator.hidden(z[one], None if labels is None else labels[one])
                grid = decoder.occupancy(
                    decoder.project(hidden), generator.output(hidden), resolution, should_stop
                )
                out[index] = grid.float().cpu().numpy()
                if progress is not None:
                    progress((index + 1) / len(z), f"decoded {index + 1} of {len(z)} surfaces")
        return out

    # -- encoding ------------------------------------------------------------------------

    def preprocess(
        self,
        views: ImageSource | Sequence[ImageSource],
        box: Box | None = None,
        should_stop: StopHook | None = None,
    ) -> list[np.ndarray]:
        """The uint8 (S, S, 3) images the encoder sees for 1..MAX_VIEWS ``views``; ``box``
        (x, y, width, height in pixels) marks the object for GrabCut in every view (see
        :func:`gan3d_core.images.preprocess_image`). ``should_stop`` is asked before each
        view: a cluttered photo's GrabCut takes seconds."""
        if isinstance(views, (bytes, bytearray, memoryview)):  # a sequence of numbers
            raise UsageError(
                "views are paths, PIL images or uint8 arrays, not the bytes of a file: pass its "
                "path, or open it with PIL.Image.open(io.BytesIO(data))"
            )
        if isinstance(views, (str, os.PathLike, np.ndarray)) or hasattr(views, "getpixel"):
            views = [views]
        elif hasattr(views, "__array__"):  # a torch tensor, say: one image as an array
            views = [np.asarray(views)]
        elif isinstance(views, Iterable):  # a list, a tuple, a generator
            views = list(itertools.islice(views, MAX_VIEWS + 1))
        else:
            raise UsageError(
                "views are a path, a PIL image or a uint8 array, or a list of them; got "
                f"{type(views).__name__}"
            )
        if not 1 <= len(views) <= MAX_VIEWS:
            count = f"over {MAX_VIEWS}" if len(views) > MAX_VIEWS else "none"
            raise UsageError(f"one object takes 1 to {MAX_VIEWS} photos, got {count}")
        images = []
        for view in views:
            if should_stop is not None and should_stop():
                raise OperationCancelled("reconstruction cancelled")
            images.append(preprocess_image(view, self.config.image_size, box))
        return images

    def encode(
        self, views: ImageSource | Sequence[ImageSource], pool: str | None = None
    ) -> np.ndarray:
        """Latent (latent_dim,) of ONE object seen in 1..N views (paths, PIL images or arrays),
        as :meth:`reconstruct` finds it (a staged model fits it to the photos' outlines for
        its default steps; :meth:`reconstruct_latent` takes ``refine``).

        Per-view latent means are combined with ``pool`` (default: what the model was
        trained with; mean and max work for every model, lstm only if it was trained so).
        """
        return self.reconstruct_latent(views, pool).latent

    def _encode_images(self, images: list[np.ndarray], pool: str | None) -> np.ndarray:
        """The end-to-end families' encoder on preprocessed images, pooled."""
        images = images_to_array(images)  # (V, 3, S, S)
        with torch.inference_mode():
            batch = torch.from_numpy(images)[None].to(self.device)  # (1, V, 3, S, S)
            means, _log_variances = self.networks.encoder(batch)  # (1, V, L)
            latent = self.networks.encoder.pool(means, pool)  # (1, L)
        return latent[0].float().cpu().numpy()

    def best_label(self, latent: np.ndarray) -> int:
        """For a conditional model: the class the encoder predicts from the latent or, for
        models trained without that predictor, the class whose decoding the discriminators
        find most real; for the staged model, the class of the nearest training latent."""
        encoder = self.networks.encoder
        if encoder is not None and encoder.classifier is not None:
            with torch.inference_mode():
                return int(encoder.classify(self._latents_tensor(latent)).argmax())
        bank = getattr(self.networks, "bank", None)
        if bank is not None and len(bank.latents):
            with torch.inference_mode():
                return int(bank.nearest_labels(self._latents_tensor(latent))[0])
        candidates = np.repeat(
            self._latents_tensor(latent).cpu().numpy(), self.config.num_classes, 0
        )
        labels = np.arange(self.config.num_classes)
        shapes = self.decode(candidates, labels)  # (C, R, R, R)
        with torch.inference_mode():
            voxels = torch.from_numpy(shapes).to(self.device)
            scores = self.networks.realness(voxels, torch.from_numpy(labels).to(self.device))
        return int(scores.argmax())

    def reconstruct_latent(
        self,
        views: ImageSource | Sequence[ImageSource],
        pool: str | None = None,
        label: int | str | None = None,
        refine: int | None = None,
        progress: ProgressHook | None = None,
        should_stop: StopHook | None = None,
        box: Box | None = None,
    ) -> ReconstructedLatent:
        """The latent, class and cameras of ONE object seen in 1..N views: the one path that
        the app, the CLI, evaluation and :meth:`reconstruct` all take.

        Each view is preprocessed once (:meth:`preprocess`, with ``box`` for GrabCut).
        End-to-end families encode the
        views and pool their latents; conditional ones pick the class when not given. The
        staged model predicts latent, class and camera with its image head, then (``refine``
        steps, default from its model card; 0: off) fits the latent to the views'
        silhouettes starting from the best of that prediction and retrieved training shapes.
        """
        self.config.require_reconstruction(self.path)
        staged = getattr(self.networks, "image_head", None) is not None
        # the choices first: preparing the photos takes seconds (audit: 20 s, then refused)
        pools = ("mean", "max") if staged else ("mean", "max", "lstm")
        if pool is not None and pool not in pools:
            raise UsageError(f"this model pools views by {' or '.join(pools)}, got {pool!r}")
        steps = self._refine_steps(refine) if staged else 0
        if label is not None:
            label = self.label_index(label)
        if progress is not None:  # cutting out a large photo takes seconds
            progress(0.0, "separating the object from the background")
        images = self.preprocess(views, box, should_stop)
        if not staged:
            latent = self._encode_images(images, pool)
            if self.config.conditional and label is None:
                label = self.best_label(latent)
            return ReconstructedLatent(latent, label, images)
        return self._reconstruct_staged(images, pool, label, steps, progress, should_stop)

    def _refine_steps(self, refine: int | None) -> int:
        """Silhouette-fitting steps: ``refine``, or the model card's when None."""
        if refine is None:
            return refine_steps(self.card)
        if not isinstance(refine, (int, np.integer)) or isinstance(refine, bool):
            raise UsageError(f"refine must be a whole number of steps, got {refine!r}")
        if not 0 <= refine <= MAX_REFINE_STEPS:
            raise UsageError(f"refine must be 0 to {MAX_REFINE_STEPS} steps, got {refine}")
        return int(refine)

    def reconstruct(
        self,
        views: ImageSource | Sequence[ImageSource],
        pool: str | None = None,
        label: int | str | None = None,
        refine: int | None = None,
        progress: ProgressHook | None = None,
        should_stop: StopHook | None = None,
        box: Box | None = None,
        resolution: int | None = None,
    ) -> np.ndarray:
        """Occupancy (R, R, R) of ONE object from 1..N views (see :meth:`reconstruct_latent`).

        Conditional models decode with ``label``; without one, the model picks the class.
        ``resolution``: sample the implicit decoder on that grid instead (see :meth:`decode`).
        """
        result = self.reconstruct_latent(views, pool, label, refine, progress, should_stop, box)
        return self.decode(result.latent[None], labels=result.label, resolution=resolution)[0]

    def image_features(
        self, images: Sequence[np.ndarray], variants: Collection[str] | None = None
    ) -> dict[str, torch.Tensor]:
        """What the staged model's image heads read of preprocessed uint8 images, by
        backbone variant (the bank's, ``config.image_backbone``, and any other an ensemble
        member reads; only ``variants`` if given): features (V, 1280), or feature maps
        (V, 1280, h, w) for a spatial head."""
        batch = torch.from_numpy(images_to_array(list(images))).to(self.device)  # (V, 3, S, S)
        maps = self.networks.image_head.reads_maps
        with torch.inference_mode():
            return {
                variant: backbone.feature_map(batch) if maps else backbone(batch)
                for variant, backbone in self.networks.image_backbones().items()
                if variants is None or variant in variants
            }

    def _head_outputs(
        self, images: list[np.ndarray], features: dict[str, torch.Tensor], shift: float
    ) -> dict[str, torch.Tensor]:
        """The image head's outputs for each view; with ``shift`` > 0 (the card's
        ``framing_shift``), averaged with those of four copies of the view moved by that
        share of its side left, right, up and down: a mask a few pixels off moves the crop,
        and the head, which saw every object centred, reads a moved object differently."""
        head = self.networks.image_head
        with torch.inference_mode():
            outputs = head(features)
            if shift <= 0:
                return outputs
            moved = [
                reframed(image, 1.0, dx * shift, dy * shift)
                for image in images
                for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1))
            ]
            # the heads' own backbones only: when all are fine-tuned copies, the bank's
            # backbone reads the view once, for retrieval
            more = head(self.image_features(moved, self.config.head_backbones))
            return {
                key: (value + more[key].view(len(images), 4, -1).sum(1)) / 5
                for key, value in outputs.items()
            }

    def _reconstruct_staged(
        self,
        images: list[np.ndarray],
        pool: str | None,
        label: int | None,
        steps: int,
        progress: ProgressHook | None,
        should_stop: StopHook | None,
    ) -> ReconstructedLatent:
        from gan3d_core.fitting import FitSettings, fit_to_silhouettes
        from gan3d_core.models.latent import camera_angles
        from gan3d_core.projection import image_mask

        networks = self.networks
        inference = inference_settings(self.card)
        by_backbone = self.image_features(images)
        features = by_backbone[self.config.image_backbone]  # the bank's: (V, 1280)
        outputs = self._head_outputs(images, by_backbone, framing_shift(self.card))
        with torch.inference_mode():
            probabilities = torch.softmax(outputs["class_logits"], dim=1).mean(0)  # (C,)
            azimuths, elevations = camera_angles(outputs["camera"])  # (V,) each
        per_view = outputs["latent"]  # (V, L)
        latent = per_view.amax(0) if pool == "max" else per_view.mean(0)
        if self.config.conditional and label is None:
            label = int(probabilities.argmax())
        azimuths, elevations = azimuths.cpu().numpy(), elevations.cpu().numpy()
        if steps == 0:
            return ReconstructedLatent(
                latent.cpu().numpy(), label, images, azimuths, elevations,
                features=features.cpu().numpy(),
            )  # fmt: skip
        count = int(inference.get("retrieval_candidates", 4))
        bank = networks.bank
        with torch.inference_mode():
            shapes, cameras = bank.nearest_shapes(features, count, label)  # (K,), (K, V, 2)
        candidates = torch.cat([latent[None], bank.latents[shapes]]).cpu().numpy()
        candidate_azimuths = np.concatenate([azimuths[None], cameras[..., 0].cpu().numpy()])
        candidate_elevations = np.concatenate([elevations[None], cameras[..., 1].cpu().numpy()])
        labels = None if label is None else torch.tensor([label], device=self.device)
        generator = networks.generator

        def decoder(latents: torch.Tensor) -> torch.Tensor:
            batch_labels = None if labels is None else labels.expand(len(latents))
            logits = generator(latents.to(self.device), batch_labels)
            return torch.sigmoid(logits.float())[:, 0].cpu()  # (K, R, R, R)

        masks = np.stack([image_mask(image, FitSettings.mask_size) for image in images])
        fitted = fit_to_silhouettes(
            decoder,
            candidates,
            masks,
            candidate_azimuths,
            candidate_elevations,
            bank.prior_mean.cpu().numpy(),
            bank.prior_whitening.cpu().numpy(),
            FitSettings(steps=steps, **fit_overrides(inference)),
            progress,
            should_stop,
        )
        return ReconstructedLatent(
            fitted.latent, label, images, fitted.azimuths, fitted.elevations,
            fitted.silhouette_iou, features.cpu().numpy(),
        )  # fmt: skip

    # -- shapes -> latents ---------------------------------------------------------------

    def encode_shapes(
        self,
        voxels: np.ndarray,
        labels: Labels = None,
        steps: int | None = None,
        progress: ProgressHook | None = None,
        should_stop: StopHook | None = None,
        batch_size: int = 64,
    ) -> EncodedShapes:
        """Latents of 3D shapes (N, R, R, R) at the model's resolution, occupancy in [0, 1],
        in the model's axis order (z up), so that they can be edited, interpolated and
        decoded like any other: the shape encoder's latent, then ``steps`` (default
        :class:`~gan3d_core.fitting.VoxelFitSettings`'s; 0: the encoder alone) gradient
        steps that make its decoding match the shape. Staged models only. Conditional
        models decode with ``labels`` or, without them, the class of the training shape
        whose latent is nearest the encoder's (right for 88 % of the bundled model's
        held-out shapes; after fitting, they decode as closely as with the true class)."""
        from gan3d_core.fitting import VoxelFitSettings, fit_to_voxels

        self.require_shape_encoder()
        encoder = self.networks.shape_encoder
        voxels = np.asarray(voxels, np.float32)
        side = self.resolution
        if voxels.ndim != 4 or voxels.shape[1:] != (side, side, side):
            raise UsageError(
                f"shapes must be (N, {side}, {side}, {side}) at the model's resolution, "
                f"got {voxels.shape}"
            )
        batch_size = whole_number("batch_size", batch_size, 1)
        if steps is not None:
            steps = whole_number("steps", steps, 0)
        settings = VoxelFitSettings() if steps is None else VoxelFitSettings(steps=steps)
        if not np.isfinite(voxels).all():
            raise UsageError("shapes hold NaN or infinite values; occupancy is in [0, 1]")
        if voxels.min(initial=0) < 0 or voxels.max(initial=0) > 1:
            raise UsageError("shapes must hold occupancy in [0, 1]")
        given = None
        if labels is not None or not self.config.conditional:
            given = self._labels_tensor(labels, len(voxels))
        latents = np.empty((len(voxels), self.latent_dim), np.float32)
        classes = np.zeros(len(voxels), np.int64)
        generator = self.networks.generator
        bank = self.networks.bank  # its Gaussian keeps fitted latents near the training ones
        prior = (bank.prior_mean.float().cpu().numpy(), bank.prior_whitening.float().cpu().numpy())
        for start in range(0, len(voxels), batch_size):
            batch = slice(start, start + batch_size)
            shapes = voxels[batch]
            end = start + len(shapes)
            with torch.inference_mode():
                found = encoder(torch.from_numpy(shapes)[:, None].to(self.device)).float()
            batch_labels = given[batch] if given is not None else None
            if self.config.conditional and given is None:  # the nearest training latent's
                batch_labels = bank.nearest_labels(found)

            def decoder(z: torch.Tensor, batch_labels=batch_labels) -> torch.Tensor:
                return generator(z.to(self.device), batch_labels)[:, 0].float().cpu()

            def report(fraction: float, message: str, done=start, end=end) -> None:
                if len(voxels) > 1:
                    message = f"shapes {done + 1}-{end} of {len(voxels)}: {message}"
                progress((done + fraction * (end - done)) / len(voxels), message)

            latents[batch] = fit_to_voxels(
                decoder, found.cpu().numpy(), shapes, settings,
                report if progress is not None else None, should_stop, prior,
            )  # fmt: skip
            if batch_labels is not None:
                classes[batch] = batch_labels.cpu().numpy()
        labels = classes if self.config.conditional else None
        decoded = self.decode(latents, labels)
        return EncodedShapes(latents, labels, decoded, iou(decoded, voxels))

    # -- exploration ---------------------------------------------------------------------

    def latent_file_label(self, path: str | os.PathLike, latent: np.ndarray) -> int | None:
        """For a conditional model, the class to decode the latent file ``path`` (holding
        ``latent``) with: the one stored beside it (:mod:`gan3d_core.io.latent_files`),
        which must be one of this model's, else the one it reads in the latent
        (:meth:`best_label`)."""
        from gan3d_core.io.latent_files import latent_class_path, read_latent_class

        if not self.config.conditional:
            return None
        name = read_latent_class(path)
        if name is None:
            return self.best_label(latent)
        if name not in self.class_names:  # a latent of another model, most likely
            raise InputFileError(
                f"{latent_class_path(path)}: class {name!r} is not one of this model's "
                f"({', '.join(self.class_names)}); choose a class, or delete the file to let "
                "the model choose"
            )
        return self.class_names.index(name)

    def reads_better_other_up(
        self, grid: np.ndarray, path: str | os.PathLike
    ) -> tuple[str, float, float] | None:
        """For a shape read from the file at ``path`` by the up-axis rule
        (:func:`~gan3d_core.data.datasets.file_up_axis`), in our axes (R, R, R): whether the
        shape encoder reads it clearly better turned the other way up (its decoding's IoU
        with the shape :data:`UP_AXIS_MARGIN` higher), as when a ShapeNet file (y up) is
        read as z up. Returns (the other axis, IoU as read, IoU turned), or None.
        Held-out ModelNet shapes (z up) never gave such a reading (0 of 120); ShapeNet's
        chairs read as z up did for 6 of 11."""
        from gan3d_core.data.datasets import file_up_axis, turned_other_up

        up = file_up_axis(path)
        other = "y" if up == "z" else "z"
        pair = np.stack([grid, turned_other_up(grid, up, path)]).astype(np.float32)
        read, turned = self.encode_shapes(pair, steps=0).iou
        return (other, float(read), float(turned)) if turned > read + UP_AXIS_MARGIN else None

    def principal_directions(
        self, count: int = 10, method: str = "sefa", samples: int = 1024, seed: int = 0
    ) -> LatentDirections:
        """The ``count`` most influential latent directions, strongest first.

        ``sefa``: closed form from the first generator layer's weights (instant).
        ``pca``: PCA of first-layer features of ``samples`` random latents (GANSpace).
        """
        first_layer = self.networks.generator.layers[0]
        if method == "sefa":
            weight = first_layer.weight.detach().float().cpu().numpy()
            directions = sefa_directions(weight, min(count, self.latent_dim))
            bank = getattr(self.networks, "bank", None)
            if bank is not None and len(bank.latents) > 1:  # an autoencoder's latent space
                return directions.spread_over(bank.latents.float().cpu().numpy())
            return directions
        if method != "pca":
            raise UsageError(f"method must be sefa or pca, got {method!r}")
        if getattr(self.networks, "latent_sampler", None) is not None:
            raise UsageError("the staged model's directions come from sefa only")
        z = self.sample_latents(samples, seed=seed)
        first_block = self.networks.generator.layers[:3]  # ConvTranspose3d, BatchNorm, ReLU
        with torch.inference_mode():
            features = first_block(torch.from_numpy(z).to(self.device)[:, :, None, None, None])
        return pca_directions(
            z.astype(np.float64), features.flatten(1).double().cpu().numpy(), count
        )

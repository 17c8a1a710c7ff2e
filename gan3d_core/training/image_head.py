"""Stage 3 of the staged recipe: a head on EfficientNet-Lite0 features that predicts the
shape latent, the class and the camera of a view.

The backbone's features of every rendered view are computed once (:func:`backbone_features`)
and cached in the run folder, so the head trains in seconds per epoch on a CPU. Optionally
the backbone's last blocks train too (``head_tuned_blocks``): then the cache holds the
feature maps from below them, and only the top of the backbone runs in each step. Losses: the
latent's mean squared error (per dimension, in units of the latents' spread), cross-entropy
of the class and squared error of the camera's (sin, cos of azimuth, elevation / 90); with
``shape_weight``, also BCE + Dice of the predicted latent decoded by the frozen generator
against the true voxels: a latent error weighs every direction of the latent space alike,
the decoded shape weighs what thresholding keeps (thin legs, table tops).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gan3d_core.config import ModelConfig
from gan3d_core.errors import OperationCancelled
from gan3d_core.metrics import iou
from gan3d_core.models.backbone import BackboneTop, EfficientNetLite
from gan3d_core.models.latent import ImageHead, camera_angles, camera_targets, pooled
from gan3d_core.training.losses import reconstruction_loss
from gan3d_core.training.stages import TrainingStage, autocast, autocast_dtype

ProgressHook = Callable[[float, str], None]
StopHook = Callable[[], bool]


@torch.no_grad()
def backbone_features(
    backbone: EfficientNetLite,
    images: np.ndarray,
    batch_size: int = 64,
    progress: ProgressHook | None = None,
    should_stop: StopHook | None = None,
    blocks: int | None = None,
    maps: bool = False,
) -> np.ndarray:
    """Features float32 (M, 1280) of uint8 images (M, S, S, 3), in eval mode; with
    ``blocks``, the feature maps after that many blocks instead, as float16 (M, C, h, w)
    (what a :class:`BackboneTop` trains on); with ``maps``, the backbone's own feature maps
    before pooling, float16 (M, 1280, h, w) (what a spatial head reads)."""
    backbone.eval()
    out = None
    for start in range(0, len(images), batch_size):
        if should_stop is not None and should_stop():
            raise OperationCancelled("feature extraction cancelled")
        batch = np.asarray(images[start : start + batch_size], np.float32) / 255.0
        tensor = torch.from_numpy(batch).permute(0, 3, 1, 2)  # (B, 3, S, S)
        if blocks is not None:
            result = backbone.activations(tensor, blocks).half().numpy()
        elif maps:
            result = backbone.feature_map(tensor).half().numpy()
        else:
            result = backbone(tensor).numpy()
        if out is None:
            out = np.empty((len(images), *result.shape[1:]), result.dtype)
        out[start : start + len(batch)] = result
        if progress is not None:
            done = start + len(batch)
            progress(done / len(images), f"image features of {done} of {len(images)} views")
    return out


class ImageHeadStage(TrainingStage):
    """Trains ``image_head`` on cached features, and with ``backbone_top`` the backbone's
    last blocks too, on cached feature maps from below them.

    train: inputs (N * V, 1280) features, or (N * V, C, h, w) feature maps with
    ``backbone_top``; latents (N, L), labels (N,), cameras (N * V, 2) in degrees, V views
    per shape in order; validation likewise, plus the true voxels for an IoU of the
    decoded prediction through ``decode(latents, labels)``. ``shape_loss`` (the frozen
    generator, the training voxels (N, R, R, R) and a weight) adds the decoded-shape term,
    on the first ``shape_batch`` views of each batch (decoding is the step's dearest part);
    with ``shape_views`` > 1, on the mean latent of 1..shape_views views of each shape.
    """

    name = "image_head"

    def __init__(
        self,
        config: ModelConfig,
        train: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        validation: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        decode: Callable[[np.ndarray, np.ndarray], np.ndarray],
        batch_size: int = 256,
        learning_rate: float = 1e-3,
        seed: int = 0,
        backbone_top: BackboneTop | None = None,
        backbone_learning_rate: float = 1e-4,
        precision: str = "auto",
        shape_loss: tuple[nn.Module, np.ndarray, float] | None = None,
        shape_batch: int = 32,
        shape_views: int = 1,
    ) -> None:
        super().__init__()
        self.config = config
        inputs, latents, labels, cameras = train
        self.views_per_shape = len(inputs) // len(latents)
        # feature maps stay float16 in memory (a few hundred MB); batches become float32
        self.inputs = torch.from_numpy(np.asarray(inputs))
        self.latent_mean = torch.from_numpy(latents.mean(0).astype(np.float32))
        self.latent_scale = torch.from_numpy(latents.std(0).astype(np.float32) + 1e-6)
        self.latents = torch.from_numpy(np.asarray(latents, np.float32))
        self.labels = torch.from_numpy(np.asarray(labels, np.int64))
        self.cameras = camera_targets(*torch.from_numpy(np.asarray(cameras, np.float32)).T)
        self.validation = validation
        self.decode = decode
        self.batch_size = batch_size
        self.seed = seed
        torch.manual_seed(seed)
        self.head = ImageHead(config)
        self.backbone_top = backbone_top
        self.autocast_dtype = autocast_dtype(precision, torch.device("cpu"))
        self.shape_decoder, self.shape_voxels, self.shape_weight = shape_loss or (None, None, 0.0)
        self.shape_batch, self.shape_views = shape_batch, shape_views
        if self.shape_decoder is not None:
            self.shape_decoder.eval().requires_grad_(False)  # frozen: the latent space stays put
        self.optimizers = {"head": torch.optim.AdamW(self.head.parameters(), learning_rate)}
        self.base_rates = {"head": learning_rate}
        if backbone_top is not None:
            parameters = backbone_top.parameters()
            self.optimizers["backbone"] = torch.optim.AdamW(parameters, backbone_learning_rate)
            self.base_rates["backbone"] = backbone_learning_rate

    @property
    def modules(self) -> nn.Module:
        modules = {"image_head": self.head}
        if self.backbone_top is not None:
            modules["backbone_top"] = self.backbone_top
        return nn.ModuleDict(modules)

    def features(self, inputs: torch.Tensor) -> torch.Tensor:
        """What the head reads for a batch of the stage's inputs: the backbone's feature maps
        (B, 1280, h, w) for a spatial head, else pooled features (B, 1280)."""
        if self.backbone_top is None:
            features = inputs.float()
        else:
            with autocast("cpu", self.autocast_dtype):
                features = self.backbone_top(inputs.float()).float()
        return features if self.head.reads_maps else pooled(features)

    @torch.no_grad()
    def _evaluated(self, inputs: np.ndarray, function, batch_size: int = 256) -> np.ndarray:
        """``function(features)`` over inputs (M, ...) in batches, in eval mode."""
        self.modules.eval()
        return np.concatenate([
            function(self.features(torch.from_numpy(np.asarray(inputs[start : start + batch_size]))))
            .numpy()
            for start in range(0, len(inputs), batch_size)
        ])  # fmt: skip

    def pooled_features(self, inputs: np.ndarray) -> np.ndarray:
        """Pooled features float32 (M, 1280) of inputs (M, ...) (e.g. for the bank)."""
        return self._evaluated(inputs, pooled)

    def losses(self, outputs: dict[str, torch.Tensor], shapes: torch.Tensor, views: torch.Tensor):
        latent_error = (outputs["latent"] - self.latents[shapes]) / self.latent_scale
        return {
            "latent": latent_error.pow(2).mean(),
            "class": F.cross_entropy(outputs["class_logits"], self.labels[shapes]),
            "camera": F.mse_loss(outputs["camera"], self.cameras[views]),
        }

    def pooled_view_latents(
        self, latents: torch.Tensor, shapes: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        """The mean of each latent (B, L) and those of k - 1 more random views of its shape,
        k drawn in 1..``shape_views`` per step: what multi-view reconstruction decodes."""
        count = int(torch.randint(self.shape_views, (1,), generator=generator)) + 1
        if count == 1:
            return latents
        offsets = torch.randint(self.views_per_shape, (len(shapes), count - 1), generator=generator)
        others = (shapes[:, None] * self.views_per_shape + offsets).flatten()
        other_latents = self.head(self.features(self.inputs[others]))["latent"]
        return (latents + other_latents.view(len(shapes), count - 1, -1).sum(1)) / count

    def decoded_shape_loss(self, latents: torch.Tensor, shapes: torch.Tensor) -> torch.Tensor:
        """BCE + Dice of predicted latents (B, L), decoded, against the true voxels of their
        shapes (B,)."""
        labels = self.labels[shapes] if self.config.conditional else None
        with autocast("cpu", self.autocast_dtype):
            logits = self.shape_decoder(latents, labels)
        voxels = self.shape_voxels[shapes.numpy()]
        target = torch.from_numpy(np.asarray(voxels, np.float32))[:, None]
        return reconstruction_loss(logits, target, "bce_dice")

    def train_step(self, step: int) -> dict[str, float]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        torch.manual_seed(self.seed * 7_919 + step)  # dropout draws from the global generator
        views = torch.randint(len(self.inputs), (self.batch_size,), generator=generator)
        shapes = views // self.views_per_shape
        outputs = self.head(self.features(self.inputs[views]))
        losses = self.losses(outputs, shapes, views)
        total = losses["latent"] + losses["class"] + losses["camera"]
        if self.shape_decoder is not None:
            chosen = shapes[: self.shape_batch]
            latents = self.pooled_view_latents(
                outputs["latent"][: self.shape_batch], chosen, generator
            )
            losses["shape"] = self.decoded_shape_loss(latents, chosen)
            total = total + self.shape_weight * losses["shape"]
        for optimizer in self.optimizers.values():
            optimizer.zero_grad(set_to_none=True)
        total.backward()
        for optimizer in self.optimizers.values():
            optimizer.step()
        return {name: value.item() for name, value in losses.items()}

    def predict(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        outputs = self._evaluated(
            inputs,
            lambda features: torch.cat(
                [self.head(features)[key] for key in ("latent", "class_logits", "camera")], 1
            ),
        )
        latent_dim = self.config.latent_dim
        latent, logits = outputs[:, :latent_dim], outputs[:, latent_dim:-3]
        azimuth, elevation = camera_angles(torch.from_numpy(outputs[:, -3:]))
        return {
            "latent": latent,
            "label": logits.argmax(1),
            "azimuth": azimuth.numpy(),
            "elevation": elevation.numpy(),
        }

    def validate(self) -> dict[str, float]:
        inputs, latents, labels, cameras, voxels = self.validation
        views = len(inputs) // len(latents)
        first = np.arange(len(latents)) * views  # one view per shape
        predicted = self.predict(inputs[first])
        azimuth_error = np.abs((predicted["azimuth"] - cameras[first, 0] + 180) % 360 - 180)
        latent_error = ((predicted["latent"] - latents) / self.latent_scale.numpy()) ** 2
        shapes = self.decode(predicted["latent"], predicted["label"])
        overlap = iou(shapes, voxels.astype(np.float32))
        return {
            "score": float(np.mean(overlap)),
            "iou_1view": float(np.mean(overlap)),
            "class_accuracy": float(np.mean(predicted["label"] == labels)),
            "latent_error": float(latent_error.mean()),
            "azimuth_error_median": float(np.median(azimuth_error)),
            "elevation_error_median": float(
                np.median(np.abs(predicted["elevation"] - cameras[first, 1]))
            ),
        }

"""Optional stage after the image head: fine-tune the whole backbone with the head, on the
rendered views themselves rather than cached features.

The head stage reads a frozen ImageNet backbone; here every layer of a copy of it trains
with the head (batch norm keeps ImageNet's statistics), from the head stage's result. The
copy becomes the head's own backbone (``lite0_tuned``): the bank keeps reading the frozen
one. Losses as the head stage's (latent error in units of the latents' spread, class,
camera) plus BCE + Dice of the decoded mean latent of 1..V views of each shape, all V views
of a shape in the same batch. Each view is reframed by a random zoom and shift first. A step
reads 64 shapes x V views through the whole backbone: on a GPU (an H200: 0.14 s a step),
dear on a CPU.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gan3d_core.config import ModelConfig
from gan3d_core.metrics import iou
from gan3d_core.models.backbone import EfficientNetLite
from gan3d_core.models.latent import ImageHead, camera_targets
from gan3d_core.training.losses import reconstruction_loss
from gan3d_core.training.stages import TrainingStage, autocast, autocast_dtype


def reframe_draws(count: int, jitter: float, generator: torch.Generator) -> torch.Tensor:
    """Random (zoom - 1, shift x, shift y) (count, 3), each in [-jitter, jitter]."""
    return (torch.rand(count, 3, generator=generator) * 2 - 1) * jitter


def reframed_batch(images: torch.Tensor, draws: torch.Tensor) -> torch.Tensor:
    """Images (B, 3, S, S) in [0, 1], each scaled about its centre by 1 + draws[:, 0] and
    moved by draws[:, 1:] of its side (right, down), on white: the tensor counterpart of
    :func:`gan3d_core.images.reframed`."""
    draws = draws.to(images.device)
    zoom = 1.0 + draws[:, 0]
    theta = torch.zeros(len(images), 2, 3, device=images.device)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0 / zoom
    theta[:, 0, 2] = -2.0 * draws[:, 1] / zoom  # output x reads input x - shift
    theta[:, 1, 2] = -2.0 * draws[:, 2] / zoom
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    # sampled as the offset from white, so what comes in from outside the view is white
    return F.grid_sample(images - 1.0, grid, padding_mode="zeros", align_corners=False) + 1.0


class ImageFinetuneStage(TrainingStage):
    """Trains ``backbone`` (a copy, all layers) and ``head`` (from the head stage) on views.

    train: images uint8 (N * V, S, S, 3), V views per shape in order; latents (N, L),
    labels (N,), cameras (N * V, 2) in degrees, voxels (N, R, R, R). validation: images
    (M, S, S, 3), one view per shape, latents (M, L), labels (M,), voxels (M, R, R, R).
    ``generator``: the frozen decoder, for the decoded-shape term and the validation IoU.
    """

    name = "image_finetune"

    def __init__(
        self,
        config: ModelConfig,
        backbone: EfficientNetLite,
        head: ImageHead,
        generator: nn.Module,
        train: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        validation: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        shapes_per_step: int = 64,
        images_per_pass: int | None = None,
        learning_rate: float = 3e-4,
        backbone_learning_rate: float = 2e-4,
        jitter: float = 0.03,
        drop_path: float = 0.0,
        label_smoothing: float = 0.0,
        shape_weight: float = 1.0,
        seed: int = 0,
        device: torch.device | str = "cpu",
        precision: str = "auto",
    ) -> None:
        super().__init__()
        self.config = config
        self.device = torch.device(device)
        images, latents, labels, cameras, self.train_voxels = train
        self.images = images
        self.views = len(images) // len(latents)
        self.latents = torch.from_numpy(np.asarray(latents, np.float32)).to(self.device)
        self.latent_scale = self.latents.std(0) + 1e-6
        self.labels = torch.from_numpy(np.asarray(labels, np.int64)).to(self.device)
        azimuth, elevation = torch.from_numpy(np.asarray(cameras, np.float32)).T
        self.cameras = camera_targets(azimuth, elevation).to(self.device)
        self.validation = validation
        # channels-last: the layout GPUs' convolution kernels read fastest
        self.memory_format = (
            torch.channels_last if self.device.type == "cuda" else torch.contiguous_format
        )
        self.backbone = backbone.to(self.device, memory_format=self.memory_format)
        self.backbone.set_drop_path(drop_path)
        self.label_smoothing = label_smoothing
        self.head = head.to(self.device)
        self.generator = generator.to(self.device).eval().requires_grad_(False)
        self.shapes_per_step = min(shapes_per_step, len(latents))
        # views through the backbone at once: a CPU holds a few dozen 224 px views'
        # activations for the backward pass, not 256 (about 20 GB); the gradients are one
        # pass's (with stochastic depth, the blocks skipped are drawn pass by pass)
        self.images_per_pass = images_per_pass or (1 << 16 if self.device.type == "cuda" else 32)
        self.jitter, self.shape_weight, self.seed = jitter, shape_weight, seed
        self.autocast_dtype = autocast_dtype(precision, self.device)
        self.optimizers = {
            "head": torch.optim.AdamW(self.head.parameters(), learning_rate, weight_decay=1e-2),
            "backbone": torch.optim.AdamW(
                self.backbone.parameters(), backbone_learning_rate, weight_decay=1e-4
            ),
        }
        self.base_rates = {"head": learning_rate, "backbone": backbone_learning_rate}

    @property
    def modules(self) -> nn.Module:
        return nn.ModuleDict({"backbone": self.backbone, "head": self.head})

    def _train_mode(self) -> None:
        self.modules.train()
        for module in self.backbone.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eval()  # ImageNet's statistics: the renders are too alike to re-estimate

    def outputs(self, images: np.ndarray, draws: torch.Tensor | None = None):
        """The head's outputs for uint8 views (B, S, S, 3); reframed by ``draws`` (B, 3)
        (:func:`reframe_draws`) in training."""
        batch = torch.from_numpy(np.array(images)).to(self.device).permute(0, 3, 1, 2)  # a copy
        batch = batch.float() / 255.0
        if draws is not None:
            batch = reframed_batch(batch, draws)
        with autocast(self.device, self.autocast_dtype):
            maps = self.backbone.feature_map(batch.contiguous(memory_format=self.memory_format))
        return self.head(maps.float())

    def train_step(self, step: int) -> dict[str, float]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        torch.manual_seed(self.seed * 7_919 + step)  # the head's dropout, stochastic depth
        self._train_mode()
        views = self.views
        # shapes in order, so their views are rows in order (memory-mapped reads)
        shapes = torch.randperm(len(self.latents), generator=generator)[: self.shapes_per_step]
        shapes = shapes.sort().values
        draws = reframe_draws(len(shapes) * views, self.jitter, generator).view(-1, views, 3)
        # the decoded mean latent of each shape's first k views, k in 1..V, as multi-view
        # reconstruction pools them
        pooled_count = int(torch.randint(views, (1,), generator=generator)) + 1
        for optimizer in self.optimizers.values():
            optimizer.zero_grad(set_to_none=True)
        logs: dict[str, float] = {}
        chunk = max(1, self.images_per_pass // views)  # shapes per pass: memory, not math
        for start in range(0, len(shapes), chunk):
            part = slice(start, start + chunk)
            losses = self._losses(shapes[part], draws[part].flatten(0, 1), pooled_count)
            share = len(shapes[part]) / len(shapes)  # gradients and logs: the batch's means
            total = losses["latent"] + losses["class"] + losses["camera"]
            (share * (total + self.shape_weight * losses["shape"])).backward()
            for name, value in losses.items():
                logs[name] = logs.get(name, 0.0) + share * value.item()
        for optimizer in self.optimizers.values():
            optimizer.step()
        return logs

    def _losses(
        self, shapes: torch.Tensor, draws: torch.Tensor, pooled_count: int
    ) -> dict[str, torch.Tensor]:
        """The stage's losses on all views of ``shapes`` (B,), reframed by ``draws``."""
        views = self.views
        rows = (shapes[:, None] * views + torch.arange(views)).flatten()
        out = self.outputs(self.images[rows.numpy()], draws)
        of_view = (rows // views).to(self.device)
        latent_error = (out["latent"].float() - self.latents[of_view]) / self.latent_scale
        pooled = out["latent"].float().view(-1, views, self.config.latent_dim)[:, :pooled_count]
        labels = self.labels[shapes.to(self.device)] if self.config.conditional else None
        with autocast(self.device, self.autocast_dtype):
            logits = self.generator(pooled.mean(1), labels)
        voxels = torch.from_numpy(np.asarray(self.train_voxels[shapes.numpy()], np.float32))
        return {
            "latent": latent_error.pow(2).mean(),
            "class": F.cross_entropy(
                out["class_logits"].float(),
                self.labels[of_view],
                label_smoothing=self.label_smoothing,
            ),
            "camera": F.mse_loss(out["camera"].float(), self.cameras[rows.to(self.device)]),
            "shape": reconstruction_loss(
                logits.float(), voxels.to(self.device)[:, None], "bce_dice"
            ),
        }

    @torch.no_grad()
    def predict(self, images: np.ndarray, batch_size: int = 64) -> dict[str, torch.Tensor]:
        self.modules.eval()
        outputs = [self.outputs(images[start : start + batch_size]) for start in
                   range(0, len(images), batch_size)]  # fmt: skip
        return {key: torch.cat([out[key].float() for out in outputs]) for key in outputs[0]}

    def validate(self) -> dict[str, float]:
        images, latents, labels, voxels = self.validation
        predicted = self.predict(images)
        guess = predicted["class_logits"].argmax(1)
        with torch.no_grad():
            logits = self.generator(predicted["latent"], guess if self.config.conditional else None)
        shapes = torch.sigmoid(logits.float())[:, 0].cpu().numpy()
        overlap = iou(shapes, np.asarray(voxels, np.float32))
        error = (predicted["latent"].cpu() - torch.from_numpy(latents)) / self.latent_scale.cpu()
        return {
            "score": float(np.mean(overlap)),
            "iou_1view": float(np.mean(overlap)),
            "class_accuracy": float(np.mean(guess.cpu().numpy() == labels)),
            "latent_error": float(error.pow(2).mean()),
        }

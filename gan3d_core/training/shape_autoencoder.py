"""Stage 1 of the staged recipe: a shape autoencoder (3D encoder -> 3D-GAN generator).

Loss: BCE plus V-Net's soft Dice loss (Milletari et al. 2016), the one the end-to-end
trainer's ``--recon-loss bce_dice`` uses (:mod:`gan3d_core.training.losses`). Shapes are
mirrored across their class's plane of symmetry (found from the class's mean shape) as
augmentation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gan3d_core.config import ModelConfig
from gan3d_core.metrics import iou
from gan3d_core.models.generator import VoxelGenerator
from gan3d_core.models.shape_encoder import ShapeEncoder
from gan3d_core.training.losses import dice_loss
from gan3d_core.training.stages import (
    TrainingStage,
    autocast,
    autocast_dtype,
    recalibrate_batchnorm,
)

# A class is mirrored across an axis when its mean shape overlaps its mirror image this much.
SYMMETRY_THRESHOLD = 0.9


def symmetry_axes(voxels: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Per class, the horizontal axis (0: x, 1: y) its shapes are mirror-symmetric across,
    or -1: the one whose flip overlaps the class's mean shape most, if it is above
    :data:`SYMMETRY_THRESHOLD` (soft IoU of the mean occupancy and its mirror image)."""
    axes = np.full(num_classes, -1, np.int64)
    for label in range(num_classes):
        members = voxels[labels == label]
        if len(members) == 0:
            continue
        mean = members.mean(axis=0, dtype=np.float64)
        scores = [
            np.minimum(mean, np.flip(mean, axis)).sum()
            / np.maximum(mean, np.flip(mean, axis)).sum()
            for axis in (0, 1)
        ]
        if max(scores) >= SYMMETRY_THRESHOLD:
            axes[label] = int(np.argmax(scores))
    return axes


class ShapeAutoencoderStage(TrainingStage):
    """Trains ``shape_encoder`` and ``generator`` (names as in the packed checkpoint)."""

    name = "autoencoder"

    def __init__(
        self,
        config: ModelConfig,
        train: tuple[np.ndarray, np.ndarray],
        validation: tuple[np.ndarray, np.ndarray],
        batch_size: int = 32,
        learning_rate: float = 1e-3,
        dice_weight: float = 1.0,
        seed: int = 0,
        device: torch.device | str = "cpu",
        precision: str = "auto",
        latent_noise: float = 0.0,
        class_names: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.class_names = list(class_names)  # the per-class validation figures' names
        self.config = config
        self.device = torch.device(device)
        self.autocast_dtype = autocast_dtype(precision, self.device)
        self.train_voxels, self.train_labels = train
        self.validation_voxels, self.validation_labels = validation
        self.batch_size = batch_size
        self.dice_weight = dice_weight
        self.latent_noise = latent_noise
        self.seed = seed
        self.steps_per_epoch = max(1, len(self.train_voxels) // batch_size)
        self.mirror_axes = symmetry_axes(
            self.train_voxels, self.train_labels, max(1, config.num_classes)
        )
        torch.manual_seed(seed)
        self.networks = nn.ModuleDict(
            {"generator": VoxelGenerator(config), "shape_encoder": ShapeEncoder(config)}
        ).to(self.device)
        # oneDNN's 3D convolutions train faster on channels-last tensors (benchmarks/).
        self.networks.to(memory_format=torch.channels_last_3d)
        self.optimizers = {
            "autoencoder": torch.optim.Adam(self.networks.parameters(), learning_rate, (0.9, 0.999))
        }
        self.base_rates = {"autoencoder": learning_rate}

    @property
    def modules(self) -> nn.Module:
        return self.networks

    def _labels(self, labels: np.ndarray) -> torch.Tensor | None:
        if not self.config.conditional:
            return None
        return torch.from_numpy(np.asarray(labels, np.int64)).to(self.device)

    def _voxels(self, voxels: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(np.asarray(voxels, np.float32))[:, None]  # (B, 1, R, R, R)
        return tensor.to(self.device).contiguous(memory_format=torch.channels_last_3d)

    def batch_indices(self, step: int) -> np.ndarray:
        """The shapes of ``step``: an epoch-seeded permutation, so resumes are exact."""
        epoch, index = divmod(step, self.steps_per_epoch)
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.train_voxels))
        return np.sort(order[index * self.batch_size : (index + 1) * self.batch_size])

    def augmented_batch(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        indices = self.batch_indices(step)
        voxels = self.train_voxels[indices].copy()
        labels = self.train_labels[indices]
        flips = np.random.default_rng([self.seed, step, 1]).random(len(indices)) < 0.5
        for k in np.flatnonzero(flips):
            axis = self.mirror_axes[labels[k]] if self.config.conditional else -1
            if axis >= 0:
                voxels[k] = np.flip(voxels[k], axis)
        return voxels, labels

    def reconstruction_logits(
        self, voxels: torch.Tensor, labels: torch.Tensor | None, noise: torch.Tensor | None = None
    ):
        """Decoded logits (B, 1, R, R, R) and latents (B, L); ``noise`` (B, L), in units of
        each latent dimension's spread in the batch, is added before decoding."""
        latents = self.networks["shape_encoder"](voxels)
        decoded = latents
        if noise is not None:
            decoded = latents + noise * latents.detach().std(0, keepdim=True)
        return self.networks["generator"](decoded, labels), latents

    def train_step(self, step: int) -> dict[str, float]:
        voxels, labels = self.augmented_batch(step)
        target = self._voxels(voxels)
        noise = None
        if self.latent_noise > 0:  # a smoother latent space, easier to predict from images
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
            shape = (len(voxels), self.config.latent_dim)
            noise = (self.latent_noise * torch.randn(shape, generator=generator)).to(self.device)
        with autocast(self.device, self.autocast_dtype):
            logits, latents = self.reconstruction_logits(target, self._labels(labels), noise)
        logits = logits.float()
        bce = F.binary_cross_entropy_with_logits(logits, target)
        dice = dice_loss(torch.sigmoid(logits), target)
        loss = bce + self.dice_weight * dice
        optimizer = self.optimizers["autoencoder"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            train_iou = iou(torch.sigmoid(logits)[:, 0].cpu().numpy(), voxels.astype(np.float32))
        return {
            "bce": bce.item(),
            "dice": dice.item(),
            "train_iou": float(np.mean(train_iou)),
            "latent_rms": latents.detach().pow(2).mean().sqrt().item(),
        }

    def recalibrate(self, batches: int = 8) -> None:
        def forward(step: int):
            voxels, labels = self.augmented_batch(step)
            return lambda: self.reconstruction_logits(self._voxels(voxels), self._labels(labels))

        recalibrate_batchnorm(self.networks, [forward(step) for step in range(batches)])
        self.networks.eval()

    def encode(self, voxels: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Latents float32 (N, L) of shapes (N, R, R, R), in eval mode."""
        encoder = self.networks["shape_encoder"].eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(voxels), batch_size):
                out.append(encoder(self._voxels(voxels[start : start + batch_size])).cpu())
        return torch.cat(out).numpy()

    def decode(self, latents: np.ndarray, labels: np.ndarray, batch_size: int = 64) -> np.ndarray:
        generator = self.networks["generator"].eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(latents), batch_size):
                z = torch.from_numpy(latents[start : start + batch_size]).to(self.device)
                logits = generator(z, self._labels(labels[start : start + batch_size]))
                out.append(torch.sigmoid(logits.float())[:, 0].cpu())
        return torch.cat(out).numpy()

    def validate(self) -> dict[str, float]:
        self.recalibrate()
        voxels, labels = self.validation_voxels, self.validation_labels
        predictions = self.decode(self.encode(voxels), labels)
        values = iou(predictions, voxels.astype(np.float32))
        result = {"score": float(np.mean(values)), "iou": float(np.mean(values))}
        for label in np.unique(labels):  # by name, as a log reader looks for them
            name = self.class_names[label] if label < len(self.class_names) else str(label)
            result[f"iou_class_{name}"] = float(np.mean(values[labels == label]))
        return result

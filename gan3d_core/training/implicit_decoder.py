"""Optional stage of the staged recipe: the implicit decoder
(:class:`~gan3d_core.models.implicit.ImplicitDecoder`), on the frozen shape autoencoder.

Each step takes a batch of training shapes, their autoencoder latents and the generator's
features of them, and points: half uniform in the grid's box, half near the shape's surface
(occupied voxels with an empty neighbour, moved by a Gaussian of
:data:`NEAR_SURFACE_SIGMA` voxels). A point's label is the grid interpolated trilinearly at
it, thresholded at 0.5: the surface marching cubes draws through the grid. Loss: BCE. The
validation figure is the IoU of held-out shapes at the training resolution (the decoder at
the voxel centres), beside the voxel decoder's IoU of the same latents.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gan3d_core.config import ModelConfig
from gan3d_core.metrics import iou
from gan3d_core.models.generator import VoxelGenerator
from gan3d_core.models.implicit import ImplicitDecoder, sample_grid
from gan3d_core.training.stages import TrainingStage

POINTS_PER_SHAPE = 2048
NEAR_SURFACE_SIGMA = 1.0  # voxels


def surface_voxels(grid: np.ndarray) -> np.ndarray:
    """Indices (K, 3) of the occupied voxels of ``grid`` (R, R, R) with an empty face
    neighbour; the outside of the grid counts as empty."""
    occupied = np.pad(grid > 0.5, 1)
    inner = occupied.copy()
    for axis in range(3):
        for shift in (-1, 1):
            inner &= np.roll(occupied, shift, axis)  # wraps onto the empty padding
    return np.argwhere((occupied & ~inner)[1:-1, 1:-1, 1:-1])


def training_points(grid: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` points float32 (count, 3) in [-1, 1]: half uniform in the box, half near
    the surface of ``grid`` (R, R, R) (uniform too for an empty grid)."""
    side = grid.shape[0]
    uniform = rng.uniform(-1.0, 1.0, (count // 2, 3))
    near = count - len(uniform)
    surface = surface_voxels(grid)
    if len(surface) == 0:
        near_points = rng.uniform(-1.0, 1.0, (near, 3))
    else:
        voxels = surface[rng.integers(len(surface), size=near)]
        voxels = voxels + rng.normal(0.0, NEAR_SURFACE_SIGMA, (near, 3))
        near_points = (2 * voxels + 1) / side - 1  # voxel units -> the box
    return np.clip(np.concatenate([uniform, near_points]), -1.0, 1.0).astype(np.float32)


class ImplicitDecoderStage(TrainingStage):
    """Trains ``implicit`` (the name in the packed checkpoint) on a copy of ``generator``,
    frozen; ``train`` and ``validation`` are (voxels (N, R, R, R), labels (N,), latents
    (N, L)) with the autoencoder's latents of the shapes."""

    name = "implicit"

    def __init__(
        self,
        config: ModelConfig,
        generator: VoxelGenerator,
        train: tuple[np.ndarray, np.ndarray, np.ndarray],
        validation: tuple[np.ndarray, np.ndarray, np.ndarray],
        batch_size: int = 32,
        learning_rate: float = 1e-3,
        seed: int = 0,
        device: torch.device | str = "cpu",
    ) -> None:
        super().__init__()
        self.config = config
        self.device = torch.device(device)
        self.generator = copy.deepcopy(generator).to(self.device).eval().requires_grad_(False)
        self.train_voxels, self.train_labels, self.train_latents = train
        self.validation_voxels, self.validation_labels, self.validation_latents = validation
        self.batch_size = batch_size
        self.seed = seed
        self.steps_per_epoch = max(1, len(self.train_voxels) // batch_size)
        torch.manual_seed(seed)
        self.networks = nn.ModuleDict({"implicit": ImplicitDecoder(config)}).to(self.device)
        self.optimizers = {"implicit": torch.optim.Adam(self.networks.parameters(), learning_rate)}
        self.base_rates = {"implicit": learning_rate}

    @property
    def modules(self) -> nn.Module:
        return self.networks

    @torch.no_grad()
    def generator_outputs(
        self, latents: np.ndarray, labels: np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The generator's last hidden features (B, C, S, S, S) and logits (B, 1, R, R, R)."""
        z = torch.from_numpy(np.asarray(latents, np.float32)).to(self.device)
        label_tensor = None
        if self.config.conditional:
            label_tensor = torch.from_numpy(np.asarray(labels, np.int64)).to(self.device)
        hidden = self.generator.hidden(z, label_tensor)
        return hidden, self.generator.output(hidden)

    def batch_indices(self, step: int) -> np.ndarray:
        """The shapes of ``step``: an epoch-seeded permutation, so resumes are exact."""
        epoch, index = divmod(step, self.steps_per_epoch)
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.train_voxels))
        return np.sort(order[index * self.batch_size : (index + 1) * self.batch_size])

    def train_step(self, step: int) -> dict[str, float]:
        indices = self.batch_indices(step)
        rng = np.random.default_rng([self.seed, step])
        grids = self.train_voxels[indices]
        points = torch.from_numpy(
            np.stack([training_points(grid, POINTS_PER_SHAPE, rng) for grid in grids])
        ).to(self.device)  # (B, P, 3)
        voxels = torch.from_numpy(grids.astype(np.float32))[:, None].to(self.device)
        # the grid's outside is empty, as marching cubes pads it
        target = (sample_grid(voxels, points, "zeros")[:, 0] > 0.5).float()  # (B, P)
        hidden, logits = self.generator_outputs(
            self.train_latents[indices], self.train_labels[indices]
        )
        predicted = self.networks["implicit"](hidden, logits, points)  # (B, P)
        loss = F.binary_cross_entropy_with_logits(predicted, target)
        optimizer = self.optimizers["implicit"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        accuracy = ((predicted > 0) == (target > 0.5)).float().mean()
        return {"bce": loss.item(), "point_accuracy": accuracy.item()}

    def decode(
        self, latents: np.ndarray, labels: np.ndarray, resolution: int, batch_size: int = 16
    ) -> tuple[np.ndarray, np.ndarray]:
        """Occupancy of the implicit decoder (N, r, r, r) at ``resolution`` and of the
        voxel decoder (N, R, R, R), as the packed model decodes them."""
        decoder = self.networks["implicit"].eval()
        implicit, voxel = [], []
        for start in range(0, len(latents), batch_size):
            stop = start + batch_size
            hidden, logits = self.generator_outputs(latents[start:stop], labels[start:stop])
            with torch.no_grad():
                projected = decoder.project(hidden)
            for index in range(len(hidden)):
                one = slice(index, index + 1)
                grid = decoder.occupancy(projected[one], logits[one], resolution)
                implicit.append(grid.cpu().numpy())
            voxel.append(torch.sigmoid(logits)[:, 0].cpu().numpy())
        return np.stack(implicit), np.concatenate(voxel)

    def validate(self) -> dict[str, float]:
        voxels = self.validation_voxels.astype(np.float32)
        implicit, voxel = self.decode(
            self.validation_latents, self.validation_labels, voxels.shape[-1]
        )
        value = float(np.mean(iou(implicit, voxels)))
        return {
            "score": value,
            "iou": value,
            "voxel_decoder_iou": float(np.mean(iou(voxel, voxels))),
        }

"""Losses shared by the end-to-end trainer and the staged recipe's shape autoencoder.

- V-Net's soft Dice loss (Milletari et al. 2016), alone or beside BCE, for reconstruction:
  ModelNet shapes fill about 5 % of their grid, so plain BCE is content to erase thin legs
  and table tops; Dice scores the overlap of the occupied part alone.
- DIB-R's silhouette loss (Chen et al. 2019, section 3.3): 1 - IoU of the predicted shape's
  projected silhouette and the input view's mask, from the view's known camera.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gan3d_core.projection import silhouettes, soft_iou
from gan3d_core.training.config import RECON_LOSSES

# Silhouettes for the training loss, 32 px. A ray crosses up to 55 voxels of a 32^3 grid
# (the bounding sphere's diameter): fewer samples step over one-voxel legs. The true shapes'
# silhouettes matched their renders' masks at IoU 0.67 with 32 samples, 0.79 with 64
# (16 held-out ModelNet chairs, 2 jittered views each).
SILHOUETTE_SIZE = 32
SILHOUETTE_SAMPLES = 64


def dice_loss(probabilities: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """V-Net's soft Dice loss, 1 - 2|P∩T| / (|P| + |T|), per shape, averaged over the batch.

    probabilities, target: (B, ...) in [0, 1]. ``eps`` keeps an empty pair at loss 0.
    """
    p, t = probabilities.flatten(1), target.flatten(1)  # (B, R^3)
    overlap = (p * t).sum(1)
    return (1 - (2 * overlap + eps) / (p.sum(1) + t.sum(1) + eps)).mean()


def reconstruction_loss(
    logits: torch.Tensor, target: torch.Tensor, kind: str, dice_weight: float = 1.0
) -> torch.Tensor:
    """Occupancy logits against target occupancy, both (B, 1, R, R, R).

    ``bce`` (mean), ``l2`` (mean squared error of the probabilities), ``l2_sum`` (summed per
    shape, the 3D-VAE-GAN paper's), ``dice`` or ``bce_dice`` (BCE + ``dice_weight`` * Dice,
    as the shape autoencoder trains)."""
    if kind not in RECON_LOSSES:
        raise ValueError(f"recon_loss must be one of {', '.join(RECON_LOSSES)}, got {kind!r}")
    logits = logits.float()
    if kind in ("l2", "l2_sum"):
        squared = (torch.sigmoid(logits) - target) ** 2
        return squared.flatten(1).sum(1).mean() if kind == "l2_sum" else squared.mean()
    loss = torch.zeros((), device=logits.device)
    if kind in ("bce", "bce_dice"):
        loss = F.binary_cross_entropy_with_logits(logits, target)
    if kind in ("dice", "bce_dice"):
        weight = 1.0 if kind == "dice" else dice_weight
        loss = loss + weight * dice_loss(torch.sigmoid(logits), target)
    return loss


def silhouette_loss(
    probabilities: torch.Tensor, masks: torch.Tensor, cameras: torch.Tensor
) -> torch.Tensor:
    """1 - soft IoU of each shape's silhouette and each of its views' masks, averaged.

    probabilities: (B, R, R, R) occupancy; masks: (B, V, S, S) in [0, 1], the preprocessed
    views' object masks; cameras: (B, V, 3) azimuth, elevation (degrees) and distance of the
    camera each view was rendered from."""
    batch, views, size = masks.shape[0], masks.shape[1], masks.shape[-1]
    shapes = probabilities[:, None].expand(-1, views, -1, -1, -1).flatten(0, 1)  # (B*V, R, R, R)
    azimuth, elevation, distance = cameras.reshape(batch * views, 3).float().unbind(1)
    projected = silhouettes(
        shapes, azimuth, elevation, distance, output_size=size, samples=SILHOUETTE_SAMPLES
    )  # (B*V, S, S)
    return 1.0 - soft_iou(projected, masks.reshape(batch * views, size, size)).mean()

"""Fit a shape latent to the silhouettes of one object's photos (stage 4 of the staged
recipe; DIB-R's silhouette IoU loss, Chen et al. 2019, applied at inference time), or to a
3D shape itself (:func:`fit_to_voxels`: the shape encoder's latent refined by gradient
descent, as encoder-initialised GAN inversion does).

The decoder stays fixed. Starting from candidate latents (the image head's prediction and
the latents of retrieved training shapes), :func:`fit_to_silhouettes` first picks, for each
candidate, the camera of each view that best explains its mask, keeps the candidate whose
silhouettes overlap the masks most, then refines its latent and cameras by gradient descent
on 1 - soft IoU of the projected silhouettes, plus a prior that keeps the latent where
training shapes' latents are (a Gaussian fitted to them, i.e. a Mahalanobis distance).
With several photos each view adds its own silhouette constraint, as in a visual hull.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from gan3d_core.errors import OperationCancelled
from gan3d_core.projection import silhouettes, soft_iou

ProgressHook = Callable[[float, str], None]
StopHook = Callable[[], bool]
# decoder(latents (K, L)) -> occupancy probabilities (K, R, R, R), differentiable (the class,
# if any, is fixed inside it)
Decoder = Callable[[torch.Tensor], torch.Tensor]
# the same, but logits (K, R, R, R)
LogitDecoder = Callable[[torch.Tensor], torch.Tensor]

# Camera offsets tried around each estimate when choosing a candidate (degrees): azimuths
# around the estimate and around its opposite, then elevations at the best azimuth.
AZIMUTH_OFFSETS = (-30.0, -15.0, 0.0, 15.0, 30.0)
FLIP_OFFSETS = (-15.0, 0.0, 15.0)
ELEVATION_OFFSETS = (-15.0, 15.0)
ELEVATION_RANGE = (-10.0, 80.0)


# A fit whose silhouette IoU stays under this share of its best for this many steps in a row
# stops there, its best kept: asked for 300 steps, scikit-image's astronaut, chelsea and
# coffee each fell to IoU 0 (after steps 120-190) and never came back; stopping kept the
# same best in 59 %, 71 % and 52 % of the time.
LOST_OUTLINE_SHARE = 0.5
LOST_OUTLINE_STEPS = 10


@dataclass(frozen=True)
class FitSettings:
    """``steps`` gradient steps (0: pick the best candidate only) at ``learning_rate``;
    ``prior_weight`` scales the mean squared whitened latent; silhouettes of
    ``mask_size`` pixels, ``search_size`` when choosing among candidates and cameras."""

    steps: int = 15
    learning_rate: float = 0.05
    camera_learning_rate: float = 1.0  # degrees per step, roughly
    prior_weight: float = 0.02
    mask_size: int = 48
    search_size: int = 32
    samples: int = 48
    # Occupancy is sharpened (logits times this) before projection, so that the silhouette
    # shows what thresholding at 0.5 will keep: a blurry shape's soft occupancy piles up
    # along a ray into a full silhouette that hides missing thin parts.
    sharpness: float = 1.0
    # > 0: each view's azimuth is searched around the whole ring at this many angles (the
    # estimate may be anywhere); 0: only near the estimate and its opposite.
    ring_azimuths: int = 0


@dataclass
class FitResult:
    latent: np.ndarray  # (L,)
    azimuths: np.ndarray  # (V,) degrees
    elevations: np.ndarray  # (V,) degrees
    silhouette_iou: float  # mean over views, before thresholding
    candidate: int  # index of the starting candidate that was refined
    start_iou: float


class _Adam:
    """Adam (Kingma & Ba 2015) for a few tensors, each with its own rate. Not torch.optim:
    constructing one of those imports TorchDynamo, seconds of start-up for a first photo."""

    def __init__(self, tensors: list[tuple[torch.Tensor, float]], betas=(0.9, 0.999)) -> None:
        self.tensors = tensors
        self.betas = betas
        self.moments = [(torch.zeros_like(t), torch.zeros_like(t)) for t, _ in tensors]
        self.steps = 0

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        beta1, beta2 = self.betas
        for (tensor, rate), (first, second) in zip(self.tensors, self.moments):
            if tensor.grad is None:
                continue
            first.mul_(beta1).add_(tensor.grad, alpha=1 - beta1)
            second.mul_(beta2).addcmul_(tensor.grad, tensor.grad, value=1 - beta2)
            corrected_first = first / (1 - beta1**self.steps)
            corrected_second = second / (1 - beta2**self.steps)
            tensor.sub_(rate * corrected_first / (corrected_second.sqrt() + 1e-8))
            tensor.grad = None


def _resized_masks(masks: np.ndarray, size: int) -> torch.Tensor:
    tensor = torch.from_numpy(np.asarray(masks, np.float32))[:, None]  # (V, 1, S, S)
    return torch.nn.functional.interpolate(tensor, size=(size, size), mode="area")[:, 0]


def _sharpened(occupancy: torch.Tensor, sharpness: float) -> torch.Tensor:
    if sharpness == 1.0:
        return occupancy
    return torch.sigmoid(sharpness * torch.logit(occupancy, eps=1e-6))


def _score_cameras(
    shape: torch.Tensor, mask: torch.Tensor, cameras: list[tuple[float, float]], settings
) -> torch.Tensor:
    """Soft IoU (C,) of one shape's silhouettes from ``cameras`` (azimuth, elevation) with
    one view's mask."""
    azimuth = torch.tensor([a for a, _ in cameras], dtype=torch.float32)
    elevation = torch.tensor([e for _, e in cameras], dtype=torch.float32)
    projected = silhouettes(
        shape[None].expand(len(cameras), -1, -1, -1),
        azimuth,
        elevation,
        output_size=settings.search_size,
        samples=settings.samples,
    )
    return soft_iou(projected, mask[None].expand_as(projected))


@torch.no_grad()
def _best_cameras(
    shape: torch.Tensor,
    masks: torch.Tensor,
    azimuths: np.ndarray,
    elevations: np.ndarray,
    settings: FitSettings,
) -> tuple[np.ndarray, np.ndarray, float]:
    """For one decoded shape (R, R, R): per view the camera near its estimate whose
    silhouette overlaps the mask most; returns azimuths, elevations, mean IoU.

    Azimuths around the estimate and around its opposite (a front and a back often look
    alike: the estimate may be half a turn off) at the estimated elevation first, then
    other elevations at the best azimuth."""
    best_azimuths, best_elevations, best_scores = azimuths.copy(), elevations.copy(), []
    for view in range(len(masks)):
        elevation = float(np.clip(elevations[view], *ELEVATION_RANGE))
        if settings.ring_azimuths > 0:
            step = 360.0 / settings.ring_azimuths
            trials = [(azimuths[view] + step * k, elevation) for k in range(settings.ring_azimuths)]
        else:
            trials = [(azimuths[view] + offset, elevation) for offset in AZIMUTH_OFFSETS]
            trials += [(azimuths[view] + 180.0 + offset, elevation) for offset in FLIP_OFFSETS]
        scores = _score_cameras(shape, masks[view], trials, settings)
        azimuth = trials[int(scores.argmax())][0]
        heights = [float(np.clip(elevation + e, *ELEVATION_RANGE)) for e in ELEVATION_OFFSETS]
        trials += [(azimuth, height) for height in heights]
        extra = trials[-len(heights) :]
        scores = torch.cat([scores, _score_cameras(shape, masks[view], extra, settings)])
        pick = int(scores.argmax())
        best_azimuths[view], best_elevations[view] = trials[pick]
        best_scores.append(float(scores[pick]))
    return best_azimuths, best_elevations, float(np.mean(best_scores))


def _within_one_turn(degrees: np.ndarray) -> np.ndarray:
    """Angles in [0, 360): the steps and the half-turn flips wander off the ring."""
    turned = np.mod(degrees, 360.0)
    return np.where(turned >= 360.0, 0.0, turned)  # a tiny negative angle rounds to 360.0


def fit_to_silhouettes(
    decoder: Decoder,
    candidates: np.ndarray,
    masks: np.ndarray,
    azimuths: np.ndarray,
    elevations: np.ndarray,
    prior_mean: np.ndarray,
    prior_whitening: np.ndarray,
    settings: FitSettings | None = None,
    progress: ProgressHook | None = None,
    should_stop: StopHook | None = None,
) -> FitResult:
    """Refine a latent so the decoded shape's silhouettes match ``masks``.

    candidates: (K, L) starting latents; masks: (V, S, S) object masks in [0, 1] of the
    preprocessed photos; azimuths, elevations: (V,) camera estimates in degrees, or (K, V):
    one estimate per candidate (e.g. the camera of a retrieved training view).
    prior_mean (L,), prior_whitening (L, L): (z - mean) @ whitening is ~N(0, I) over the
    training latents.
    """
    settings = settings or FitSettings()
    candidates = np.asarray(candidates, np.float32)
    views = len(masks)
    azimuths = np.broadcast_to(np.asarray(azimuths, np.float64), (len(candidates), views))
    elevations = np.broadcast_to(np.asarray(elevations, np.float64), (len(candidates), views))
    search_masks = _resized_masks(masks, settings.search_size)
    with torch.no_grad():
        shapes = _sharpened(decoder(torch.from_numpy(candidates)), settings.sharpness)
    choices = [
        _best_cameras(shape, search_masks, azimuths[k], elevations[k], settings)
        for k, shape in enumerate(shapes)
    ]
    pick = int(np.argmax([score for _, _, score in choices]))
    start_azimuths, start_elevations, start_score = choices[pick]
    if progress is not None:
        progress(0.1, f"picked a starting shape (silhouette IoU {start_score:.2f})")
    latent = torch.from_numpy(candidates[pick].copy())
    azimuth = torch.tensor(start_azimuths, dtype=torch.float32)
    elevation = torch.tensor(start_elevations, dtype=torch.float32)
    best = (latent.clone(), azimuth.clone(), elevation.clone(), -1.0)
    if settings.steps > 0:
        target = _resized_masks(masks, settings.mask_size)
        mean = torch.from_numpy(np.asarray(prior_mean, np.float32))
        whitening = torch.from_numpy(np.asarray(prior_whitening, np.float32))
        latent.requires_grad_(True)
        azimuth.requires_grad_(True)
        elevation.requires_grad_(True)
        optimizer = _Adam(
            [
                (latent, settings.learning_rate),
                (azimuth, settings.camera_learning_rate),
                (elevation, settings.camera_learning_rate),
            ]
        )
        lost_for = 0  # steps in a row far below the best: the fit has lost the outline
        for step in range(settings.steps + 1):
            if should_stop is not None and should_stop():
                raise OperationCancelled("fitting cancelled")
            shape = _sharpened(decoder(latent[None]), settings.sharpness)  # (1, R, R, R)
            projected = silhouettes(
                shape.expand(len(target), -1, -1, -1),
                azimuth,
                elevation,
                output_size=settings.mask_size,
                samples=settings.samples,
            )  # (V, S, S)
            overlap = soft_iou(projected, target).mean()
            if overlap.item() > best[3]:
                best = (latent.detach().clone(), azimuth.detach().clone(),
                        elevation.detach().clone(), overlap.item())  # fmt: skip
            lost_for = lost_for + 1 if overlap.item() < LOST_OUTLINE_SHARE * best[3] else 0
            if step == settings.steps or lost_for >= LOST_OUTLINE_STEPS:
                break  # the last step only scores; a lost outline is not found again
            prior = (((latent - mean) @ whitening) ** 2).mean()
            loss = 1.0 - overlap + settings.prior_weight * prior
            loss.backward()
            optimizer.step()
            if progress is not None:
                progress(  # the best so far is what is kept (a step can lose the outline)
                    0.1 + 0.9 * (step + 1) / settings.steps,
                    f"fitting step {step + 1} of {settings.steps} "
                    f"(best silhouette IoU {best[3]:.2f})",
                )
    latent, azimuth, elevation, score = best
    return FitResult(
        latent=latent.numpy(),
        azimuths=_within_one_turn(azimuth.numpy().astype(np.float64)),
        elevations=elevation.numpy().astype(np.float64),
        silhouette_iou=score if score >= 0 else start_score,
        candidate=pick,
        start_iou=start_score,
    )


@dataclass(frozen=True)
class VoxelFitSettings:
    """``steps`` Adam steps on the latents at ``learning_rate``, ``prior_weight`` on the
    mean squared whitened latent. On 66 of the bundled model's held-out shapes (the
    encoder's latents decode at IoU 0.709), 50 steps at 0.3 reach 0.812 but leave the
    latents far from the training ones (whitened RMS 7.4 against 0.90: sliders and
    interpolation would start off the shape space); with this prior 0.804 at RMS 1.27,
    as 100 steps at 0.1 without it did (0.805, RMS 5.7) in twice the time."""

    steps: int = 50
    learning_rate: float = 0.3
    prior_weight: float = 0.003


def fit_to_voxels(
    decoder: LogitDecoder,
    latents: np.ndarray,
    targets: np.ndarray,
    settings: VoxelFitSettings | None = None,
    progress: ProgressHook | None = None,
    should_stop: StopHook | None = None,
    prior: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Refine latents (N, L) so that their decoded shapes match ``targets`` (N, R, R, R)
    in [0, 1]: each shape's BCE plus soft Dice (the autoencoder's training loss), each
    latent on its own, plus ``prior_weight`` times its mean squared whitened value when
    ``prior`` (mean (L,), whitening (L, L), as for silhouettes) is given. Returns the
    refined latents float32 (N, L)."""
    from gan3d_core.training.losses import dice_loss

    settings = settings or VoxelFitSettings()
    latent = torch.from_numpy(np.array(latents, np.float32)).requires_grad_(True)
    target = torch.from_numpy(np.asarray(targets, np.float32))
    if prior is not None:
        mean, whitening = (torch.from_numpy(np.asarray(a, np.float32)) for a in prior)
    optimizer = _Adam([(latent, settings.learning_rate)])
    for step in range(settings.steps):
        if should_stop is not None and should_stop():
            raise OperationCancelled("fitting cancelled")
        logits = decoder(latent).float()
        # means over the batch, times its size: each latent's gradient is its shape's alone
        loss = len(latent) * (
            torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
            + dice_loss(torch.sigmoid(logits), target)
        )
        if prior is not None and settings.prior_weight > 0:
            whitened = (latent - mean) @ whitening
            loss = loss + settings.prior_weight * whitened.pow(2).mean(1).sum()
        loss.backward()
        optimizer.step()
        if progress is not None:
            progress((step + 1) / settings.steps, f"fitting step {step + 1} of {settings.steps}")
    return latent.detach().numpy()

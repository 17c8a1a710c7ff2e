"""The differentiable silhouettes and the latent fitting of the staged model, on hand-made
grids with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gan3d_core.fitting import FitSettings, fit_to_silhouettes
from gan3d_core.images import OBJECT_MARGIN
from gan3d_core.projection import silhouettes, soft_iou

from .conftest import box_grid


def _views(grid: np.ndarray, azimuths, elevations, size: int = 64) -> torch.Tensor:
    voxels = torch.from_numpy(np.asarray(grid, np.float32))[None].expand(len(azimuths), -1, -1, -1)
    return silhouettes(
        voxels, torch.tensor(azimuths, dtype=torch.float32),
        torch.tensor(elevations, dtype=torch.float32), output_size=size,
    )  # fmt: skip


def test_a_cube_seen_head_on_fills_the_framed_square():
    cube = box_grid(32, (8, 8, 8), (24, 24, 24))
    (silhouette,) = _views(cube, [0.0], [0.0])
    size = 64
    centres = np.arange(size) + 0.5
    low, high = OBJECT_MARGIN * size, (1 - OBJECT_MARGIN) * size
    inside = (centres > low + 1) & (centres < high - 1)  # a pixel in from the square's edge
    square = inside[:, None] & inside[None, :]
    assert silhouette.numpy()[square].min() > 0.98
    # the 0.5 level crosses within a pixel of the square's edge (5.12 px from the border)
    row = silhouette[32].numpy()
    assert row[4] < 0.5 < row[5] and row[-5] < 0.5 < row[-6]
    far = (centres < low - 3) | (centres > high + 3)
    assert silhouette.numpy()[far[:, None] | far[None, :]].max() < 0.01
    # symmetric, like the cube seen head on
    assert torch.allclose(silhouette, silhouette.flip(0), atol=1e-4)
    assert torch.allclose(silhouette, silhouette.flip(1), atol=1e-4)


def test_opposite_cameras_see_mirror_images():
    grid = box_grid(32, (10, 6, 4), (20, 26, 12))  # a slab ...
    grid[10:20, 6:10, 12:28] = 1.0  # ... with a back on one side
    front, back = _views(grid, [0.0, 180.0], [0.0, 0.0])
    assert torch.allclose(front, back.flip(1), atol=1e-4)
    (side,) = _views(grid, [90.0], [0.0])
    assert not torch.allclose(front, side, atol=0.1)  # the back shows from the side


def test_top_view_of_a_column_is_round():
    axis = np.arange(32) - 15.5
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    column = ((x**2 + y**2 < 8**2) & (np.abs(z) < 12)).astype(np.float32)
    (top,) = _views(column, [0.0], [89.9])
    assert torch.allclose(top, top.T, atol=0.05)  # round: the same after swapping axes
    assert float(top[32, 32]) > 0.99 and float(top[1, 1]) < 0.01


def test_silhouettes_are_differentiable_in_occupancy_and_camera():
    grid = torch.from_numpy(box_grid(32, (8, 12, 4), (24, 20, 28)))[None].requires_grad_(True)
    azimuth = torch.tensor([30.0], requires_grad=True)
    elevation = torch.tensor([20.0], requires_grad=True)
    silhouettes(grid, azimuth, elevation, output_size=32).sum().backward()
    # turning or raising the camera changes what the box covers
    assert grid.grad.abs().sum() > 0
    assert azimuth.grad.abs().item() > 0 and elevation.grad.abs().item() > 0


def test_soft_iou_of_known_maps():
    a = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    b = torch.tensor([[0.0, 1.0, 1.0, 0.0]])
    assert soft_iou(a, b).item() == pytest.approx(1 / 3)
    assert soft_iou(a, a).item() == pytest.approx(1.0)


def _box_decoder(resolution: int = 32):
    """latent (K, 2) -> soft boxes whose half-extents in x and z are the latent (voxels)."""
    axis = torch.arange(resolution, dtype=torch.float32) - (resolution - 1) / 2

    def decode(latents: torch.Tensor) -> torch.Tensor:
        half_x, half_z = latents[:, 0, None], latents[:, 1, None]  # (K, 1)
        in_x = torch.sigmoid((half_x - axis.abs()) * 4)  # (K, R)
        in_y = torch.sigmoid((6.0 - axis.abs()) * 4).expand_as(in_x)
        in_z = torch.sigmoid((half_z - axis.abs()) * 4)
        return in_x[:, :, None, None] * in_y[:, None, :, None] * in_z[:, None, None, :]

    return decode


def test_fitting_lowers_the_silhouette_loss_of_a_synthetic_shape():
    decode = _box_decoder()
    truth = torch.tensor([[12.0, 5.0]])
    azimuths, elevations = np.array([90.0, 20.0]), np.array([10.0, 40.0])
    with torch.no_grad():
        masks = silhouettes(
            decode(truth).expand(2, -1, -1, -1), torch.tensor(azimuths, dtype=torch.float32),
            torch.tensor(elevations, dtype=torch.float32), output_size=48,
        ).numpy()  # fmt: skip
    start = np.array([[5.0, 11.0]], np.float32)
    settings = FitSettings(steps=15, learning_rate=1.0, prior_weight=0.0)
    result = fit_to_silhouettes(
        decode, start, masks, azimuths, elevations, np.zeros(2), np.eye(2), settings
    )
    assert result.silhouette_iou > result.start_iou + 0.15
    assert result.silhouette_iou > 0.75
    ratio = result.latent[0] / result.latent[1]
    assert ratio > 1.5  # the box became wide and low, like the truth (12 / 5)


def test_fitted_azimuths_are_read_within_one_turn():
    decode = _box_decoder()  # a box looks the same half a turn round: flips are tried
    latent = torch.tensor([[12.0, 4.0]])
    with torch.no_grad():
        masks = silhouettes(decode(latent), torch.tensor([0.0]), torch.tensor([20.0])).numpy()
    for estimate in (350.0, 355.0, 5.0, 190.0, -170.0):
        result = fit_to_silhouettes(
            decode, latent.numpy(), masks, [estimate], [20.0], np.zeros(2), np.eye(2),
            FitSettings(steps=3),
        )  # fmt: skip
        assert 0.0 <= result.azimuths[0] < 360.0, (estimate, result.azimuths)


def test_fitting_picks_the_candidate_that_explains_the_masks():
    decode = _box_decoder()
    with torch.no_grad():
        masks = silhouettes(
            decode(torch.tensor([[12.0, 4.0]])), torch.tensor([90.0]), torch.tensor([0.0]),
            output_size=48,
        ).numpy()  # fmt: skip
    candidates = np.array([[4.0, 12.0], [11.0, 4.5], [8.0, 8.0]], np.float32)
    result = fit_to_silhouettes(
        decode, candidates, masks, [90.0], [0.0], np.zeros(2), np.eye(2), FitSettings(steps=0)
    )
    assert result.candidate == 1
    assert np.array_equal(result.latent, candidates[1])


def test_ring_search_finds_a_camera_far_from_the_estimate():
    decode = _box_decoder()  # 24 voxels wide in x, 12 deep in y: side and front differ
    with torch.no_grad():
        masks = silhouettes(
            decode(torch.tensor([[12.0, 4.0]])), torch.tensor([90.0]), torch.tensor([0.0]),
            output_size=48,
        ).numpy()  # fmt: skip
    latent = np.array([[12.0, 4.0]], np.float32)

    def found_azimuth(ring: int) -> float:
        settings = FitSettings(steps=0, ring_azimuths=ring)
        result = fit_to_silhouettes(
            decode, latent, masks, [0.0], [0.0], np.zeros(2), np.eye(2), settings
        )
        return float(result.azimuths[0]) % 180.0

    assert abs(found_azimuth(0) - 90.0) > 45.0  # near the estimate, or half a turn off
    assert found_azimuth(8) == pytest.approx(90.0)  # the box is symmetric: 90 or 270


def test_sharpening_keeps_the_threshold_and_pushes_occupancy_away_from_it():
    from gan3d_core.fitting import _sharpened

    occupancy = torch.tensor([0.1, 0.5, 0.7])
    assert torch.equal(_sharpened(occupancy, 1.0), occupancy)
    sharp = _sharpened(occupancy, 3.0)
    assert sharp[1] == pytest.approx(0.5)
    assert sharp[0] < 0.01 and sharp[2] == pytest.approx(0.7**3 / (0.7**3 + 0.3**3), abs=1e-5)


def test_a_fit_that_lost_the_outline_stops_and_keeps_its_best(monkeypatch):
    """Asked for 300 steps, fits of real photos fell to IoU 0 and never came back; the
    steps after were time spent for nothing."""
    from gan3d_core import fitting

    decode = _box_decoder()
    truth = torch.tensor([[12.0, 5.0]])
    with torch.no_grad():
        masks = silhouettes(decode(truth), torch.tensor([90.0]), torch.tensor([10.0])).numpy()
    scored = []
    real_iou = fitting.soft_iou

    def falling(projected, target):  # good for 5 steps, then the outline is lost
        scored.append(None)
        overlap = real_iou(projected, target)
        return overlap if len(scored) <= 5 else overlap * 0.01

    monkeypatch.setattr(fitting, "soft_iou", falling)
    result = fit_to_silhouettes(
        decode, np.array([[10.0, 6.0]], np.float32), masks, [90.0], [10.0], np.zeros(2),
        np.eye(2), FitSettings(steps=100),
    )  # fmt: skip
    assert len(scored) == 5 + fitting.LOST_OUTLINE_STEPS  # not 101
    assert result.silhouette_iou > 0.5  # the best, from before

"""Metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gan3d_core.data.datasets import VoxelDataset
from gan3d_core.evaluation import nearest_shape_iou
from gan3d_core.metrics import (
    dice,
    iou,
    mean_pairwise_iou,
    mmd_and_coverage,
    occupancy_jsd,
    one_nna,
    pairwise_iou,
    reconstruction_bce,
    reconstruction_l2,
    ssim3d,
    ssim3d_torch,
)
from tests.conftest import box_grid

A = box_grid(4, (0, 0, 0), (2, 2, 2))  # 8 voxels
B = box_grid(4, (1, 0, 0), (3, 2, 2))  # 8 voxels, 4 shared with A
C = box_grid(4, (2, 2, 2), (4, 4, 4))  # 8 voxels, none shared with A


def test_iou_and_dice_of_hand_made_grids():
    assert iou(A, B) == pytest.approx(4 / 12)
    assert dice(A, B) == pytest.approx(2 * 4 / 16)
    assert iou(A, A) == 1.0 and iou(A, C) == 0.0
    assert iou(np.zeros((4, 4, 4)), np.zeros((4, 4, 4))) == 1.0
    np.testing.assert_allclose(iou(np.stack([A, A]), np.stack([A, B])), [1.0, 4 / 12])
    assert iou(A * 0.45, A, threshold=0.4) == 1.0
    with pytest.raises(ValueError, match=r"equal shapes .* got \(4, 4, 4\) and \(5, 5, 5\)"):
        iou(A, np.zeros((5, 5, 5)))


def test_ssim_of_identical_grids_is_one():
    rng = np.random.default_rng(0)
    grid = rng.random((16, 16, 16)).astype(np.float32)
    assert ssim3d(grid, grid) == pytest.approx(1.0, abs=1e-6)
    assert ssim3d(np.zeros((8, 8, 8)), np.zeros((8, 8, 8))) == pytest.approx(1.0)
    other = rng.random((16, 16, 16)).astype(np.float32)
    assert ssim3d(grid, other) == pytest.approx(ssim3d(other, grid), abs=1e-7)
    assert ssim3d(grid, other) < 0.5  # independent noise: no shared structure
    batch = ssim3d(np.stack([grid, grid]), np.stack([grid, other]))
    np.testing.assert_allclose(batch, [1.0, ssim3d(grid, other)], atol=1e-6)


def test_ssim_is_a_differentiable_loss():
    target = torch.from_numpy(box_grid(12, (3, 3, 3), (9, 9, 9)))[None]
    prediction = torch.full_like(target, 0.5, requires_grad=True)
    loss = 1 - ssim3d_torch(prediction, target).mean()
    loss.backward()
    assert prediction.grad is not None and prediction.grad.abs().sum() > 0


def test_reconstruction_losses():
    target = np.array([0.0, 1.0, 1.0, 0.0])
    prediction = np.array([0.5, 0.5, 1.0, 0.0])
    assert reconstruction_l2(prediction, target) == pytest.approx((0.25 + 0.25) / 4)
    assert reconstruction_bce(prediction, target) == pytest.approx(2 * math.log(2) / 4, abs=1e-6)


def test_mmd_and_coverage_on_a_toy_set():
    reference = np.stack([A, B])
    collapsed = np.stack([A, A])
    result = mmd_and_coverage(collapsed, reference)
    assert result["mmd"] == pytest.approx((0 + (1 - 4 / 12)) / 2)
    assert result["coverage"] == 0.5
    assert mmd_and_coverage(reference, reference) == {"mmd": 0.0, "coverage": 1.0}


def test_one_nna_extremes():
    copies = np.stack([A, B, C])
    assert one_nna(copies, copies) == 0.0  # every shape's nearest is its twin in the other set
    left = np.stack([A, A * 0.9 + 0.05])
    right = np.stack([C, C * 0.9 + 0.05])
    assert one_nna(left, right) == 1.0  # the sets are far apart, each tight


def test_occupancy_jsd_and_pairwise_iou():
    assert occupancy_jsd(np.stack([A, B]), np.stack([B, A])) == pytest.approx(0.0, abs=1e-9)
    assert occupancy_jsd(A[None], C[None]) == pytest.approx(math.log(2), rel=1e-6)
    np.testing.assert_allclose(
        pairwise_iou(np.stack([A, B]), np.stack([A, C])), [[1, 0], [4 / 12, 0]]
    )
    assert mean_pairwise_iou(np.stack([A, A, A])) == 1.0
    assert mean_pairwise_iou(np.stack([A, B])) == pytest.approx(4 / 12)


def test_nearest_shape_iou_picks_the_best_shape_of_the_same_class():
    def grid(*box):
        voxels = np.zeros((8, 8, 8), np.uint8)
        voxels[box[0] : box[1], box[0] : box[1], box[0] : box[1]] = 1
        return voxels

    names = ["small", "large", "none"]
    reference = VoxelDataset(
        np.stack([grid(2, 4), grid(2, 5), grid(0, 8), grid(0, 0)]), np.array([0, 0, 1, 1]), names
    )
    shapes = VoxelDataset(
        np.stack([grid(2, 5), grid(2, 4), grid(0, 0), grid(1, 3)]), np.array([0, 1, 1, 2]), names
    )
    for chunk in (1, 256):  # compared a chunk of reference shapes at a time: same answer
        best = nearest_shape_iou(shapes, reference, chunk=chunk)
        assert best[0] == 1.0  # its twin is in the reference set
        assert np.isclose(best[1], 8 / 512)  # only the other class's twin matches: not used
        assert best[2] == 1.0  # empty matches empty, as in iou()
        assert np.isnan(best[3])  # no reference shape of its class

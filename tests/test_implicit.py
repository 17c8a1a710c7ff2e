"""The implicit decoder: points in the grid's box, its start as the voxel decoder
interpolated, the chunked sampling of finer grids, its training points, and decoding at
any resolution through the API."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gan3d_core import load_model
from gan3d_core.errors import UsageError
from gan3d_core.models.implicit import fourier_features, grid_points, sample_grid
from gan3d_core.training.implicit_decoder import surface_voxels, training_points
from tests.conftest import box_grid, tiny_networks


def test_grid_points_sit_on_the_voxel_centres_that_sample_grid_reads():
    volume = torch.arange(2 * 3 * 4, dtype=torch.float32).view(1, 1, 2, 3, 4)  # (x, y, z)
    points = torch.tensor([[[-0.5, -2 / 3, -0.75], [0.5, 0.0, 0.75], [-0.5, 2 / 3, 0.25]]])
    samples = sample_grid(volume, points, "zeros")[0, 0]
    assert samples.tolist() == pytest.approx([0.0, 1 * 12 + 1 * 4 + 3, 2 * 4 + 2])
    # halfway between x = 0 and x = 1 at the first (y, z) voxel; the box's edge, clamped
    edges = torch.tensor([[[0.0, -2 / 3, -0.75], [-1.0, -2 / 3, -0.75]]])
    assert sample_grid(volume, edges, "border")[0, 0].tolist() == pytest.approx([6.0, 0.0])
    assert sample_grid(volume, edges, "zeros")[0, 0].tolist() == pytest.approx([6.0, 0.0])
    centres = grid_points(4)
    assert centres.shape == (64, 3) and centres[0].tolist() == [-0.75, -0.75, -0.75]
    assert grid_points(4, 1, 2)[:, 0].unique().tolist() == [-0.25]  # one x slice


def test_fourier_features_of_a_point():
    point = torch.tensor([[0.25, 0.5, -1.0]])
    features = fourier_features(point, 2)[0]
    angles = np.pi * np.array([0.25, 0.5, 0.5, 1.0, -1.0, -2.0])  # per axis: octaves 0, 1
    expected = np.concatenate([[0.25, 0.5, -1.0], np.sin(angles), np.cos(angles)])
    np.testing.assert_allclose(features.numpy(), expected, atol=1e-6)


def _outputs(networks, seed: int = 0):
    z = torch.randn(1, 8, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        hidden = networks.generator.hidden(z, torch.tensor([1]))
        return hidden, networks.generator.output(hidden)


def test_an_untrained_decoder_is_the_voxel_decoder_interpolated():
    networks = tiny_networks("lgan", implicit_width=8, seed=3)
    decoder = networks.implicit
    torch.nn.init.zeros_(decoder.layers[-1].weight)  # as trained from: no correction yet
    hidden, logits = _outputs(networks)
    with torch.no_grad():
        assert torch.equal(decoder(hidden, logits, grid_points(32)[None]).view(32, 32, 32),
                           logits[0, 0])  # fmt: skip
        projected = decoder.project(hidden)
    assert torch.equal(decoder.occupancy(projected, logits, 32), torch.sigmoid(logits[0, 0]))


@pytest.mark.parametrize("resolution", [48, 64, 100])
def test_finer_grids_query_the_decoder_only_near_the_surface_and_lose_nothing(resolution):
    networks = tiny_networks("lgan", implicit_width=8, seed=1)
    torch.nn.init.zeros_(networks.implicit.layers[-1].weight)
    hidden, logits = _outputs(networks, seed=2)
    logits = logits * 4 + 2  # confident, with a surface inside the grid
    decoder = networks.implicit
    queried = []
    query = decoder.query

    def counting_query(projected, base, points):
        queried.append(points.shape[1])
        return query(projected, base, points)

    decoder.query = counting_query
    with torch.no_grad():
        fine = decoder.occupancy(decoder.project(hidden), logits, resolution)
        everywhere = torch.sigmoid(query(decoder.project(hidden), logits,
                                         grid_points(resolution)[None])).view(fine.shape)  # fmt: skip
    assert fine.shape == (resolution,) * 3
    assert torch.equal(fine > 0.5, everywhere > 0.5)  # the same solid
    near = np.isclose(fine.numpy(), everywhere.numpy(), atol=1e-6)
    assert 0 < near.mean() < 1  # queried near the surface, interpolated elsewhere
    assert max(queried[1:]) <= 1 << 16 and sum(queried[1:]) < resolution**3


def test_surface_voxels_of_hand_made_grids():
    cube = box_grid(6, (1, 1, 1), (4, 4, 4))  # 3^3: all but the centre are on the surface
    surface = surface_voxels(cube)
    assert len(surface) == 26 and [2, 2, 2] not in surface.tolist()
    touching = box_grid(4, (0, 0, 0), (4, 4, 4))  # fills the grid: the outside is empty
    assert len(surface_voxels(touching)) == 64 - 8
    assert len(surface_voxels(np.zeros((4, 4, 4)))) == 0


def test_training_points_lie_in_the_box_half_near_the_surface():
    grid = box_grid(32, (12, 12, 12), (20, 20, 20))
    points = training_points(grid, 1000, np.random.default_rng(0))
    assert points.shape == (1000, 3) and points.dtype == np.float32
    assert np.abs(points).max() <= 1.0
    voxels = (points + 1) * 16 - 0.5  # back to voxel units
    near = voxels[500:]
    inside_shell = np.all((near > 9.5) & (near < 22.5), axis=1)  # within 3 voxels of the box
    assert inside_shell.mean() > 0.9
    assert np.array_equal(points, training_points(grid, 1000, np.random.default_rng(0)))
    empty = training_points(np.zeros((8, 8, 8)), 10, np.random.default_rng(0))
    assert empty.shape == (10, 3)


def test_decode_at_any_resolution_through_the_api(implicit_checkpoint, lgan_checkpoint):
    model = load_model(implicit_checkpoint, device="cpu")
    assert model.has_implicit_decoder
    z = model.sample_latents(2, seed=0, labels="chair")
    fine = model.decode(z, "chair", resolution=40)
    assert fine.shape == (2, 40, 40, 40) and fine.dtype == np.float32
    assert 0.0 <= fine.min() <= fine.max() <= 1.0
    assert np.array_equal(fine[1], model.decode(z[1], "chair", resolution=40)[0])
    with pytest.raises(UsageError, match="from 8 to 256, got 257"):
        model.decode(z, "chair", resolution=257)
    with pytest.raises(UsageError, match=r"got 64\.0"):
        model.decode(z, "chair", resolution=64.0)
    plain = load_model(lgan_checkpoint, device="cpu")
    assert not plain.has_implicit_decoder
    with pytest.raises(UsageError, match="no implicit decoder"):
        plain.decode(z, "chair", resolution=64)

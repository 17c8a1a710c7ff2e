""".binvox: our reader and writer against the binvox package and real binvox-made files."""

from __future__ import annotations

import binvox
import numpy as np
import pytest

from gan3d_core import InputFileError, UsageError, read_binvox, write_binvox
from gan3d_core.limits import MAX_GRID_SIDE


def random_grid(shape=(16, 16, 16), density=0.3, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).random(shape) < density


def test_round_trip_keeps_axes_and_metadata(tmp_path):
    grid = random_grid((6, 7, 8))  # distinct sizes catch any axis swap
    path = write_binvox(tmp_path / "g.binvox", grid, translate=(1.5, -2.0, 0.25), scale=3.0)
    read = read_binvox(path)
    assert read.voxels.shape == (6, 7, 8)
    assert np.array_equal(read.voxels, grid)
    assert read.translate == (1.5, -2.0, 0.25) and read.scale == 3.0


def test_long_runs_are_split_at_255(tmp_path):
    grid = np.zeros((32, 32, 32), bool)
    grid[:, :, 16:] = True
    path = write_binvox(tmp_path / "runs.binvox", grid)
    data = path.read_bytes().split(b"data\n", 1)[1]
    assert max(data[1::2]) == 255
    assert np.array_equal(read_binvox(path).voxels, grid)


def test_ours_read_by_the_binvox_package(tmp_path):
    grid = random_grid((12, 12, 12), seed=1)
    path = write_binvox(tmp_path / "g.binvox", grid)
    theirs = binvox.Binvox.read(str(path), "dense").numpy()
    assert np.array_equal(theirs, grid)


def test_theirs_read_by_us(tmp_path):
    grid = random_grid((12, 12, 12), seed=2)
    model = binvox.Binvox(grid, [12, 12, 12], [0.0, 0.0, 0.0], 1.0, "xyz", "dense")
    model.write(str(tmp_path / "theirs.binvox"))
    assert np.array_equal(read_binvox(tmp_path / "theirs.binvox").voxels, grid)


def test_real_binvox_files_match_the_reference_reader(shared_data, tmp_path):
    files = sorted((shared_data / "binvox").glob("*.binvox"))
    files += sorted((shared_data / "binvox" / "shapenet_chairs_64").glob("*.binvox"))
    sizes = set()
    for path in files:
        ours = read_binvox(path)
        reference = binvox.Binvox.read(str(path), "dense")
        assert np.array_equal(ours.voxels, reference.numpy()), path.name
        assert ours.scale == pytest.approx(reference.scale)
        sizes.add(ours.voxels.shape[0])
        copy = write_binvox(tmp_path / path.name, ours.voxels, ours.translate, ours.scale)
        assert np.array_equal(read_binvox(copy).voxels, ours.voxels)
    assert sizes == {32, 64}
    assert read_binvox(shared_data / "binvox" / "chair.binvox").voxels.sum() == 1002


def test_truncated_and_corrupt_files(tmp_path):
    path = write_binvox(tmp_path / "g.binvox", random_grid())
    data = path.read_bytes()
    cases = {
        "cut.binvox": (data[:-2], r"truncated \.binvox data \(\d+ of 4096 voxels\)"),
        "odd.binvox": (data[:-1], r"truncated \.binvox data \(odd number"),
        "head.binvox": (data[:20], "truncated .binvox header"),
        "nobinvox.binvox": (b"hello world\n", "not a .binvox file"),
        "v2.binvox": (data.replace(b"#binvox 1", b"#binvox 2"), ".binvox version '2' is not su"),
        "dims.binvox": (data.replace(b"dim 16 16 16", b"dim 16 x 16"), "malformed .binvox header"),
        "value.binvox": (data[:-2] + b"\x07" + data[-1:], r"corrupt \.binvox data \(run value 7"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(InputFileError, match=f"{name}: {message}"):
            read_binvox(tmp_path / name)


def test_an_occupancy_grid_is_written_filled_over_the_threshold(tmp_path):
    """A decoded shape is float and never exactly 0: it was written as a solid cube."""
    occupancy = np.full((4, 5, 6), 1e-20, np.float32)
    occupancy[1, 2, 3], occupancy[0, 0, 0] = 0.9, 0.5
    read = read_binvox(write_binvox(tmp_path / "o.binvox", occupancy))
    assert np.array_equal(read.voxels, occupancy > 0.5)


def test_a_grid_no_reader_takes_is_not_written(tmp_path):
    """Writing refuses what reading would: a flat grid, an empty side, one over the limit."""
    for shape in [(4, 4), (0, 4, 4), (MAX_GRID_SIDE + 1, 1, 1)]:
        with pytest.raises(UsageError, match=f"1 to {MAX_GRID_SIDE} a side"):
            write_binvox(tmp_path / "g.binvox", np.zeros(shape, bool))
    with pytest.raises(UsageError, match=r"x\.stl: write_binvox writes \.binvox files"):
        write_binvox(tmp_path / "x.stl", np.ones((4, 4, 4), bool))  # binvox bytes named .stl
    assert not list(tmp_path.iterdir())

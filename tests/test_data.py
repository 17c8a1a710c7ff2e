"""Datasets, splits and augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh

from gan3d_core import InputFileError, UsageError, write_binvox
from gan3d_core.data import (
    ShapeAugmentation,
    augment_images,
    downsample,
    load_dataset,
    stratified_limit,
    stratified_split,
)
from gan3d_core.data.datasets import split_dataset
from gan3d_core.metrics import iou
from tests.conftest import synthetic_shapes


def test_npz_dataset(synthetic_npz):
    dataset = load_dataset(synthetic_npz)
    assert dataset.voxels.shape == (18, 32, 32, 32) and dataset.voxels.dtype == np.uint8
    assert dataset.class_counts() == {"box": 6, "ball": 6, "column": 6}
    chosen = dataset.select_classes(["column", "box"])
    assert chosen.class_names == ["column", "box"]
    assert chosen.class_counts() == {"column": 6, "box": 6}
    assert np.array_equal(chosen.voxels[chosen.labels == 0], dataset.voxels[dataset.labels == 2])
    with pytest.raises(InputFileError, match="no class lamp; it has box, ball, column"):
        dataset.select_classes(["lamp"])


def test_empty_grids_are_left_out(tmp_path):
    voxels, labels, names = synthetic_shapes(per_class=2, resolution=16)
    voxels[3] = 0
    np.savez(tmp_path / "holes.npz", voxels=voxels, labels=labels, class_names=np.array(names))
    dataset = load_dataset(tmp_path / "holes.npz")
    assert len(dataset) == 5 and dataset.skipped_empty == 1
    assert dataset.voxels.reshape(5, -1).any(axis=1).all()
    assert dataset.subset(np.arange(2)).skipped_empty == 1


def test_stratified_split_is_proportional_and_repeatable():
    labels = np.repeat(np.arange(3), [100, 20, 2])
    train, validation = stratified_split(labels, 0.1, seed=4)
    assert np.bincount(labels[validation]).tolist() == [10, 2, 1]
    assert len(np.intersect1d(train, validation)) == 0 and len(train) + len(validation) == 122
    again_train, again_validation = stratified_split(labels, 0.1, seed=4)
    assert np.array_equal(validation, again_validation) and np.array_equal(train, again_train)
    assert not np.array_equal(validation, stratified_split(labels, 0.1, seed=5)[1])
    assert np.bincount(labels[stratified_limit(labels, 61)]).tolist() == [50, 10, 1]


def test_split_dataset_matches_between_training_and_evaluation(synthetic_npz):
    dataset = load_dataset(synthetic_npz)
    train, validation = split_dataset(
        dataset, ["ball", "box"], limit=10, validation_fraction=0.2, seed=1
    )
    assert train.class_names == validation.class_names == ["ball", "box"]
    assert len(train) + len(validation) == 10
    _, again = split_dataset(dataset, ["ball", "box"], limit=10, validation_fraction=0.2, seed=1)
    assert np.array_equal(validation.voxels, again.voxels)


def test_downsample_any_pooling():
    grid = np.zeros((1, 4, 4, 4), np.uint8)
    grid[0, 3, 0, 1] = 1
    small = downsample(grid, 2)
    assert small.shape == (1, 2, 2, 2) and small[0, 1, 0, 0] == 1 and small.sum() == 1
    with pytest.raises(InputFileError, match="cannot be resampled to 3"):
        downsample(grid, 3)


def test_binvox_folder_and_modelnet_tree(tmp_path):
    voxels, labels, names = synthetic_shapes(per_class=2, resolution=16)
    for index, (grid, label) in enumerate(zip(voxels, labels)):
        split = "test" if index >= 3 else "train"
        folder = tmp_path / "tree" / names[label] / split
        folder.mkdir(parents=True, exist_ok=True)
        write_binvox(folder / f"{index}.binvox", grid)
    train = load_dataset(tmp_path / "tree", split="train")
    test = load_dataset(tmp_path / "tree", split="test")
    assert len(train) + len(test) == 6
    assert train.class_names == sorted(names)
    assert all("/train/" in f for f in train.files)
    write_binvox(tmp_path / "tree" / "stray.binvox", voxels[0])  # made a class named "tree"
    with pytest.raises(InputFileError, match=r"stray\.binvox: a shape file beside the class"):
        load_dataset(tmp_path / "tree", split="train")


def test_a_folder_of_y_up_files_is_read_upright_with_up_y(shared_data, tmp_path):
    """ShapeNet's .binvox and OBJ files are y up: training and eval read a folder of them
    upright with --up y, as encode and the app read one."""
    from gan3d_core.data.datasets import load_shape_grid, y_up_to_z_up

    folder = tmp_path / "chairs"
    folder.mkdir()
    for source in sorted((shared_data / "binvox" / "shapenet_chairs_64").glob("*.binvox"))[:2]:
        (folder / source.name).symlink_to(source)
    z_read, y_read = (load_dataset(folder, 32, up=up) for up in ("z", "y"))
    for grid, upright in zip(z_read.voxels, y_read.voxels):
        np.testing.assert_array_equal(upright, y_up_to_z_up(grid))
    file = sorted(folder.iterdir())[0]
    assert iou(y_read.voxels[0], load_shape_grid(file, 32, up="y")) > 0.9  # as encode reads it
    with pytest.raises(UsageError, match="up axis must be auto, z or y"):
        load_dataset(folder, 32, up="x")
    npz = tmp_path / "shapes.npz"
    np.savez(npz, voxels=z_read.voxels)
    with pytest.raises(UsageError, match="--up is for folders"):
        load_dataset(npz, 32, up="y")


def test_mesh_folder_is_voxelized_once(tmp_path, monkeypatch):
    for name, mesh in [("a", trimesh.creation.box()), ("b", trimesh.creation.icosphere())]:
        folder = tmp_path / "meshes" / name
        folder.mkdir(parents=True)
        mesh.export(folder / f"{name}.stl")
    cache = tmp_path / "cache"
    first = load_dataset(tmp_path / "meshes", resolution=16, cache_dir=cache)
    assert first.class_names == ["a", "b"] and first.voxels.shape == (2, 16, 16, 16)
    assert len(list(cache.glob("*.npy"))) == 2

    def fail(*args, **kwargs):
        raise AssertionError("voxelized again despite the cache")

    monkeypatch.setattr("gan3d_core.data.datasets.voxelize_mesh", fail)
    second = load_dataset(tmp_path / "meshes", resolution=16, cache_dir=cache)
    assert np.array_equal(first.voxels, second.voxels)


def test_bad_datasets(tmp_path):
    np.savez(tmp_path / "novox.npz", shapes=np.zeros((2, 4, 4, 4)))
    with pytest.raises(InputFileError, match="has no 'voxels' array"):
        load_dataset(tmp_path / "novox.npz")
    np.savez(tmp_path / "flat.npz", voxels=np.zeros((2, 4, 4)))
    with pytest.raises(InputFileError, match=r"must be \(N, R, R, R\)"):
        load_dataset(tmp_path / "flat.npz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError, match=r"no \.binvox or mesh files found"):
        load_dataset(tmp_path / "empty")
    with pytest.raises(InputFileError, match="no such dataset"):
        load_dataset(tmp_path / "missing.npz")


def test_shape_augmentation():
    grid = torch.zeros(1, 1, 8, 8, 8)
    grid[0, 0, 1:3, 1:5, 0:2] = 1.0
    mirrored = ShapeAugmentation(mirror=True)(
        grid.repeat(16, 1, 1, 1, 1), torch.Generator().manual_seed(0)
    )
    flipped = torch.flip(grid, dims=[2])
    kinds = {
        ("same" if torch.equal(m, grid[0]) else "flip" if torch.equal(m, flipped[0]) else "?")
        for m in mirrored
    }
    assert kinds == {"same", "flip"}
    shifted = ShapeAugmentation(translation_voxels=2.0)(
        grid.repeat(8, 1, 1, 1, 1), torch.Generator().manual_seed(1)
    )
    volumes = shifted.sum(dim=(1, 2, 3, 4))
    assert volumes.max() <= 16.0 and not all(torch.equal(s, grid[0]) for s in shifted)
    assert ShapeAugmentation()(grid) is grid


def test_image_augmentation_keeps_white_background():
    images = torch.ones(2, 3, 3, 32, 32)
    images[..., 12:20, 12:20] = 0.0
    out = augment_images(images, torch.Generator().manual_seed(0))
    assert out.shape == images.shape
    assert torch.allclose(out[..., 0, 0], torch.ones(2, 3, 3))
    assert out.min() < 0.1


def test_limit_takes_exactly_as_many_shapes_as_asked():
    labels = np.repeat(np.arange(10), 400)
    assert len(stratified_limit(labels, 5)) == 5
    modelnet_like = np.repeat(np.arange(10), [106, 515, 889, 200, 200, 465, 200, 680, 392, 344])
    for limit in (8, 300, 999):
        assert len(stratified_limit(modelnet_like, limit)) == limit


def test_a_class_folder_with_train_and_test_inside(tmp_path):
    voxels, _, _ = synthetic_shapes(per_class=2, resolution=16)
    for index, grid in enumerate(voxels[:4]):
        split = "test" if index == 0 else "train"
        (tmp_path / "chair" / split).mkdir(parents=True, exist_ok=True)
        write_binvox(tmp_path / "chair" / split / f"{index}.binvox", grid)
    train = load_dataset(tmp_path / "chair", split="train")
    test = load_dataset(tmp_path / "chair", split="test")
    assert train.class_names == test.class_names == ["chair"]
    assert (len(train), len(test)) == (3, 1)


def test_cached_arrays_are_written_without_a_copy_in_memory(tmp_path):
    import tracemalloc

    from gan3d_core.io.atomic import write_npy_atomic

    array = np.arange(4 << 20, dtype=np.uint8)  # 4 MiB: a rendered dataset can be 10 GB
    tracemalloc.start()
    try:
        write_npy_atomic(tmp_path / "views.npy", array)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < array.nbytes / 4
    assert np.array_equal(np.load(tmp_path / "views.npy"), array)


def test_a_folder_of_grids_of_two_sizes_loads_at_the_resolution_asked(tmp_path):
    """ShapeNet's 64^3 files beside 32^3 ones were refused ("grid is (32, 32, 32), others
    are (64, 64, 64)") though each could be brought to 32^3."""
    from gan3d_core.data.datasets import resample_grid
    from gan3d_core.io.binvox import write_binvox

    big = np.zeros((64, 64, 64), bool)
    big[10:50, 20:40, 0:60] = True
    (tmp_path / "chair").mkdir()
    write_binvox(tmp_path / "chair" / "big.binvox", big)
    write_binvox(tmp_path / "chair" / "small.binvox", resample_grid(big, 32) > 0)
    shapes = load_dataset(tmp_path, 32)
    assert shapes.voxels.shape == (2, 32, 32, 32)
    np.testing.assert_array_equal(shapes.voxels[0], shapes.voxels[1])
    with pytest.raises(InputFileError, match="others are"):
        load_dataset(tmp_path)  # no resolution asked: one size, or which?
    flat = tmp_path / "flat"  # not a cube: a traceback from VoxelDataset (review)
    (flat / "chair").mkdir(parents=True)
    write_binvox(flat / "chair" / "flat.binvox", np.ones((32, 32, 16), bool))
    with pytest.raises(InputFileError, match=r"flat\.binvox: grid is 32x32x16, not a cube"):
        load_dataset(flat, 32)


def test_a_folder_of_shapenet_files_is_recognised_for_its_up_axis_note(tmp_path):
    """gan3d train on ShapeNet's .binvox without --up y trained on chairs lying on their
    sides without a word; its model ids in the names tell such a folder."""
    from gan3d_core.data.datasets import looks_like_shapenet

    grid = np.zeros((8, 8, 8), bool)
    grid[2:6, 2:6, 2:6] = True
    (tmp_path / "chair").mkdir()
    for name in ("1a6f615e8b1b5ae4dbbc9440457e303e", "1ace72a88565df8e56bd8571ad86331a"):
        write_binvox(tmp_path / "chair" / f"{name}.binvox", grid)
    assert looks_like_shapenet(tmp_path)
    write_binvox(tmp_path / "chair" / "chair_0001.binvox", grid)
    write_binvox(tmp_path / "chair" / "chair_0002.binvox", grid)
    assert not looks_like_shapenet(tmp_path)  # half of them: not most
    assert not looks_like_shapenet(tmp_path / "chair" / "chair_0001.binvox")  # not a folder

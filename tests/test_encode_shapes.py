"""Shapes -> latents: the shape encoder refined by fitting (``GanModel.encode_shapes``,
``gan3d encode``, ``gan3d eval --task autoencode``) and the shape files it reads."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from gan3d_core import export_shape, load_model
from gan3d_core.cli import evaluation_key, main
from gan3d_core.data.datasets import (
    SHAPENET_Y_UP_TO_Z_UP,
    VoxelDataset,
    load_shape_grid,
    resample_grid,
    y_up_to_z_up,
    z_up_to_y_up,
)
from gan3d_core.errors import InputFileError, UsageError
from gan3d_core.evaluation import evaluate_autoencoding
from gan3d_core.fitting import VoxelFitSettings, fit_to_voxels
from gan3d_core.io.binvox import write_binvox
from gan3d_core.io.kinds import is_latent_path, is_shape_path, latent_file_path
from gan3d_core.metrics import iou
from tests.conftest import CLASS_NAMES, box_grid


@pytest.fixture(scope="module")
def tiny(lgan_checkpoint):
    return load_model(lgan_checkpoint, device="cpu")


def _reachable_shapes(model, count: int = 3, seed: int = 1) -> tuple[np.ndarray, list[int]]:
    """Shapes the decoder can make exactly: the decodings of random latents."""
    labels = [k % len(CLASS_NAMES) for k in range(count)]
    latents = 3 * np.random.default_rng(seed).standard_normal((count, model.latent_dim))
    return (model.decode(latents, labels) > 0.5).astype(np.float32), labels


def test_fitting_brings_a_latent_closer_to_its_shape():
    axis = torch.arange(32, dtype=torch.float32) - 15.5

    def box_logits(z):  # latent (K, 2): half width along x and half height along z, voxels
        in_x = (z[:, :1] - axis.abs()) * 4  # (K, R)
        in_z = (z[:, 1:] - axis.abs()) * 4
        in_y = (6.0 - axis.abs()) * 4
        return torch.minimum(
            torch.minimum(in_x[:, :, None, None], in_y[None, None, :, None]),
            in_z[:, None, None, :],
        )

    truth = torch.tensor([[12.0, 5.0], [4.0, 10.0]])
    with torch.no_grad():
        shapes = (box_logits(truth) > 0).float().numpy()
    start = np.array([[6.0, 9.0], [9.0, 6.0]], np.float32)
    fitted = fit_to_voxels(box_logits, start, shapes, VoxelFitSettings(steps=60, learning_rate=0.5))
    with torch.no_grad():
        before, after = (
            iou((box_logits(torch.from_numpy(z)) > 0).numpy(), shapes) for z in (start, fitted)
        )
    assert (after > before + 0.2).all() and (after > 0.9).all(), (before, after)
    np.testing.assert_allclose(fitted, truth.numpy(), atol=0.6)


def test_encoding_reports_how_well_each_shape_decodes_back(tiny):
    shapes, labels = _reachable_shapes(tiny)
    encoder_alone = tiny.encode_shapes(shapes, labels=labels, steps=0)
    fitted = tiny.encode_shapes(shapes, labels=labels, steps=40)
    assert fitted.latents.shape == (3, tiny.latent_dim) and fitted.latents.dtype == np.float32
    assert list(fitted.labels) == labels
    decoded = tiny.decode(fitted.latents, labels)
    np.testing.assert_allclose(fitted.iou, iou(decoded, shapes), atol=1e-6)
    assert encoder_alone.latents.shape == fitted.latents.shape
    assert not np.array_equal(encoder_alone.latents, fitted.latents)


def test_without_a_class_the_model_takes_the_nearest_training_latent_s(tiny):
    shapes, _ = _reachable_shapes(tiny)
    alone = tiny.encode_shapes(shapes, labels=0, steps=0).latents
    bank = tiny.networks.bank
    nearest = torch.cdist(torch.from_numpy(alone), bank.latents.float()).argmin(1)
    auto = tiny.encode_shapes(shapes, steps=0)
    np.testing.assert_array_equal(auto.labels, bank.labels[nearest].numpy())
    np.testing.assert_array_equal(auto.latents, alone)


def test_progress_runs_to_the_end_and_cancel_stops(tiny):
    from gan3d_core.errors import OperationCancelled

    shapes, labels = _reachable_shapes(tiny, count=5)
    seen = []
    tiny.encode_shapes(shapes, labels, steps=4, batch_size=2,
                       progress=lambda fraction, message: seen.append(fraction))  # fmt: skip
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    with pytest.raises(OperationCancelled):
        tiny.encode_shapes(shapes, labels, steps=4, should_stop=lambda: True)


def test_encoding_refuses_what_it_cannot_use(tiny, gan_checkpoint):
    with pytest.raises(UsageError, match="no shape encoder"):
        load_model(gan_checkpoint, device="cpu").encode_shapes(np.zeros((1, 32, 32, 32)))
    with pytest.raises(UsageError, match=r"\(N, 32, 32, 32\)"):
        tiny.encode_shapes(np.zeros((1, 16, 16, 16)))
    bad = np.zeros((1, 32, 32, 32), np.float32)
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(UsageError, match=r"\[0, 1\]"):
        tiny.encode_shapes(bad)
    with pytest.raises(UsageError, match="steps"):
        tiny.encode_shapes(np.zeros((1, 32, 32, 32)), labels=0, steps=-1)
    # wrongly typed numbers: one line, not a TypeError or range()'s ValueError (API review)
    for options, said in (({"steps": 2.5}, "steps must be a whole number 0 or more, got 2.5"),
                          ({"batch_size": 0}, "batch_size must be a whole number 1 or more")):  # fmt: skip
        with pytest.raises(UsageError, match=re.escape(said)):
            tiny.encode_shapes(np.zeros((1, 32, 32, 32)), labels=0, **options)
    with pytest.raises(UsageError, match="unknown class"):
        tiny.encode_shapes(np.zeros((1, 32, 32, 32)), labels="teapot")


def test_resampling_keeps_thin_parts_and_centres_an_oblong_grid():
    grid = np.zeros((64, 64, 64), np.uint8)
    grid[10, 20:40, 30] = 1  # a one-voxel rod
    small = resample_grid(grid, 32)
    assert small.shape == (32, 32, 32) and small[5, 10:20, 15].all() and small.sum() == 10
    oblong = np.ones((4, 8, 2), np.uint8)  # padded to 8^3 about its centre
    cube = resample_grid(oblong, 8)
    assert cube[2:6, :, 3:5].all() and cube.sum() == oblong.size
    assert resample_grid(np.ones((2, 2, 2)), 4).all()  # enlarged: nearest


def test_y_up_files_turn_z_up():
    grid = np.zeros((8, 8, 8), np.uint8)
    grid[4, 0:6, 4] = 1  # a column along y, the file's up
    turned = y_up_to_z_up(grid)
    assert turned.any(axis=(0, 1)).sum() == 6 and turned.any(axis=(0, 2)).sum() == 1


def test_shape_files_load_onto_the_models_grid(tmp_path):
    rod = np.zeros((64, 64, 64), np.float32)
    rod[30:34, 30:34, 0:64] = 1
    write_binvox(tmp_path / "rod.binvox", rod > 0.5)
    np.save(tmp_path / "rod.npy", rod)
    from_binvox = load_shape_grid(tmp_path / "rod.binvox", 32)
    assert from_binvox.shape == (32, 32, 32) and from_binvox.any(axis=(0, 1)).all()
    np.testing.assert_array_equal(load_shape_grid(tmp_path / "rod.npy", 32), from_binvox)
    lying = load_shape_grid(tmp_path / "rod.npy", 32, up="y")
    assert lying.any(axis=(0, 2)).all() and lying.any(axis=(0, 1)).sum() < 32  # along y now
    np.save(tmp_path / "empty.npy", np.zeros((8, 8, 8), np.float32))
    with pytest.raises(InputFileError, match=r"empty\.npy: grid has no occupied voxel"):
        load_shape_grid(tmp_path / "empty.npy", 32)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputFileError, match=r"notes\.txt: not a shape file"):
        load_shape_grid(tmp_path / "notes.txt", 32)
    with pytest.raises(UsageError, match="up axis must be auto, z or y"):
        load_shape_grid(tmp_path / "rod.npy", 32, up="x")


def test_a_mesh_fills_the_grid_as_the_training_shapes_do(tmp_path):
    trimesh = pytest.importorskip("trimesh")
    box = trimesh.creation.box(extents=(2.0, 1.0, 0.5))  # lowest along its file's z
    for name in ("box.stl", "box.glb"):
        box.export(tmp_path / name)
    occupied = np.argwhere(load_shape_grid(tmp_path / "box.stl", 32))
    extent = occupied.max(0) - occupied.min(0) + 1
    assert extent[0] == 32 and 15 <= extent[1] <= 17 and 7 <= extent[2] <= 9
    # glTF is y up by its specification: the file's y becomes our z
    occupied = np.argwhere(load_shape_grid(tmp_path / "box.glb", 32))
    extent = occupied.max(0) - occupied.min(0) + 1
    assert extent[0] == 32 and 7 <= extent[1] <= 9 and 15 <= extent[2] <= 17


@pytest.mark.parametrize("suffix", [".glb", ".3mf", ".obj"])
def test_a_shape_we_export_reads_back_as_it_was(tmp_path, suffix, capsys):
    """A GLB is written y up as glTF says (so Blender stands it up) and read back z up; every
    command that reads shapes (encode's reader, voxelize) takes it back as written."""
    trimesh = pytest.importorskip("trimesh")
    shape = box_grid(32, (4, 8, 0), (28, 16, 32))  # tallest along our z, thinnest along y
    shape[4:28, 8:24, 0:6] = 1  # a foot, so no half turn maps it onto itself
    path = export_shape(shape, tmp_path / f"tower{suffix}")
    file_extents = trimesh.load(path, force="mesh").extents
    assert np.argmax(file_extents) == (1 if suffix == ".glb" else 2)  # glTF's up is y
    reference = load_shape_grid(export_shape(shape, tmp_path / "tower.stl"), 32)
    np.testing.assert_array_equal(load_shape_grid(path, 32), reference)
    assert main(["voxelize", str(path), "-r", "32", "-o", str(tmp_path / "v.npy")]) == 0
    assert (
        main(["voxelize", str(tmp_path / "tower.stl"), "-r", "32", "-o", str(tmp_path / "r.npy")])
        == 0
    )
    np.testing.assert_array_equal(np.load(tmp_path / "v.npy"), np.load(tmp_path / "r.npy"))
    capsys.readouterr()


def test_shapes_go_through_blender_and_back_the_same_way_round(tmp_path):
    """Blender imports glTF turning (x, y, z) -> (x, -z, y) and exports it turning back: our
    GLB lands in Blender where our STL does, and Blender's GLB of it reads back as the STL.
    Other y-up files turn as ShapeNet's, whose chairs then face ModelNet's."""
    trimesh = pytest.importorskip("trimesh")
    shape = box_grid(32, (4, 8, 0), (28, 16, 32))
    shape[4:28, 8:24, 0:6] = 1  # a foot at the back: a half turn shows
    stl, glb = (export_shape(shape, tmp_path / f"tower{suffix}") for suffix in (".stl", ".glb"))
    gltf_to_blender = np.array([[1, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], float)
    in_blender = trimesh.load(glb, force="mesh").apply_transform(gltf_to_blender)
    in_blender.apply_scale(32)  # unsized, the GLB's grid spans 1 m, the STL's 32 units
    np.testing.assert_allclose(in_blender.bounds, trimesh.load(stl).bounds, atol=1e-4)
    np.testing.assert_allclose(in_blender.center_mass, trimesh.load(stl).center_mass, atol=1e-3)
    in_blender.apply_transform(np.linalg.inv(gltf_to_blender)).export(tmp_path / "blender.glb")
    reference = load_shape_grid(stl, 32)
    np.testing.assert_array_equal(load_shape_grid(tmp_path / "blender.glb", 32), reference)
    # a y-up OBJ (ShapeNet's axes) and a y-up grid of the same shape read alike
    as_shapenet = trimesh.load(stl).apply_transform(np.linalg.inv(SHAPENET_Y_UP_TO_Z_UP))
    as_shapenet.export(tmp_path / "shapenet.obj")
    write_binvox(tmp_path / "shapenet.binvox", z_up_to_y_up(reference) > 0)
    np.testing.assert_array_equal(load_shape_grid(tmp_path / "shapenet.obj", 32, up="y"), reference)
    np.testing.assert_array_equal(
        load_shape_grid(tmp_path / "shapenet.binvox", 32, up="y"), reference
    )


def test_gan3d_encode_writes_latents_that_interpolate(lgan_checkpoint, tmp_path, capsys):
    shape = box_grid(32, (8, 8, 4), (24, 24, 28))
    np.save(tmp_path / "a.npy", shape)
    write_binvox(tmp_path / "b.binvox", box_grid(32, (4, 12, 0), (28, 20, 32)) > 0.5)
    out = tmp_path / "out"
    args = ["encode", "--model", str(lgan_checkpoint), str(tmp_path / "a.npy"),
            str(tmp_path / "b.binvox"), "-o", str(out), "--steps", "3", "--format", "npy"]  # fmt: skip
    assert main(args) == 0
    printed, said = capsys.readouterr()
    assert printed.split()[-2:] == [str(out / "a.latent.npy"), str(out / "b.latent.npy")]
    # what each decodes as goes beside the paths a pipe reads
    assert "a.latent.npy: class " in said and "decodes at IoU" in said
    latent = np.load(out / "a.latent.npy")
    assert latent.shape == (8,) and np.load(out / "b.npy").shape == (32, 32, 32)
    assert main(["interpolate", "--model", str(lgan_checkpoint), "--latents",
                 str(out / "a.latent.npy"), str(out / "b.latent.npy"), "--steps", "3",
                 "--class", CLASS_NAMES[0], "-o", str(tmp_path / "morph"),
                 "--format", "npy"]) == 0  # fmt: skip
    assert len(list((tmp_path / "morph").glob("*.npy"))) == 3


def test_gan3d_encode_refuses_in_one_line(lgan_checkpoint, gan_checkpoint, tmp_path, capsys):
    np.save(tmp_path / "a.npy", box_grid(32, (8, 8, 4), (24, 24, 28)))
    (tmp_path / "other").mkdir()
    np.save(tmp_path / "other" / "a.npy", box_grid(32, (8, 8, 4), (24, 24, 28)))
    base = ["encode", "--model", str(lgan_checkpoint), "-o", str(tmp_path / "out")]
    cases = [
        ([str(tmp_path / "a.npy"), str(tmp_path / "other" / "a.npy")], "two inputs are named"),
        ([str(tmp_path / "a.npy"), "--steps", "100000"], "--steps must be between"),
        ([str(tmp_path / "missing.binvox")], "missing.binvox"),
        ([str(tmp_path / "a.npy"), "--class", "teapot"], "unknown class"),
    ]
    for extra, message in cases:
        assert main(base + extra) == 1
        error = capsys.readouterr().err.strip()
        assert message in error and "\n" not in error, error
    assert not (tmp_path / "out").exists()
    # a model without a shape encoder is refused before any shape is read
    assert main(["encode", "--model", str(gan_checkpoint), str(tmp_path / "missing.npy"),
                 "-o", str(tmp_path / "out")]) == 1  # fmt: skip
    assert "no shape encoder" in capsys.readouterr().err
    # a latent file given as a shape, before the model loads (this one does not exist)
    latent = tmp_path / "chair.LATENT.npy"
    np.save(latent, np.zeros(8, np.float32))
    assert main(["encode", "--model", str(tmp_path / "absent.safetensors"), str(latent),
                 "-o", str(tmp_path / "out")]) == 1  # fmt: skip
    assert "chair.LATENT.npy: a latent, not a shape" in capsys.readouterr().err


def test_gan3d_encode_keeps_dotted_names_apart_and_overwrites_nothing(
    lgan_checkpoint, tmp_path, capsys
):
    for name in ("a.v1.npy", "a.v2.npy"):
        np.save(tmp_path / name, box_grid(32, (8, 8, 4), (24, 24, 28)))
    out = tmp_path / "out"
    args = ["encode", "--model", str(lgan_checkpoint), str(tmp_path / "a.v1.npy"),
            str(tmp_path / "a.v2.npy"), "-o", str(out), "--steps", "1", "--format", "stl"]  # fmt: skip
    assert main(args) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        f"a.v{k}.{kind}" for k in (1, 2) for kind in ("latent.json", "latent.npy", "stl")
    ]
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    assert main(args) == 1
    assert "a.v1.latent.npy: already exists" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_autoencoding_is_measured_and_filed_under_its_own_key(tiny):
    shapes, labels = _reachable_shapes(tiny, count=4)
    dataset = VoxelDataset(shapes.astype(np.uint8), np.array(labels), CLASS_NAMES)
    result = evaluate_autoencoding(tiny, dataset, "given", steps=5)
    assert result["task"] == "autoencode" and result["n"] == 4 and result["refine"] == 5
    assert 0 <= result["iou"] <= 1 and set(result["per_class"]) <= set(CLASS_NAMES)
    assert "class_accuracy" not in result
    auto = evaluate_autoencoding(tiny, dataset, "auto", steps=0)
    assert 0 <= auto["class_accuracy"] <= 1
    json.dumps(result)  # goes into a model card
    assert evaluation_key(result) == "autoencode_given_refine5"
    assert evaluation_key(auto) == "autoencode_refine0"
    assert evaluation_key({**auto, "refine": VoxelFitSettings().steps}) == "autoencode"


def test_latent_files_are_named_as_gan3d_s_tools_write_them(tmp_path):
    for given in ("mine", "mine.npy", "mine.NPY", "mine.latent.npy"):
        assert latent_file_path(tmp_path / given) == tmp_path / "mine.latent.npy"
    assert latent_file_path(tmp_path / "MINE.LATENT.NPY") == tmp_path / "MINE.LATENT.NPY"
    assert latent_file_path(tmp_path / "mine.v2") == tmp_path / "mine.v2.latent.npy"


def test_a_latent_file_is_not_read_as_a_shape(tmp_path):
    latent = tmp_path / "chair.latent.npy"
    np.save(latent, np.zeros(8, np.float32))
    assert is_latent_path(latent) and not is_shape_path(latent)
    assert is_shape_path(tmp_path / "chair.npy") and not is_latent_path(tmp_path / "chair.npy")
    with pytest.raises(InputFileError, match=r"chair\.latent\.npy: a latent, not a shape"):
        load_shape_grid(latent, 32)

"""The gan3d CLI end to end on small checkpoints: outputs, and one-line errors on bad input."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import trimesh
from PIL import Image

from gan3d_core import load_model, load_voxels, write_binvox
from gan3d_core.cli import main
from gan3d_core.mesh.parts import count_shells
from tests.conftest import box_grid, object_photo


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_info_text_and_json(capsys, cvaegan_checkpoint):
    code, out, _ = run(capsys, "info", cvaegan_checkpoint)
    assert code == 0
    assert "kind         cvaegan" in out and "classes      chair, table, sofa" in out
    assert "weights      float32, " in out
    code, out, _ = run(capsys, "info", cvaegan_checkpoint, "--json")
    card = json.loads(out)
    assert card["config"]["resolution"] == 32 and card["class_names"][2] == "sofa"


def test_a_run_folder_stands_for_its_checkpoint(capsys, tmp_path, cvaegan_checkpoint):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(cvaegan_checkpoint, run_dir / "model.safetensors")
    code, out, _ = run(capsys, "info", run_dir)
    assert code == 0 and "cvaegan" in out
    assert load_model(run_dir, device="cpu").config.kind == "cvaegan"
    code, _, err = run(capsys, "info", tmp_path)  # a folder with no model in it
    assert code != 0 and "directory" in err and len(err.strip().splitlines()) == 1


def test_info_says_training_and_quality_in_words(capsys, tmp_path, cvaegan_checkpoint):
    results = [
        {"task": "recon", "views": 1, "labels": "auto", "iou": 0.61, "class_accuracy": 0.9,
         "per_class": {"chair": {"iou": 0.4}}, "retrieval_iou": 0.5, "subset": "validation"},
        {"task": "recon", "views": 1, "labels": "auto", "iou": 0.93, "subset": "train"},
        {"task": "recon", "views": 5, "labels": "auto", "iou": 0.7, "subset": "all",
         "data": "/data/mine.npz"},
        {"task": "gen", "coverage": 0.55, "1-nna": 0.58},
    ]  # fmt: skip
    files = []
    for index, result in enumerate(results):
        files.append(tmp_path / f"{index}.json")
        files[-1].write_text(json.dumps(result))
    packed = tmp_path / "packed.safetensors"
    assert run(capsys, "pack", cvaegan_checkpoint, "-o", packed, "--metrics", *files)[0] == 0
    code, out, _ = run(capsys, "info", packed)
    assert code == 0 and "{" not in out  # no raw JSON: --json has it
    lines = out.splitlines()
    quality = lines.index(next(line for line in lines if line.startswith("quality")))
    assert lines[quality] == (
        "quality      From one photo: IoU 0.61 on shapes it never saw (1 = perfect) "
        "(chairs 0.40); copying the most similar training shape: 0.50"
    )  # the training shapes' 0.93 is kept apart, not read as held out
    assert lines[quality + 1].endswith(
        "From five photos: IoU 0.70 on every shape of mine.npz, maybe some it trained on "
        "(1 = perfect)"
    )
    assert (
        json.loads(run(capsys, "info", packed, "--json")[1])["metrics"]["train_recon_1view_auto"][
            "iou"
        ]
        == 0.93
    )
    assert "Random shapes: cover 55% of the real ones; 1-NNA 0.58" in lines[quality + 3]
    assert any(line.startswith("training     ") for line in lines)


def test_pack_files_only_results_measured_on_the_model_it_packs(
    capsys, tmp_path, cvaegan_checkpoint, gan_checkpoint
):
    from gan3d_core.io.card import model_fingerprint
    from gan3d_core.io.checkpoint import read_model_card

    measured = {"task": "gen", "coverage": 0.5, "1-nna": 0.6, "checkpoint": "cv.safetensors",
                "model": model_fingerprint(read_model_card(cvaegan_checkpoint))}  # fmt: skip
    result = tmp_path / "gen.json"
    result.write_text(json.dumps(measured))
    packed = tmp_path / "packed.safetensors"
    code, _, err = run(capsys, "pack", gan_checkpoint, "-o", packed, "--metrics", result)
    assert_one_line_error(code, err, f"{result}: measured another model (cv.safetensors)")
    assert not packed.exists()
    assert run(capsys, "pack", cvaegan_checkpoint, "-o", packed, "--metrics", result)[0] == 0
    assert read_model_card(packed)["metrics"]["gen"]["coverage"] == 0.5


def test_eval_takes_the_model_s_classes_from_data_that_hold_more(
    capsys, tmp_path, cvaegan_checkpoint
):
    """A model trained on some of a file's classes (train --classes) is measured on those."""
    from tests.conftest import synthetic_shapes

    voxels, labels, _ = synthetic_shapes(per_class=3)
    data = tmp_path / "more.npz"  # the model's chair, table and sofa, and lamps before them
    np.savez(data, voxels=np.concatenate([voxels, voxels[:3]]),
             labels=np.concatenate([labels + 1, [0, 0, 0]]),
             class_names=np.array(["lamp", "chair", "table", "sofa"]))  # fmt: skip
    code, out, err = run(capsys, "eval", cvaegan_checkpoint, "--data", data, "--task", "gen",
                         "--json", "--device", "cpu")  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert list(result["per_class"]) == ["chair", "table", "sofa"] and result["n"] == 9


def test_card_words_leave_out_what_a_card_from_elsewhere_gets_wrong():
    from gan3d_core.io.card import quality_rows, training_words

    odd = {"recon_1view_auto": "high", "gen": {"coverage": 10**400, "1-nna": 0.6},
           "autoencode": {"iou": float("nan")}, "classify": [0.9],
           "recon_5view_auto": {"iou": 0.5, "per_class": "all"}}  # fmt: skip
    assert quality_rows(odd) == [
        ("From five photos", "IoU 0.50 on every shape, maybe some it trained on (1 = perfect)")
    ]
    assert quality_rows("not a mapping") == []
    training = {"data": 7, "stages": {"a": "x", "b": {"steps": "many", "seconds": 90,
                                                       "validation": {"iou": 0.7, "n": None}}}}  # fmt: skip
    assert training_words(training) == ["a: no figures", "b: 1.5 min, validation iou 0.700"]
    assert training_words(["list"]) == []
    end_to_end = {"data": "mine.npz", "shapes": 30, "steps": 120, "epochs": 4.0, "seconds": 90,
                  "device": "cpu"}  # fmt: skip
    assert training_words(end_to_end) == [
        "mine.npz (30 shapes)",
        "120 steps (4 epochs), 1.5 min, cpu",
    ]


def test_pack_halves_the_file_and_records_eval_results(capsys, tmp_path, cvaegan_checkpoint):
    from gan3d_core import load_model

    result = {"task": "recon", "views": 5, "labels": "given", "iou": 0.61, "n": 3}
    metrics = tmp_path / "recon.json"
    metrics.write_text(json.dumps(result))
    packed = tmp_path / "packed.safetensors"
    code, out, _ = run(capsys, "pack", cvaegan_checkpoint, "-o", packed, "--half",
                       "--metrics", metrics, "--name", "tiny", "--recipe", "r")  # fmt: skip
    assert code == 0 and out.strip() == str(packed)
    assert packed.stat().st_size < 0.6 * cvaegan_checkpoint.stat().st_size
    original, shipped = load_model(cvaegan_checkpoint), load_model(packed)
    assert shipped.card["metrics"]["recon_5view_given"]["iou"] == 0.61
    assert shipped.card["name"] == "tiny" and shipped.card["storage"] == "float16"
    latents = original.sample_latents(4, seed=1)
    a, b = original.decode(latents, labels=0), shipped.decode(latents, labels=0)
    assert np.abs(a - b).max() < 0.02  # float16 weights, float32 arithmetic

    metrics.write_text("[1, 2]")
    code, _, err = run(capsys, "pack", cvaegan_checkpoint, "-o", packed, "--metrics", metrics)
    assert_one_line_error(code, err, str(metrics), "not the output of gan3d eval")


def test_pack_int8_stores_large_matrices_as_int8(capsys, tmp_path, cvaegan_checkpoint, monkeypatch):
    from gan3d_core import load_model
    from gan3d_core.io import checkpoint

    monkeypatch.setattr(checkpoint, "INT8_MIN_VALUES", 512)
    half, small = tmp_path / "half.safetensors", tmp_path / "int8.safetensors"
    assert run(capsys, "pack", cvaegan_checkpoint, "-o", half, "--half")[0] == 0
    assert run(capsys, "pack", cvaegan_checkpoint, "-o", small, "--int8")[0] == 0
    assert small.stat().st_size < half.stat().st_size
    original, shipped = load_model(cvaegan_checkpoint), load_model(small)
    assert shipped.card["storage"] == "int8"
    _, out, _ = run(capsys, "info", small)
    assert "weights      int8 weight matrices, float16 elsewhere" in out
    latents = original.sample_latents(4, seed=1)
    a, b = original.decode(latents, labels=0), shipped.decode(latents, labels=0)
    assert np.abs(a - b).max() < 0.05
    with pytest.raises(SystemExit):
        run(capsys, "pack", cvaegan_checkpoint, "-o", small, "--int8", "--half")


def test_pack_sets_the_test_time_framing_shift(capsys, tmp_path, lgan_checkpoint):
    from gan3d_core import load_model

    packed = tmp_path / "framed.safetensors"
    assert run(capsys, "pack", lgan_checkpoint, "-o", packed, "--framing-shift", "0.03")[0] == 0
    assert load_model(packed).card["inference"]["framing_shift"] == 0.03
    _, out, _ = run(capsys, "info", packed)
    assert "framings     each view also read moved 3.0% of its side four ways" in out
    assert "image heads  1 on EfficientNet-Lite0, 64 px views" in out
    for value in ("0.5", "nan", "-0.1"):
        code, _, err = run(capsys, "pack", lgan_checkpoint, "-o", packed, "--framing-shift", value)
        assert_one_line_error(code, err, "--framing-shift must be in [0, 0.25]")
    assert load_model(packed).card["inference"]["framing_shift"] == 0.03  # left as it was


def test_pack_refuses_to_overwrite_its_input_and_settings_a_model_never_reads(
    capsys, tmp_path, cvaegan_checkpoint
):
    copy = tmp_path / "model.safetensors"
    copy.write_bytes(cvaegan_checkpoint.read_bytes())
    before = copy.read_bytes()
    code, _, err = run(capsys, "pack", copy, "-o", tmp_path / "." / "model.safetensors", "--half")
    assert_one_line_error(code, err, "is CKPT itself: pack writes a copy")
    code, _, err = run(capsys, "pack", copy, "-o", tmp_path / "out.safetensors",
                       "--refine-steps", "5", "--framing-shift", "0.02")  # fmt: skip
    said = "--framing-shift, --refine-steps: only staged models (--recipe) reconstruct with"
    assert_one_line_error(code, err, said, "is a cvaegan model")
    assert copy.read_bytes() == before and not (tmp_path / "out.safetensors").exists()


def test_pack_sets_the_fitting_defaults(capsys, tmp_path, lgan_checkpoint):
    from gan3d_core import load_model

    packed = tmp_path / "fitted.safetensors"
    options = ("--refine-steps", "12", "--retrieval-candidates", "0")
    assert run(capsys, "pack", lgan_checkpoint, "-o", packed, *options)[0] == 0
    inference = load_model(packed).card["inference"]
    assert (inference["refine_steps"], inference["retrieval_candidates"]) == (12, 0)
    _, out, _ = run(capsys, "info", packed)
    assert "fitting      12 silhouette-fitting steps from the image head's prediction" in out
    for option, value, message in (
        ("--refine-steps", "-1", "--refine-steps must be between 0 and 500, got -1"),
        ("--retrieval-candidates", "1000", "--retrieval-candidates must be between 0 and 64"),
    ):
        code, _, err = run(capsys, "pack", lgan_checkpoint, "-o", packed, option, value)
        assert_one_line_error(code, err, message)
    assert load_model(packed).card["inference"]["refine_steps"] == 12  # left as it was


def test_a_card_keys_results_by_how_they_differ_from_what_a_user_gets():
    from gan3d_core.cli import evaluation_key

    fitted = {"task": "recon", "views": 1, "labels": "auto", "refine": 30}
    plain = dict(fitted, refine=0)
    assert evaluation_key(fitted) == "recon_1view_auto_refine30"  # the model fits 0 steps
    assert evaluation_key(plain) == "recon_1view_auto"
    assert evaluation_key(fitted, 30) == "recon_1view_auto"  # the model fits 30 steps
    assert evaluation_key(plain, 30) == "recon_1view_auto_refine0"
    assert evaluation_key(dict(fitted, refine=None, views=5)) == "recon_5view_auto"  # end to end
    assert (
        evaluation_key(dict(plain, dataset="shapenet_chairs")) == "shapenet_chairs_recon_1view_auto"
    )
    assert evaluation_key({"task": "gen"}, 30) == "gen"
    assert evaluation_key(dict(plain, subset="train")) == "train_recon_1view_auto"


def test_sample_writes_meshes_and_latents(capsys, tmp_path, cvaegan_checkpoint):
    out_dir = tmp_path / "out"
    code, _out, err = run(
        capsys,
        "sample",
        "--model",
        cvaegan_checkpoint,
        "-n",
        3,
        "--seed",
        5,
        "--class",
        "chair",
        "-o",
        out_dir,
        "--format",
        "ply",
        "--save-latents",
    )
    assert code == 0, err
    meshes = sorted(out_dir.glob("*.ply"))
    assert [p.name for p in meshes] == [f"sample_chair_5_{i:03d}.ply" for i in range(3)]
    for path in meshes:
        assert len(trimesh.load(path).faces) > 0
    latent = np.load(out_dir / "sample_chair_5_001.latent.npy")
    from gan3d_core import load_model

    model = load_model(cvaegan_checkpoint)
    expected = model.sample_latents(3, seed=5)
    np.testing.assert_array_equal(latent, expected[1])
    parts = [count_shells(trimesh.load(path)) for path in meshes]  # pieces a slicer prints apart
    several = sum(count > 1 for count in parts)
    assert (f"{several} of 3 meshes hold separate parts" in err) == (several > 0), (parts, err)


def test_a_batch_keeps_the_user_s_files_and_its_other_shapes(
    capsys, tmp_path, cvaegan_checkpoint, monkeypatch
):
    out_dir = tmp_path / "out"
    sample = ("sample", "--model", cvaegan_checkpoint, "-n", 3, "--class", "chair",
              "--save-latents", "-o")  # fmt: skip
    assert run(capsys, *sample, out_dir)[0] == 0
    latent = (out_dir / "sample_chair_0_000.latent.npy").read_bytes()
    code, _, err = run(capsys, *sample, out_dir, "--format", "obj", "--truncation", "0.5")
    assert_one_line_error(code, err, "sample_chair_0_000.latent.npy: already exists")
    assert (out_dir / "sample_chair_0_000.latent.npy").read_bytes() == latent
    assert not list(out_dir.glob("*.obj"))
    for saved in out_dir.glob("*.latent.npy"):  # a class file left alone is kept too
        saved.unlink()
    code, _, err = run(capsys, *sample, out_dir, "--format", "obj")
    assert_one_line_error(code, err, "sample_chair_0_000.latent.json: already exists")
    # a file's name where a folder goes, and a folder that cannot be made, before any work
    monkeypatch.setattr("gan3d_core.cli._load_model", lambda args: pytest.fail("loaded"))
    for output, said in ((tmp_path / "one.stl", "sample writes a folder of files"),
                         ("/proc/gan3d_out", "cannot make the output folder"),
                         ("/proc", "cannot write in this output folder")):  # fmt: skip
        assert_one_line_error(*run(capsys, *sample, output)[::2], said)
    assert not (tmp_path / "one.stl").exists()
    monkeypatch.undo()
    # an empty shape is named and left out; the others are written
    from gan3d_core import load_model

    model = load_model(cvaegan_checkpoint)
    shapes = model.decode(model.sample_latents(3, seed=0), labels="chair")
    highest = np.sort(shapes.max(axis=(1, 2, 3)))
    threshold = float(highest[:2].mean())  # over the emptiest shape's highest occupancy
    code, _, err = run(capsys, *sample[:-2], "--threshold", threshold, "-o", tmp_path / "e")
    assert code == 1 and "1 of 3 shapes are empty at threshold" in err.splitlines()[-1]
    assert len(list((tmp_path / "e").glob("*.stl"))) == 2


def test_sample_npy_matches_api(capsys, tmp_path, gan_checkpoint):
    code, _, err = run(
        capsys, "sample", "--model", gan_checkpoint, "-n", 2, "-o", tmp_path, "--format", "npy"
    )
    assert code == 0, err
    from gan3d_core import load_model

    model = load_model(gan_checkpoint)
    expected = model.decode(model.sample_latents(2, seed=0))
    np.testing.assert_array_equal(np.load(tmp_path / "sample_0_001.npy"), expected[1])


def test_reconstruct_from_photos(capsys, tmp_path, multiview_checkpoint):
    paths = []
    for index, size in enumerate((90, 100)):
        path = tmp_path / f"view{index}.jpg"
        Image.fromarray(object_photo(size)).save(path)
        paths.append(path)
    out = tmp_path / "recon.binvox"
    code, _, err = run(
        capsys, "reconstruct", "--model", multiview_checkpoint, *paths, "-o", out, "--pool", "max"
    )
    assert code == 0, err
    from gan3d_core import load_model

    expected = load_model(multiview_checkpoint).reconstruct(paths, pool="max") > 0.5
    assert np.array_equal(load_voxels(out) > 0.5, expected)


def test_interpolate_seeds_and_latent_files(capsys, tmp_path, cvaegan_checkpoint):
    code, _, err = run(
        capsys,
        "interpolate",
        "--model",
        cvaegan_checkpoint,
        "--steps",
        4,
        "--seeds",
        1,
        2,
        "--class",
        "sofa",
        "-o",
        tmp_path / "a",
        "--format",
        "npy",
    )
    assert code == 0, err
    frames = [np.load(tmp_path / "a" / f"interp_{i:03d}.npy") for i in range(4)]
    from gan3d_core import load_model

    model = load_model(cvaegan_checkpoint)
    np.testing.assert_allclose(
        frames[0], model.decode(model.sample_latents(1, 1), "sofa")[0], atol=1e-6
    )
    np.save(tmp_path / "A.npy", np.zeros(8, np.float32))
    np.save(tmp_path / "B.npy", np.ones(8, np.float32))
    code, _, err = run(
        capsys,
        "interpolate",
        "--model",
        cvaegan_checkpoint,
        "--steps",
        3,
        "--latents",
        tmp_path / "A.npy",
        tmp_path / "B.npy",
        "--method",
        "lerp",
        "--class",
        "chair",
        "-o",
        tmp_path / "b",
    )
    assert code == 0, err
    assert len(list((tmp_path / "b").glob("*.stl"))) == 3


def test_a_conditional_model_needs_no_class(capsys, tmp_path, cvaegan_checkpoint):
    """Without --class, sample takes every class in turn, in an order the seed sets;
    interpolate's --seeds ends are those samples and each step takes its latent's class."""
    from gan3d_core import load_model

    model = load_model(cvaegan_checkpoint)
    code, out, err = run(capsys, "sample", "--model", cvaegan_checkpoint, "-n", 4, "--seed", 7,
                         "-o", tmp_path / "s", "--format", "npy", "--save-latents")  # fmt: skip
    assert code == 0, err
    written = [Path(line).name for line in out.split() if not line.endswith(".latent.npy")]
    classes = [name.split("_")[1] for name in written]
    assert sorted(classes[:3]) == ["chair", "sofa", "table"] and classes[3] == classes[0]
    assert written[0] == f"sample_{classes[0]}_7_000.npy"
    for index, name in enumerate(written):  # each as the API decodes it with its class
        latent = np.load(tmp_path / "s" / name.replace(".npy", ".latent.npy"))
        expected = model.decode(latent[None], classes[index])[0]
        np.testing.assert_allclose(np.load(tmp_path / "s" / name), expected, atol=1e-6)
        stored = json.loads((tmp_path / "s" / name.replace(".npy", ".latent.json")).read_text())
        assert stored == {"class": classes[index]}  # the class, kept beside the latent
    latents = [tmp_path / "s" / name.replace(".npy", ".latent.npy") for name in written[:2]]
    code, _, err = run(capsys, "interpolate", "--model", cvaegan_checkpoint, "--steps", 2,
                       "--latents", *latents, "-o", tmp_path / "l", "--format", "npy")  # fmt: skip
    assert code == 0 and err.startswith(f"decoded as {classes[0]} (step 0), {classes[1]} (step 1)")
    for index in range(2):  # both ends decode as sample wrote them
        np.testing.assert_allclose(
            np.load(tmp_path / "l" / f"interp_{index:03d}.npy"),
            np.load(tmp_path / "s" / written[index]), atol=1e-5,
        )  # fmt: skip
    code, _, err = run(capsys, "interpolate", "--model", cvaegan_checkpoint, "--steps", 3,
                       "--seeds", 7, 8, "-o", tmp_path / "i", "--format", "npy")  # fmt: skip
    assert code == 0, err
    assert err.startswith("decoded as ") and "--class decodes every step as one class" in err
    first = np.load(tmp_path / "i" / "interp_000.npy")
    np.testing.assert_allclose(
        first, np.load(tmp_path / "s" / written[0]), atol=1e-3
    )  # slerp at t=0
    code, out, _ = run(capsys, "info")  # the bundled model
    assert code == 0 and "default.safetensors" in out.splitlines()[0]


def test_surface_resolution_makes_finer_grids_from_an_implicit_decoder(
    capsys, tmp_path, implicit_checkpoint, lgan_checkpoint
):
    from gan3d_core import load_model

    code, out, _ = run(capsys, "info", implicit_checkpoint)
    assert code == 0 and "implicit     decoder of width 8" in out
    common = ["--class", "chair", "--format", "npy", "--surface-resolution", 40]
    code, _, err = run(capsys, "sample", "--model", implicit_checkpoint, "-n", 2, "-o",
                       tmp_path / "s", *common)  # fmt: skip
    assert code == 0, err
    model = load_model(implicit_checkpoint)
    expected = model.decode(model.sample_latents(2, labels="chair"), "chair", resolution=40)
    np.testing.assert_array_equal(np.load(tmp_path / "s" / "sample_chair_0_001.npy"), expected[1])
    code, _, err = run(capsys, "interpolate", "--model", implicit_checkpoint, "--steps", 2,
                       "--seeds", 1, 2, "-o", tmp_path / "i", *common)  # fmt: skip
    assert code == 0 and np.load(tmp_path / "i" / "interp_001.npy").shape == (40, 40, 40)
    photo = tmp_path / "photo.png"
    Image.fromarray(object_photo()).save(photo)
    code, _, err = run(capsys, "reconstruct", "--model", implicit_checkpoint, photo, "-o",
                       tmp_path / "r.npy", "--refine", 0, "--surface-resolution", 40)  # fmt: skip
    assert code == 0 and np.load(tmp_path / "r.npy").shape == (40, 40, 40)

    out_dir = tmp_path / "refused"
    for model_path, argv, fragments in [
        (implicit_checkpoint, ["--surface-resolution", 300], ["from 8 to 256, got 300"]),
        (implicit_checkpoint, ["-n", 9, "--surface-resolution", 256], ["9 shapes", "limit of 7"]),
        (lgan_checkpoint, ["--surface-resolution", 64], ["no implicit decoder"]),
    ]:
        code, _, err = run(capsys, "sample", "--model", model_path, "--class", "chair",
                           "-o", out_dir, *argv)  # fmt: skip
        assert_one_line_error(code, err, *fragments)
    assert not out_dir.exists()


def test_export_and_render_read_a_y_up_grid_upright(capsys, tmp_path):
    """ShapeNet's .binvox are y up: they exported and rendered lying on their backs, as
    encode and voxelize read them with --up y (printing and app reviews)."""
    from PIL import Image

    column = np.zeros((16, 16, 16), bool)
    column[6:10, 0:16, 6:10] = True  # tall along y, the file's up
    write_binvox(tmp_path / "column.binvox", column)
    code, _, _ = run(capsys, "export", tmp_path / "column.binvox", "-o", tmp_path / "c.stl",
                     "--up", "y", "--size-mm", 100)  # fmt: skip
    assert code == 0
    assert trimesh.load(tmp_path / "c.stl").extents == pytest.approx([25, 25, 100], abs=0.5)
    code, _, _ = run(capsys, "render", tmp_path / "column.binvox", "-o", tmp_path / "views",
                     "--up", "y", "--views", 1, "--size", 64)  # fmt: skip
    picture = np.asarray(Image.open(tmp_path / "views" / "column_view00.png").convert("L"))
    rows, columns = np.nonzero(picture < 200)
    assert code == 0 and np.ptp(rows) > 2 * np.ptp(columns)  # standing, not lying


def test_export_and_voxelize(capsys, tmp_path):
    grid = box_grid(16, (2, 2, 2), (10, 12, 14)) > 0.5
    grid[14, 14, 14] = True  # a speck that --min-part leaves out
    write_binvox(tmp_path / "box.binvox", grid)
    code, out, err = run(capsys, "export", tmp_path / "box.binvox", "-o", tmp_path / "all.stl")
    assert code == 0 and out.strip() == str(tmp_path / "all.stl")
    assert err.strip().splitlines() == [  # the speck, past the box's corner, sets the size
        "all.stl: the largest part is 93% as long as the whole: specks set the base and size",
        f"{tmp_path / 'all.stl'}: 2 separate parts; --min-part PERCENT leaves out those under "
        "PERCENT % of the largest",
    ]
    code, _, err = run(capsys, "export", tmp_path / "box.binvox", "-o", tmp_path / "box.stl",
                       "--size-mm", 120, "--min-part", 5)  # fmt: skip
    # said, as a table's legs may go too (printing review: --min-part 5 took them silently)
    assert code == 0 and err.strip() == (
        "box.stl: left out 1 part under 5 % of the largest, 1 of the shape's 961 voxels"
    )
    mesh = trimesh.load(tmp_path / "box.stl")
    assert len(mesh.split(only_watertight=False)) == 1
    assert mesh.extents.max() == pytest.approx(120, abs=1e-3)  # the box alone, sized
    code, _, err = run(capsys, "export", tmp_path / "box.binvox", "-o", tmp_path / "g.npy",
                       "--size-mm", 120, "--style", "blocks")  # fmt: skip
    assert code == 0 and err.strip() == (
        "note: --size-mm, --style blocks shape meshes; .npy files keep the voxel grid as it is"
    )
    code, _, err = run(capsys, "export", tmp_path / "box.binvox", "-o", tmp_path,
                       "--min-part", 5)  # fmt: skip
    assert_one_line_error(code, err, f"{tmp_path}: is a directory, expected a file name")
    code, _, err = run(capsys, "export", tmp_path / "box.binvox", "-o", tmp_path / "x.stl",
                       "--min-part", 150)  # fmt: skip
    assert_one_line_error(code, err, "--min-part must be a percentage from 0 to 100")
    assert not (tmp_path / "x.stl").exists()
    code, _, err = run(
        capsys, "voxelize", tmp_path / "box.stl", "-r", 32, "-o", tmp_path / "again.binvox"
    )
    assert code == 0, err
    grid = load_voxels(tmp_path / "again.binvox")
    assert grid.shape == (32, 32, 32) and grid[1:31].any() and not grid[0].any()
    # the same box through 3MF, the slicers' format, both ways
    code, _, err = run(capsys, "export", tmp_path / "box.binvox", "-o", tmp_path / "box.3mf",
                       "--size-mm", 120, "--min-part", 5)  # fmt: skip
    assert code == 0, err
    code, _, err = run(
        capsys, "voxelize", tmp_path / "box.3mf", "-r", 32, "-o", tmp_path / "from3mf.binvox"
    )
    assert code == 0, err
    np.testing.assert_array_equal(load_voxels(tmp_path / "from3mf.binvox"), grid)


def test_bad_inputs_give_one_line_and_no_output(capsys, tmp_path, gan_checkpoint):
    (tmp_path / "broken.binvox").write_bytes(b"#binvox 1\ndim 8 8 8\ndata\n\x01")
    (tmp_path / "fake.safetensors").write_bytes(b"\x00" * 64)
    (tmp_path / "cat.png").write_text("meow")
    cases = [
        (
            ["export", tmp_path / "broken.binvox", "-o", tmp_path / "x.stl"],
            ["broken.binvox", "truncated"],
        ),
        (["export", tmp_path / "absent.npy", "-o", tmp_path / "x.stl"], ["absent.npy", "no such"]),
        (  # the name's newline escaped, not the message cut at it
            ["export", tmp_path / "two\nlines.npy", "-o", tmp_path / "x.stl"],
            ["two\\nlines.npy: no such"],
        ),
        (
            ["export", tmp_path / "broken.binvox", "-o", tmp_path / "x.fbx"],
            ["x.fbx", "unknown export format"],
        ),
        (["info", tmp_path / "fake.safetensors"], ["fake.safetensors", "not a .safetensors file"]),
        (
            ["sample", "--model", tmp_path / "fake.safetensors", "-o", tmp_path / "s"],
            ["fake.safetensors"],
        ),
        (
            ["sample", "--model", gan_checkpoint, "--class", "chair", "-o", tmp_path / "s"],
            ["not conditional"],
        ),
        (
            [
                "reconstruct",
                "--model",
                gan_checkpoint,
                tmp_path / "cat.png",
                "-o",
                tmp_path / "r.stl",
            ],
            ["no image encoder"],
        ),
        (["voxelize", tmp_path, "-o", tmp_path / "v.binvox"], ["is a directory"]),
        (
            ["sample", "--model", gan_checkpoint, "--threshold", 0.9999, "-o", tmp_path / "s"],
            ["empty at threshold"],
        ),
    ]
    before = sorted(p.name for p in tmp_path.iterdir())
    for argv, fragments in cases:
        code, _, err = run(capsys, *argv)
        assert_one_line_error(code, err, *fragments)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_module_entry_point_in_a_subprocess(tmp_path):
    missing = tmp_path / "nope.safetensors"
    result = subprocess.run(
        [sys.executable, "-m", "gan3d_core.cli", "info", str(missing)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == f"gan3d info: error: {missing}: no such checkpoint"


@pytest.mark.parametrize(
    "command", ["info", "sample", "reconstruct", "interpolate", "export", "voxelize"]
)
def test_every_command_has_help(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: gan3d {command}")


def test_pack_adds_image_heads_as_an_averaged_ensemble(capsys, tmp_path, lgan_checkpoint):
    """Heads trained apart on the same autoencoder join one model, whose image head is their
    average; a head trained on another autoencoder is refused."""
    import torch

    from gan3d_core import load_model
    from gan3d_core.io.checkpoint import load_checkpoint, save_checkpoint

    networks, card = load_checkpoint(lgan_checkpoint)
    torch.manual_seed(1)
    for parameter in networks.image_head.parameters():
        parameter.data.normal_(std=0.5)
    other = save_checkpoint(tmp_path / "other_head.safetensors", networks, card)
    packed = tmp_path / "ensemble.safetensors"
    code, out, _ = run(capsys, "pack", lgan_checkpoint, "-o", packed, "--add-heads", other)
    assert code == 0 and out.strip() == str(packed)
    ensemble = load_model(packed)
    assert ensemble.config.head_members == 2
    members = [
        member["from"] for member in ensemble.card["training"]["stages"]["image_head"]["members"]
    ]
    assert members == [lgan_checkpoint.name, other.name]  # no folders: see the next test
    photo = object_photo()
    latents = [
        load_model(path).reconstruct_latent(photo, refine=0).latent
        for path in (lgan_checkpoint, other)
    ]
    averaged = ensemble.reconstruct_latent(photo, refine=0).latent
    assert np.allclose(averaged, np.mean(latents, axis=0), atol=1e-5)

    for parameter in networks.generator.parameters():
        parameter.data.add_(0.1)
    stranger = save_checkpoint(tmp_path / "stranger.safetensors", networks, card)
    code, _, err = run(capsys, "pack", lgan_checkpoint, "-o", packed, "--add-heads", stranger)
    assert_one_line_error(code, err, str(stranger), "another autoencoder")


def test_a_packed_card_names_its_files_without_folders_and_keeps_its_fingerprint(
    capsys, tmp_path, lgan_checkpoint
):
    """The run's card records where its data and start lay; the shipped copy names them
    alone, and is still the same model to gan3d pack --metrics and saved sessions."""
    from gan3d_core.io.card import model_fingerprint
    from gan3d_core.io.checkpoint import load_checkpoint, read_model_card, save_checkpoint

    networks, card = load_checkpoint(lgan_checkpoint)
    card["training"] = {"data": "/home/ada/datasets/chairs.npz", "shapes": 3,
                        "settings": {"data": "/home/ada/datasets/chairs.npz",
                                     "init_from": "../runs/first/model.safetensors"}}  # fmt: skip
    card["metrics"] = {"gen": {"task": "gen", "checkpoint": "C:\\Users\\ada\\x.safetensors"}}
    run_model = save_checkpoint(tmp_path / "run.safetensors", networks, card)
    packed = tmp_path / "shipped.safetensors"
    code, _, _ = run(capsys, "pack", run_model, "-o", packed)
    assert code == 0
    shipped = read_model_card(packed)
    assert shipped["training"]["data"] == "chairs.npz"
    assert shipped["training"]["settings"]["init_from"] == "model.safetensors"
    assert shipped["metrics"]["gen"]["checkpoint"] == "x.safetensors"
    assert "/home/ada" not in json.dumps(shipped) and "Users" not in json.dumps(shipped)
    assert model_fingerprint(shipped) == model_fingerprint(read_model_card(run_model))
    # a result measured before fingerprints ignored folders is still this model's
    described = {key: read_model_card(run_model).get(key)
                 for key in ("config", "class_names", "training")}  # fmt: skip
    legacy = hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode())
    result = tmp_path / "eval.json"
    result.write_text(json.dumps({"task": "gen", "model": legacy.hexdigest(), "coverage": 0.5}))
    code, _, _ = run(capsys, "pack", run_model, "-o", packed, "--metrics", result)
    assert code == 0 and read_model_card(packed)["metrics"]["gen"]["coverage"] == 0.5
    code, out, _ = run(capsys, "info", packed)
    assert code == 0 and "chairs.npz (3 shapes)" in out


def test_progress_in_a_log_file_writes_a_line_a_minute_while_work_advances(capsys, monkeypatch):
    import types

    from gan3d_core import cli

    clock = [0.0]
    monkeypatch.setattr(cli, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    steps = ((1, 0.01), (10, 0.02), (40, 0.03), (75, 0.04), (80, 0.05), (100, 0.12), (200, 0.12))
    with cli.progress_bar("training") as progress:  # stderr is not a terminal here
        for seconds, fraction in steps:
            clock[0] = seconds
            progress(fraction, "features")
    # a minute with no tenth passed: one line; a tenth passed: one line; no advance: none
    assert capsys.readouterr().err.splitlines() == [
        "training: 4% after 1.2 min features",
        "training: 12% after 1.7 min features",
    ]


def test_a_reader_that_stops_early_ends_the_command_quietly(cvaegan_checkpoint):
    # `gan3d info CKPT | head -1`: the pipe closes before everything is written
    command = [sys.executable, "-m", "gan3d_core.cli", "info", str(cvaegan_checkpoint)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    errors = process.stderr.read()
    assert process.wait(timeout=60) == 141 and errors == b""


def test_reconstruct_says_what_it_found_and_saves_the_latent(capsys, tmp_path, lgan_checkpoint):
    photo = tmp_path / "chair.png"
    Image.fromarray(object_photo(90)).save(photo)
    out = tmp_path / "chair.npy"
    args = ["reconstruct", "--model", lgan_checkpoint, photo, "-o", out, "--refine", 2]
    code, printed, err = run(capsys, *args, "--save-latent")
    assert code == 0, err
    latent_path = tmp_path / "chair.latent.npy"
    assert printed.split() == [str(out), str(latent_path)]
    from gan3d_core import load_model

    model = load_model(lgan_checkpoint)
    found = model.reconstruct_latent([photo], refine=2)
    summary = err.strip().splitlines()[-1]
    assert summary.startswith(f"decoded as {model.class_names[found.label]} (class found)")
    assert "camera at azimuth" in summary and "silhouette fit IoU" in summary
    # the latent file decodes, as the app or interpolate --latents would, into the shape written
    latent = np.load(latent_path)
    np.testing.assert_allclose(latent, found.latent, atol=1e-5)
    np.testing.assert_allclose(np.load(out), model.decode(latent[None], found.label)[0], atol=1e-5)
    code, _, err = run(capsys, *args, "--class", "chair")
    assert code == 0 and "decoded as chair (class given)" in err
    # a latent that cannot be written takes its shape with it (audit: a full disk left it)
    from gan3d_core.errors import OutputFileError

    def full_disk(*_, **__):
        raise OutputFileError(f"{latent_path}: cannot write (No space left on device)")

    for written in (out, latent_path):
        written.unlink()
    with mock.patch("gan3d_core.io.latent_files.write_latent", full_disk):
        code, _, err = run(capsys, *args, "--save-latent")
    assert code == 1 and "No space left on device" in err
    assert not out.exists() and not latent_path.exists()
    # files that were there before come back as they were, a link's target too
    target = tmp_path / "kept.npy"
    np.save(target, np.zeros((2, 2, 2)))
    out.symlink_to(target)
    np.save(latent_path, np.ones(3))
    with mock.patch("gan3d_core.io.latent_files.write_latent", full_disk):
        code, _, err = run(capsys, *args, "--save-latent")
    assert code == 1 and out.is_symlink() and np.load(target).shape == (2, 2, 2)
    np.testing.assert_array_equal(np.load(latent_path), np.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["chair.png", "chair.npy", "kept.npy", "chair.latent.npy", "chair.latent.json"]
    )  # no copy kept behind


def test_reconstruct_each_photo_as_its_own_object(capsys, tmp_path, lgan_checkpoint):
    photos = []
    for name, size in (("tall.png", 80), ("wide.jpg", 110)):
        photos.append(tmp_path / name)
        Image.fromarray(object_photo(size)).save(photos[-1])
    out = tmp_path / "shapes"
    common = ["reconstruct", "--model", lgan_checkpoint, "--refine", 1, "--each", "-o", out]
    code, printed, err = run(capsys, *common, *photos, "--format", "npy", "--save-latent")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == [  # each latent with its class beside it
        f"{name}.{kind}" for name in ("tall", "wide") for kind in ("latent.json", "latent.npy", "npy")
    ]  # fmt: skip
    assert len(printed.split()) == 4
    from gan3d_core import load_model

    model = load_model(lgan_checkpoint)
    for photo in photos:  # each as if reconstructed alone
        found = model.reconstruct_latent(photo, refine=1)
        expected = model.decode(found.latent[None], found.label)[0]
        np.testing.assert_allclose(np.load(out / f"{photo.stem}.npy"), expected, atol=1e-5)
        np.testing.assert_allclose(
            np.load(out / f"{photo.stem}.latent.npy"), found.latent, atol=1e-5
        )
        assert f"{photo.name}: decoded as {model.class_names[found.label]} (class found)" in err
    # an interrupted batch goes on: photos whose shape is there are left out
    (out / "wide.npy").unlink()
    kept = (out / "tall.npy").read_bytes()
    code, printed, err = run(capsys, *common, *photos, "--format", "npy", "--skip-existing")
    assert code == 0 and "1 of 2 photos have their outputs in" in err
    assert printed.split() == [str(out / "wide.npy")] and (out / "tall.npy").read_bytes() == kept
    # with --save-latent, a photo whose latent is missing is not done: its latent is written
    (out / "tall.latent.npy").unlink()
    (out / "tall.latent.json").unlink()
    argv = [*common, *photos, "--format", "npy", "--skip-existing", "--save-latent"]
    code, printed, err = run(capsys, *argv)
    assert code == 0 and printed.split() == [str(out / "tall.latent.npy")]
    assert (out / "tall.npy").read_bytes() == kept and (out / "tall.latent.json").is_file()
    # a photo whose shape would be named as a latent is refused before any work
    named = tmp_path / "odd.latent.png"
    Image.fromarray(object_photo(90)).save(named)
    code, _, err = run(capsys, *common[:-1], tmp_path / "odd", named, "--format", "npy")
    assert_one_line_error(code, err, "odd.latent.png: its shape would be odd.latent.npy")
    # a bad photo among good ones is named before any work, and nothing is written
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    code, _, err = run(capsys, *common[:-1], tmp_path / "more", photos[0], broken)
    assert code != 0 and "broken.png" in err and not (tmp_path / "more").exists()
    refused = [
        ([*common, *photos, "--pool", "max"], "--pool combines views"),
        ([*common, *photos, "--box", "0,0,5,5"], "--box marks one photo's object"),
        ([*common, *photos, "--format", "npy"], "tall.npy: already exists"),
        (
            [*common[:-1], tmp_path / "shapes.stl", *photos],
            "reconstruct --each writes a folder of files",
        ),
        ([*common[:-1], photos[0] / "inside", *photos], "is not a folder"),
    ]
    twins = tmp_path / "other" / "Tall.jpg"  # one file on a case-blind disk
    twins.parent.mkdir()
    twins.write_bytes(photos[0].read_bytes())
    refused.append(([*common[:-1], tmp_path / "twins", photos[0], twins], "named 'tall'"))
    single = ["reconstruct", "--model", lgan_checkpoint, photos[0], "-o"]
    refused += [
        ([*single, tmp_path / "one.stl", "--format", "npy"], "--format goes with --each"),
        ([*single, tmp_path / "one.latent.npy"], "named like a latent file"),
        ([*single, tmp_path / "absent" / "one.stl"], "does not exist"),
    ]
    (tmp_path / "two.latent.npy").mkdir()
    refused.append(([*single, tmp_path / "two.stl", "--save-latent"], "is a directory"))
    for argv, words in refused:
        code, _, err = run(capsys, *argv)
        assert code != 0 and words in err, (argv, err)
    assert not (tmp_path / "two.stl").exists() and not (tmp_path / "shapes.stl").exists()
    # a shape that comes out empty is named and skipped; the status says so at the end
    code, printed, err = run(capsys, *common[:-1], tmp_path / "dim", *photos, "--threshold", 0.9999)
    assert code != 0 and "2 of 2 photos made an empty shape" in err and "tall.png: skipped" in err
    assert not printed and not any((tmp_path / "dim").glob("*"))


def test_reconstruction_summary_reads_cameras_within_one_turn_and_pairs_views():
    from gan3d_core.inference import ReconstructedLatent

    one = ReconstructedLatent(np.zeros(2), 1, [], np.array([359.6]), np.array([12.2]), 0.691)
    assert one.describe(["bed", "chair"]) == (
        "decoded as chair (class found); camera at azimuth 0°, elevation 12°; "
        "silhouette fit IoU 0.69"
    )
    two = ReconstructedLatent(np.zeros(2), 0, [], np.array([10.0, 200.4]), np.array([30.0, -3.0]))
    assert two.describe(["bed", "chair"], class_given=True) == (
        "decoded as bed (class given); cameras at azimuth/elevation 10°/30°, 200°/-3°"
    )


def test_an_interrupted_batch_leaves_none_of_its_files(
    capsys, tmp_path, monkeypatch, gan_checkpoint
):
    """Ctrl-C as the second file is written: the first (already in place) goes too, and the
    same command then runs again."""
    from gan3d_core.mesh import export

    real = export.write_shape
    calls = []

    def interrupted(shape, path, options):
        calls.append(path)
        if len(calls) == 2:
            real(shape, path, options)  # in place, then the interrupt, before it returns
            raise KeyboardInterrupt
        return real(shape, path, options)

    monkeypatch.setattr(export, "write_shape", interrupted)
    out = tmp_path / "out"
    argv = ["sample", "--model", gan_checkpoint, "-n", "3", "-o", out, "--format", "npy"]
    assert run(capsys, *argv)[0] == 130
    assert list(out.iterdir()) == []
    monkeypatch.setattr(export, "write_shape", real)
    assert run(capsys, *argv)[0] == 0 and len(list(out.iterdir())) == 3


@pytest.mark.parametrize(
    "argv, said",
    [
        (["sample", "-n", "1", "--seed", "-1"], "got '-1'"),
        (["interpolate", "--seeds", "-1", "5"], "got '-1'"),
        # audit: 300 digits made a file name too long (a traceback); 5000 were all repeated
        (["sample", "--seed", "9" * 300], "got '99999999999999999999... (300 characters)'"),
        (["sample", "--seed", str(2**31)], "got '2147483648'"),
    ],
)
def test_a_seed_out_of_range_is_refused_in_one_line(capsys, tmp_path, argv, said):
    with pytest.raises(SystemExit) as exited:  # as argparse refuses any bad value
        main([*argv, "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert (
        exited.value.code == 1 and f"a seed is a whole number from 0 to 2147483647, {said}" in err
    )
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("stop, code", [("SIGTERM", 143), ("SIGHUP", 129)])
def test_sigterm_ends_a_batch_as_ctrl_c_does(tmp_path, cvaegan_checkpoint, stop, code):
    """kill, timeout or a cancelled CI job (SIGTERM), a terminal closed (SIGHUP): exit
    128 + the signal, and none of the batch's files left (audit: SIGHUP left them)."""
    import os
    import signal
    import time

    out = tmp_path / "out"
    command = [sys.executable, "-m", "gan3d_core.cli", "sample", "--model", str(cvaegan_checkpoint),
               "-n", "500", "--class", "chair", "-o", str(out), "--format", "stl"]  # fmt: skip
    # as from a terminal: under nohup (SIGHUP ignored, inherited) the command outlives it
    process = subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL),
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (out.is_dir() and any(out.glob("*.stl"))) and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(getattr(signal, stop))
    _, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert err.strip().splitlines()[-1] == "gan3d sample: terminated"
    assert not list(out.glob("*")), os.listdir(out)


def test_a_path_the_system_refuses_is_one_line_naming_it(capsys, tmp_path, cvaegan_checkpoint):
    """Audit: a name over 255 bytes gave OSError tracebacks in info, render, sample and
    voxelize, and a legal 249-byte output name could not be written (the temporary file's
    name passed 255)."""
    long = tmp_path / ("c" * 300 + ".safetensors")
    code, _, err = run(capsys, "info", long)
    assert code == 1 and err.strip() == (
        f"gan3d info: error: {long}: cannot read checkpoint (File name too long)"
    )
    code, _, err = run(capsys, "pack", cvaegan_checkpoint, "-o", tmp_path / "model.pt")
    assert code == 1 and "pack writes a .safetensors file" in err  # audit: it wrote one as .pt
    # a grid named as a latent would be read as one (audit: export and voxelize wrote it)
    box = tmp_path / "named.binvox"
    write_binvox(box, box_grid(16, (2, 2, 2), (10, 12, 14)) > 0.5)
    code, _, err = run(capsys, "export", box, "-o", tmp_path / "z.latent.npy")
    assert code == 1 and "a shape named like a latent file" in err
    write_binvox(tmp_path / "box.binvox", box_grid(16, (2, 2, 2), (10, 12, 14)) > 0.5)
    legal = tmp_path / ("b" * 245 + ".stl")
    code, _, err = run(capsys, "export", tmp_path / "box.binvox", "-o", legal)
    assert code == 0 and legal.is_file(), err


def test_inputs_are_checked_before_the_model_loads(
    capsys, tmp_path, monkeypatch, cvaegan_checkpoint, lgan_checkpoint
):
    """CLI review: a text file named .png, a box past the photo, a truncated .binvox or a
    NaN latent were named only after the 3-11 s a model takes to load."""
    import gan3d_core.cli as cli
    from gan3d_core.io.checkpoint import read_model_config

    def no_loading(args):
        raise AssertionError("the model loaded before the inputs were read")

    monkeypatch.setattr(cli, "_load_model", no_loading)
    text = tmp_path / "text.png"
    text.write_text("not a picture")
    photo = tmp_path / "photo.png"
    Image.fromarray(object_photo()).save(photo)  # 116 x 96
    (tmp_path / "cut.binvox").write_bytes(b"#binvox 1\ndim 32 32 32\n")
    np.save(tmp_path / "nan.latent.npy", np.full(16, np.nan, np.float32))
    np.save(tmp_path / "ok.latent.npy", np.zeros(16, np.float32))
    np.save(tmp_path / "grid.npy", np.zeros((32, 32, 32), np.float32))
    model = ["--model", cvaegan_checkpoint]
    for argv, said in (
        (["reconstruct", text, "-o", tmp_path / "a.stl"], "text.png: cannot read image"),
        (["reconstruct", photo, "--box", "50,50,100,20", "-o", tmp_path / "a.stl"],
         "photo.png: the object box 100 x 20 at 50, 50 runs past this 116 x 96 image"),
        (["encode", tmp_path / "cut.binvox", "-o", tmp_path / "enc", "--model", lgan_checkpoint],
         "cut.binvox"),
        (["interpolate", "--latents", tmp_path / "nan.latent.npy", tmp_path / "ok.latent.npy",
          "--steps", "3", "-o", tmp_path / "interp"], "nan.latent.npy"),
        # a grid given for a latent said only "over the limit of 4,096 elements"
        (["interpolate", "--latents", tmp_path / "grid.npy", tmp_path / "ok.latent.npy",
          "--steps", "3", "-o", tmp_path / "interp"],
         f"grid.npy: latent (of {read_model_config(cvaegan_checkpoint).latent_dim} values) of"),
    ):  # fmt: skip
        code, _, err = run(capsys, *argv, *([] if "--model" in argv else model))
        assert_one_line_error(code, err, said)

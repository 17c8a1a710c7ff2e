"""Training: every family end to end, exact resume, divergence, CLI, torchrun, eval."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from gan3d_core import InputFileError, load_model
from gan3d_core.cli import main
from gan3d_core.io.checkpoint import read_model_card
from gan3d_core.training import (
    TrainConfig,
    TrainerCallback,
    TrainingDiverged,
    prepare_data,
    train_run,
)
from tests.conftest import object_photo

pytest.importorskip("pyvista", reason="training views need the [train] extra (pyvista)")

TINY = dict(
    resolution=32,
    latent_dim=8,
    generator_widths=[16, 8, 4],
    discriminator_widths=[4, 8, 16],
    encoder_widths=[4, 8, 8, 16],
    image_size=64,
    rendered_views=4,
    batch_size=5,
    epochs=2,
    validation_samples=4,
    validate_every=3,
    checkpoint_every=2,
    soft_labels=True,
    recon_loss="bce",
    recon_weight=1.0,
    kl_weight=3.0,
    recon_in_discriminator="real",
    generator_dropout=0.1,
    discriminator_dropout=0.1,
)
VIEWS = {"gan": 1, "vaegan": 1, "multiview": 3, "cvaegan": 2}


def tiny_config(kind: str, data, cache, **overrides) -> TrainConfig:
    settings = dict(TINY, kind=kind, data=str(data), cache_dir=str(cache), views=VIEWS[kind])
    if kind == "multiview":
        settings["pool"] = "lstm"
    settings.update(overrides)
    return TrainConfig(**settings)


class Recorder(TrainerCallback):
    def __init__(self):
        self.logs, self.validations = [], []

    def on_step_end(self, trainer, logs):
        self.logs.append((trainer.step, logs))

    def on_validation_end(self, trainer, metrics, images):
        self.validations.append(metrics)


@pytest.mark.parametrize("kind", ["gan", "vaegan", "multiview", "cvaegan"])
def test_each_family_trains_and_writes_a_usable_checkpoint(kind, synthetic_npz, cache, tmp_path):
    from gan3d_core.training.callbacks import TensorBoardCallback

    config = tiny_config(kind, synthetic_npz, cache)
    recorder = Recorder()
    board = TensorBoardCallback(tmp_path / "events")
    trainer = train_run(config, tmp_path, callbacks=[recorder, board], device="cpu")
    assert trainer.step == trainer.total_steps == 2 * (15 // 5)
    assert [step for step, _ in recorder.logs] == list(range(1, 7))
    assert all(np.isfinite(v) for _, logs in recorder.logs for v in logs.values())

    model = load_model(tmp_path / "model.safetensors", device="cpu")
    assert model.config.kind == kind and model.class_names == ["box", "ball", "column"]
    card = read_model_card(tmp_path / "model.safetensors")
    assert card["training"]["steps"] == 6 and card["training"]["shapes"] == 15
    assert card["training"]["settings"]["split_seed"] == 0
    assert "samples_mean_pairwise_iou" in card["metrics"]["validation"]
    if kind != "gan":
        assert 0.0 <= card["metrics"]["validation"]["iou"] <= 1.0
        assert "loss_e" in recorder.logs[0][1] and "kl" in recorder.logs[0][1]
        shape = model.reconstruct(object_photo(), label=0 if kind == "cvaegan" else None)
        assert shape.shape == (32, 32, 32)

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "events"))
    events.Reload()
    tags = events.Tags()
    assert {"train/loss_d", "train/loss_g", "validation/samples_mean_pairwise_iou"} <= set(
        tags["scalars"]
    )
    assert len(events.Scalars("train/loss_d")) == 6
    assert "images/samples" in tags["images"]


def _run(config, run_dir, stop_after=None, resume=False):
    recorder = Recorder()

    def should_stop():
        return stop_after is not None and len(recorder.logs) >= stop_after

    trainer = train_run(
        config, run_dir, resume=resume, callbacks=[recorder], should_stop=should_stop, device="cpu"
    )
    return trainer, recorder


@pytest.mark.parametrize("kind", ["gan", "multiview"])
def test_resume_continues_exactly(kind, synthetic_npz, cache, tmp_path):
    config = tiny_config(kind, synthetic_npz, cache, checkpoint_every=100)
    data = prepare_data(config)
    straight = train_run(
        config, tmp_path / "straight", callbacks=[rec := Recorder()], device="cpu", data=data
    )
    assert straight.step == 6
    stopped, _ = _run(config, tmp_path / "split", stop_after=4)
    assert stopped.step == 4
    _, second = _run(config, tmp_path / "split", resume=True)
    assert [s for s, _ in second.logs] == [5, 6]
    for (step_a, logs_a), (step_b, logs_b) in zip(rec.logs[4:], second.logs):
        assert step_a == step_b
        for key in logs_a:
            assert logs_b[key] == pytest.approx(logs_a[key], rel=1e-5, abs=1e-6), (step_a, key)
    a = load_model(tmp_path / "straight" / "model.safetensors", device="cpu")
    b = load_model(tmp_path / "split" / "model.safetensors", device="cpu")
    z = a.sample_latents(2)
    np.testing.assert_allclose(a.decode(z), b.decode(z), atol=1e-5)


def test_divergence_stops_and_keeps_the_last_good_checkpoint(
    synthetic_npz, cache, tmp_path, monkeypatch
):
    from gan3d_core.training.trainer import Trainer

    config = tiny_config("gan", synthetic_npz, cache)
    original = Trainer.train_step

    def failing(self, batch):
        logs = original(self, batch)
        if self.step == 3:
            logs["loss_g"] = float("nan")
        return logs

    monkeypatch.setattr(Trainer, "train_step", failing)
    with pytest.raises(
        TrainingDiverged, match=r"loss_g became nan at step 4; the last good checkpoint"
    ):
        train_run(config, tmp_path, device="cpu")
    assert read_model_card(tmp_path / "model.safetensors")["training"]["steps"] == 2
    load_model(tmp_path / "model.safetensors")


def test_refuses_to_overwrite_or_resume_nothing(synthetic_npz, cache, tmp_path):
    config = tiny_config("gan", synthetic_npz, cache, epochs=1)
    with pytest.raises(InputFileError, match="nothing to resume"):
        train_run(config, tmp_path, resume=True, device="cpu")
    train_run(config, tmp_path, device="cpu")
    with pytest.raises(InputFileError, match="holds a run already"):
        train_run(config, tmp_path, device="cpu")


def test_a_run_folder_is_checked_before_any_work(capsys, synthetic_npz, cache, tmp_path):
    """A staged run trained over a finished end-to-end run's model, and an end-to-end one
    over a staged run's (each looked only for its own state files); --init-from of another
    architecture and the folder were refused only once the views were rendered, leaving a
    data record behind; a negative seed was a numpy traceback (researcher's review)."""
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({k: v for k, v in TINY.items() if k != "epochs"}))
    run, fresh = tmp_path / "run", tmp_path / "fresh"
    common = ["--data", synthetic_npz, "--config", settings, "--epochs", 1, "--no-tensorboard"]
    assert main([str(a) for a in ["train", "--kind", "gan", *common, "--cache-dir", cache,
                                  "-o", run]]) == 0  # fmt: skip
    capsys.readouterr()
    for kind in ("lgan", "vaegan"):
        argv = ["train", "--kind", kind, *common, "--cache-dir", fresh, "-o", run]
        assert main([str(a) for a in argv]) == 1
        err = capsys.readouterr().err
        assert f"{run}: holds a run already (model.safetensors); pass --resume" in err, err
    other = ["train", "--kind", "vaegan", *common, "--cache-dir", fresh, "--latent-dim", 16,
             "--init-from", run, "-o", tmp_path / "tuned"]  # fmt: skip
    assert main([str(a) for a in other]) == 1
    err = capsys.readouterr().err
    assert f"{run / 'model.safetensors'}: holds a gan model; this run trains a vaegan" in err
    other[other.index("vaegan")] = "gan"
    assert main([str(a) for a in other]) == 1
    err = capsys.readouterr().err
    assert "holds a different model from the one this run trains: latent_dim 8 (run: 16)" in err
    assert len(err.splitlines()) == 1
    for seed in ("--seed", "--split-seed"):
        argv = ["train", "--kind", "gan", *common, seed, -1, "-o", tmp_path / "seeded"]
        with pytest.raises(SystemExit, match="1"):  # argparse's refusal, in one line
            main([str(a) for a in argv])
        assert "a seed is a whole number from 0 to 2147483647, got '-1'" in capsys.readouterr().err
    assert not fresh.exists()  # nothing rendered, nothing left
    assert not (tmp_path / "tuned").exists() and not (tmp_path / "seeded").exists()
    # settings alone are a run that failed before it saved (killed, diverged): no run, and
    # a new one starts there (the first version of the check refused it; review)
    failed = tmp_path / "failed"
    failed.mkdir()
    (failed / "config.json").write_text((run / "config.json").read_text())
    argv = ["train", "--kind", "gan", *common, "--cache-dir", cache, "-o", failed]
    assert main([str(a) for a in argv]) == 0


def _one_epoch_run(data, cache, tmp_path) -> Path:
    """RUN_DIR of a tiny gan trained one epoch on ``data`` from the command line."""
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({k: v for k, v in TINY.items() if k != "epochs"}))
    run = tmp_path / "run"
    argv = ["train", "--kind", "gan", "--data", data, "--config", settings, "--epochs", 1,
            "--cache-dir", cache, "--no-tensorboard", "-o", run]  # fmt: skip
    assert main([str(a) for a in argv]) == 0
    return run


def test_a_run_resumes_on_its_data_moved_elsewhere(capsys, synthetic_npz, cache, tmp_path):
    """A run folder moved to another machine finds its data at another path: the shapes'
    record says they are the same (only the path was compared, and refused)."""
    data = tmp_path / "here" / "shapes.npz"
    data.parent.mkdir()
    shutil.copy(synthetic_npz, data)
    run = _one_epoch_run(data, cache, tmp_path)
    moved = data.parent.rename(tmp_path / "there") / "shapes.npz"
    resume = ["train", "-o", str(run), "--resume", "--epochs", "2", "--no-tensorboard"]
    assert main([*resume, "--data", str(moved)]) == 0, capsys.readouterr().err
    card = read_model_card(run / "model.safetensors")
    assert card["training"]["steps"] == 6 and card["training"]["settings"]["data"] == str(moved)


def test_cli_train_resume_with_more_epochs(capsys, synthetic_npz, cache, tmp_path, monkeypatch):
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({k: v for k, v in TINY.items() if k != "epochs"}))
    run = tmp_path / "run"
    monkeypatch.chdir(synthetic_npz.parent)  # --data as typed there: a relative path
    argv = ["train", "--kind", "gan", "--data", synthetic_npz.name, "--config", settings,
            "--epochs", 1, "--cache-dir", cache, "--no-tensorboard", "-o", run]  # fmt: skip
    assert main([str(a) for a in argv]) == 0
    # the split said before training (with few shapes each class keeps one back)
    assert "15 shapes of 3 classes to train on, 3 held out for validation (17%;" in (
        capsys.readouterr().err
    )
    card = read_model_card(run / "model.safetensors")
    assert card["training"]["steps"] == 3
    # an end-to-end model's card states its settings, not the staged recipe's
    assert "autoencoder_steps" not in card["training"]["settings"]
    assert "head_steps" not in card["training"]["settings"]
    monkeypatch.chdir(tmp_path)  # resumed from elsewhere, the run still finds its data
    assert main(["train", "-o", str(run), "--resume", "--epochs", "2", "--no-tensorboard"]) == 0
    card = read_model_card(run / "model.safetensors")
    assert card["training"]["steps"] == 6 and card["training"]["settings"]["epochs"] == 2
    assert main(["train", "-o", str(run), "--resume", "--no-tensorboard"]) == 0
    assert "has trained 2 epochs (6 steps), as many as --epochs 2 asks" in capsys.readouterr().err
    # fewer epochs than it trained: nothing trains, and its record keeps what it did (the
    # card and settings said 1 epoch of a run of 2; review)
    assert main(["train", "-o", str(run), "--resume", "--epochs", "1", "--no-tensorboard"]) == 0
    assert "has trained 2 epochs (6 steps), as many as --epochs 1 asks" in capsys.readouterr().err
    assert read_model_card(run / "model.safetensors")["training"]["settings"]["epochs"] == 2
    assert json.loads((run / "config.json").read_text())["epochs"] == 2
    assert main(["train", "--kind", "gan", "-o", str(tmp_path / "x")]) == 1
    assert "give --data" in capsys.readouterr().err
    # a staged recipe's option on an end-to-end run is said to do nothing (it was silent)
    assert main(["train", "-o", str(run), "--resume", "--epochs", "2", "--head-steps", "5"]) == 0
    assert (
        "note: --head-steps sets the staged recipe (--kind lgan) only; gan runs train "
        "without it" in capsys.readouterr().err
    )
    # a resumed run keeps the batches its steps are made of, its model, and the losses and
    # augmentation its record states for every step
    for options, said in ((["--batch-size", "1"], "batch_size 5 (asked: 1)"),
                          (["--latent-dim", "16"], "latent_dim 8 (asked: 16)"),
                          (["--no-soft-labels"], "soft_labels True (asked: False)"),
                          (["--rotation-degrees", "10"], "rotation_degrees")):  # fmt: skip
        assert main(["train", "-o", str(run), "--resume", "--epochs", "3", *options]) == 1
        err = capsys.readouterr().err
        assert "a resumed run keeps its" in err and said in err and len(err.splitlines()) == 1
    assert read_model_card(run / "model.safetensors")["training"]["steps"] == 6  # untouched


def test_a_resumed_run_refuses_shapes_that_changed_since_it_began(
    capsys, synthetic_npz, cache, tmp_path
):
    """Its weights, split and card are of the shapes it began on: another file at the same
    path is refused in one line, and the same shapes again resume."""
    data = tmp_path / "shapes.npz"
    shutil.copy(synthetic_npz, data)
    run = _one_epoch_run(data, cache, tmp_path)
    capsys.readouterr()
    with np.load(data) as arrays:
        voxels, labels, names = arrays["voxels"], arrays["labels"], arrays["class_names"]
    changed = voxels.copy()
    changed[0] = 0
    np.savez(data, voxels=changed, labels=labels, class_names=names)
    resume = ["train", "-o", str(run), "--resume", "--epochs", "2", "--no-tensorboard"]
    assert main(resume) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and str(data) in err and "not those" in err
    assert read_model_card(run / "model.safetensors")["training"]["steps"] == 3  # untouched
    np.savez(data, voxels=voxels, labels=labels, class_names=names)
    assert main(resume) == 0


def test_a_model_its_data_cannot_make_is_refused_before_rendering(
    capsys, synthetic_npz, cache, tmp_path
):
    """A cvaegan of one class was refused only after its views were rendered, and the
    error named neither the data nor --classes."""
    argv = ["train", "--kind", "cvaegan", "--data", str(synthetic_npz), "--classes", "box",
            "--cache-dir", str(tmp_path / "fresh"), "--no-tensorboard", "-o", str(tmp_path / "r")]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith("(its shapes of --classes are of box)") and str(synthetic_npz) in err
    assert not (tmp_path / "fresh" / "views").exists() and not (tmp_path / "r").exists()


def test_data_record_is_written_for_a_new_run_and_checked_on_resume(tmp_path):
    from gan3d_core.data.datasets import VoxelDataset
    from gan3d_core.training.run import check_same_data

    grids = np.zeros((2, 4, 4, 4), np.uint8)
    shapes = VoxelDataset(grids, np.array([0, 1]), ["a", "b"])
    check_same_data(tmp_path, "d.npz", [shapes], resume=False)
    check_same_data(tmp_path, "d.npz", [shapes], resume=True)
    renamed = VoxelDataset(grids, np.array([0, 1]), ["a", "c"])
    with pytest.raises(InputFileError, match=r"d\.npz: its shapes are not those"):
        check_same_data(tmp_path, "d.npz", [renamed], resume=True)
    check_same_data(tmp_path, "d.npz", [renamed], resume=False)  # a new run records anew
    check_same_data(tmp_path, "d.npz", [renamed], resume=True)
    # the same shapes saved another way are the same: int32 classes, a bool grid
    resaved = VoxelDataset(grids.astype(bool), np.array([0, 1], np.int32), ["a", "c"])
    check_same_data(tmp_path, "d.npz", [resaved], resume=True)
    check_same_data(tmp_path / "none", "d.npz", [shapes, None], resume=False)  # none held out


def test_torchrun_two_processes_on_cpu(synthetic_npz, cache, tmp_path):
    settings = tmp_path / "settings.json"
    settings.write_text(
        json.dumps(dict(TINY, kind="gan", data=str(synthetic_npz), cache_dir=str(cache)))
    )
    run = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "gan3d_core.cli", "train", "--config", str(settings), "--batch-size", "3",
               "--no-tensorboard", "-o", str(run)]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    if result.returncode != 0:
        # Once in about 20 runs here two processes failed to meet; a real fault fails again.
        warnings.warn(f"torchrun failed once, retrying: {result.stderr[-1000:]}", stacklevel=1)
        shutil.rmtree(run, ignore_errors=True)
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    card = read_model_card(run / "model.safetensors")
    # 15 shapes over 2 ranks: 7 per rank, 2 batches of 3 per epoch, 2 epochs.
    assert card["training"]["processes"] == 2 and card["training"]["steps"] == 4


def test_64_cubed_run_on_shared_beds(shared_data, cache, tmp_path):
    config = TrainConfig(
        kind="gan", data=str(shared_data / "modelnet10" / "modelnet10_bed_64_mixed.npz"), resolution=64,
        limit=24, latent_dim=16, generator_widths=[16, 8, 8, 4], discriminator_widths=[4, 8, 8, 16],
        batch_size=8, epochs=1, validation_samples=4, cache_dir=str(cache),
    )  # fmt: skip
    trainer = train_run(config, tmp_path, device="cpu")
    assert trainer.step == 2
    assert load_model(tmp_path / "model.safetensors").decode(
        np.zeros((1, 16), np.float32)
    ).shape == (1, 64, 64, 64)


def test_eval_cli_tasks(capsys, synthetic_npz, cache, tmp_path):
    config = tiny_config("cvaegan", synthetic_npz, cache, epochs=1)
    train_run(config, tmp_path, device="cpu")
    checkpoint = tmp_path / "model.safetensors"
    os.environ["GAN3D_CACHE"] = str(cache)
    try:
        code = main(["eval", str(checkpoint), "--data", str(synthetic_npz), "--task", "recon",
                     "--views", "2", "--subset", "validation", "--json"])  # fmt: skip
        result = json.loads(capsys.readouterr().out)
    finally:
        del os.environ["GAN3D_CACHE"]
    assert code == 0
    assert result["n"] == 3 and result["views"] == 2
    assert {"iou", "iou@0.4", "ssim", "nearest_training_shape_iou"} <= set(result)
    assert 0.0 < result["nearest_training_shape_iou"] <= 1.0
    assert set(result["per_class"]) == {"box", "ball", "column"}
    assert result["per_class"]["ball"]["n"] == 1

    assert (
        main(["eval", str(checkpoint), "--data", str(synthetic_npz), "--task", "gen", "--json"])
        == 0
    )
    generation = json.loads(capsys.readouterr().out)
    assert {"mmd", "coverage", "1-nna", "jsd"} <= set(generation)
    assert generation["per_class"]["box"]["n"] == 6

    argv = ["eval", str(checkpoint), "--data", str(synthetic_npz), "--task", "classify",
            "--train", str(synthetic_npz), "--json"]  # fmt: skip
    assert main(argv) == 0
    classification = json.loads(capsys.readouterr().out)
    assert 0.0 <= classification["accuracy"] <= 1.0 and classification["n_train"] == 18

    assert main(["eval", str(checkpoint), "--data", str(synthetic_npz), "--task", "classify"]) == 1
    assert "needs --train" in capsys.readouterr().err
    # a run's split comes from its training data: a folder tree's train folders
    argv = ["eval", str(checkpoint), "--data", str(synthetic_npz), "--task", "gen",
            "--subset", "validation", "--split", "test"]  # fmt: skip
    assert main(argv) == 1
    assert "leave out --split test" in capsys.readouterr().err
    assert result["up"] == "auto"  # the run's, recorded with the figures
    # other shapes at the data's path: their split would hold shapes the model trained on
    with np.load(synthetic_npz) as arrays:
        voxels, labels, names = arrays["voxels"].copy(), arrays["labels"], arrays["class_names"]
    voxels[0] = 0
    other = tmp_path / "other.npz"
    np.savez(other, voxels=voxels, labels=labels, class_names=names)
    argv = ["eval", str(checkpoint), "--data", str(other), "--task", "gen",
            "--subset", "validation"]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "its shapes are not those the model was trained on" in err
    assert len(err.strip().splitlines()) == 1


def test_eval_of_a_run_s_split_reads_its_folder_with_the_run_s_up_axis(capsys, cache, tmp_path):
    """A run on y-up files, evaluated without --up, read them z up: other shapes, scored
    as held out; now the card's up axis and its data_sha256 (which the z-up reading would
    fail) keep eval on the run's shapes."""
    from gan3d_core.data.datasets import z_up_to_y_up
    from gan3d_core.io.binvox import write_binvox
    from tests.conftest import synthetic_shapes

    voxels, labels, names = synthetic_shapes()
    folder = tmp_path / "shapes"
    for index, (grid, label) in enumerate(zip(voxels, labels)):
        (folder / names[label]).mkdir(parents=True, exist_ok=True)
        write_binvox(folder / names[label] / f"{index:02d}.binvox", z_up_to_y_up(grid) > 0)
    config = tiny_config("gan", folder, cache, epochs=1, up="y")
    train_run(config, tmp_path / "run", device="cpu")
    checkpoint = tmp_path / "run" / "model.safetensors"
    assert read_model_card(checkpoint)["training"]["data_sha256"]
    argv = ["eval", str(checkpoint), "--data", str(folder), "--task", "gen",
            "--subset", "validation", "--json"]  # fmt: skip
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["up"] == "y"
    assert main([*argv, "--up", "z"]) == 1  # told otherwise: not the run's shapes
    assert "its shapes are not those the model was trained on" in capsys.readouterr().err


def test_eval_of_an_empty_split_says_so_in_one_line(capsys, synthetic_npz, cache, tmp_path):
    train_run(tiny_config("gan", synthetic_npz, cache, epochs=1, validation_fraction=0.0),
              tmp_path, device="cpu")  # fmt: skip
    checkpoint = tmp_path / "model.safetensors"
    for task in ("gen", "classify"):
        argv = ["eval", str(checkpoint), "--data", str(synthetic_npz), "--task", task,
                "--subset", "validation", "--train", str(synthetic_npz)]  # fmt: skip
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "no shapes to evaluate on in the validation split" in err
        assert len(err.strip().splitlines()) == 1


def test_render_cli(capsys, synthetic_npz, tmp_path):
    assert (
        main(
            [
                "render",
                str(synthetic_npz),
                "--limit",
                "2",
                "--views",
                "3",
                "--size",
                "32",
                "-o",
                str(tmp_path / "png"),
            ]
        )
        == 0
    )
    stem = synthetic_npz.stem
    assert sorted(p.name for p in (tmp_path / "png").glob("*.png")) == [
        f"{stem}_{shape:04d}_view{view:02d}.png" for shape in range(2) for view in range(3)
    ]
    # one shape's views are named after it; a second render into the folder keeps the first's
    grid = tmp_path / "crate.npy"
    np.save(grid, np.pad(np.ones((8, 8, 8), np.uint8), 4))
    argv = ["render", str(grid), "--views", "2", "--size", "32", "-o", str(tmp_path / "png")]
    assert main(argv) == 0 and (tmp_path / "png" / "crate_view01.png").is_file()
    assert main(argv) == 1
    assert "crate_view00.png: already exists" in capsys.readouterr().err
    assert (
        main(
            [
                "render",
                str(synthetic_npz),
                "--limit",
                "1",
                "--views",
                "2",
                "--size",
                "32",
                "-o",
                str(tmp_path / "v.npz"),
            ]
        )
        == 0
    )
    with np.load(tmp_path / "v.npz") as data:
        assert data["views"].shape == (1, 2, 32, 32, 3)
    # an output that cannot be is refused before any rendering, a --limit under 1 too
    (tmp_path / "file").write_bytes(b"")
    for output, said in (
        (tmp_path / "file" / "png", f"{tmp_path / 'file' / 'png'}: cannot be made, "
                                    f"{tmp_path / 'file'} is not a folder"),
        (tmp_path / "file" / "v.npz", f"{tmp_path / 'file' / 'v.npz'}: {tmp_path / 'file'} "
                                      "is not a folder"),
    ):  # fmt: skip
        assert main(["render", str(grid), "-o", str(output)]) == 1
        assert capsys.readouterr().err.strip() == f"gan3d render: error: {said}"
    assert main(["render", str(grid), "--limit", "0", "-o", str(tmp_path / "none")]) == 1
    assert "--limit" in capsys.readouterr().err and not (tmp_path / "none").exists()
    np.save(tmp_path / "zeros.npy", np.zeros((8, 8, 8), np.uint8))
    assert main(["render", str(tmp_path / "zeros.npy"), "-o", str(tmp_path / "blank")]) == 1
    assert "zeros.npy: grid has no occupied voxel" in capsys.readouterr().err


@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM"])  # SIGTERM: a cluster's preemption
def test_ctrl_c_saves_and_explains_how_to_resume(synthetic_npz, cache, tmp_path, stop):
    import signal
    import time

    settings = tmp_path / "settings.json"
    settings.write_text(
        json.dumps(dict(TINY, kind="gan", data=str(synthetic_npz), cache_dir=str(cache)))
    )
    run = tmp_path / "run"
    command = [sys.executable, "-m", "gan3d_core.cli", "train", "--config", str(settings),
               "--epochs", "1000", "--no-tensorboard", "-o", str(run)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (run / "config.json").exists() and time.time() < deadline:  # training has begun
        time.sleep(0.1)
    time.sleep(1.0)
    process.send_signal(getattr(signal, stop))
    out, err = process.communicate(timeout=120)
    assert process.returncode == 128 + getattr(signal, stop), err[-2000:]
    assert "continue with: gan3d train -o" in out and "--resume" in out
    card = read_model_card(run / "model.safetensors")
    assert 1 <= card["training"]["steps"] < 3000
    assert (run / "training_state.safetensors").is_file()


def test_resume_uses_the_learning_rates_asked_for(synthetic_npz, cache, tmp_path):
    from gan3d_core.training.run import train_run as run

    config = tiny_config("gan", synthetic_npz, cache, epochs=1)
    run(config, tmp_path, device="cpu")
    lower = tiny_config(
        "gan", synthetic_npz, cache, epochs=2, lr_generator=1e-4, lr_discriminator=2e-6
    )
    trainer = run(lower, tmp_path, resume=True, device="cpu")
    assert trainer.optimizers["generator"].param_groups[0]["lr"] == 1e-4
    assert trainer.optimizers["discriminator"].param_groups[0]["lr"] == 2e-6


def test_adversarial_term_on_reconstructions_never_reaches_the_encoder(synthetic_npz, cache):
    from gan3d_core.training.trainer import Trainer

    config = tiny_config("vaegan", synthetic_npz, cache, kl_weight=0.0, recon_weight=0.0,
                         recon_in_discriminator="real", image_augmentation=False)  # fmt: skip
    train, validation = prepare_data(config)
    trainer = Trainer(config, train, validation, cache / "unused", device="cpu")
    trainer.train_step(trainer._batch(0))
    encoder_grads = [p.grad for p in trainer.networks.encoder.parameters() if p.grad is not None]
    assert encoder_grads and all(float(g.abs().max()) == 0.0 for g in encoder_grads)
    generator_grads = [p.grad.abs().max() for p in trainer.networks.generator.parameters()]
    assert max(float(g) for g in generator_grads) > 0


def test_varying_views_and_encoder_class_predictor(synthetic_npz, cache, tmp_path):
    config = tiny_config(
        "cvaegan", synthetic_npz, cache, views=3, vary_views=True, encoder_classifier=True
    )
    trainer, recorder = _run(config, tmp_path)
    view_counts = {trainer._batch(step)["views"].shape[1] for step in range(12)}
    assert view_counts == {1, 2, 3}
    assert all("class_accuracy" in logs for _, logs in recorder.logs)
    validation = recorder.validations[-1]
    assert {"iou", "iou_1view", "class_accuracy"} <= set(validation)

    model = load_model(tmp_path / "model.safetensors", device="cpu")
    model.networks.discriminator = None  # the class must come from the encoder alone
    latent = model.encode(object_photo())
    assert 0 <= model.best_label(latent) < 3
    assert model.reconstruct([object_photo()] * 2).shape == (32, 32, 32)


def test_recipe_trains_with_overrides(capsys, synthetic_npz, cache, tmp_path):
    from gan3d_core.training.config import load_recipe, recipe_names

    assert "modelnet10-cvaegan-32" in recipe_names()
    shipped = TrainConfig.from_dict(load_recipe("modelnet10-cvaegan-32"))
    assert shipped.kind == "cvaegan" and shipped.encoder_classifier and shipped.vary_views

    tiny = {k: ",".join(map(str, v)) if isinstance(v, list) else v for k, v in TINY.items()}
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in tiny.items() if not isinstance(v, bool)]
    args = ["train", "--recipe", "modelnet10-cvaegan-32", "--data", str(synthetic_npz),
            "-o", str(tmp_path / "run"), "--cache-dir", str(cache), "--views", "2",
            "--epochs", "1", "--no-tensorboard", *flags]  # fmt: skip
    assert main(args) == 0
    card = read_model_card(tmp_path / "run" / "model.safetensors")
    assert card["config"]["encoder_classifier"] and card["training"]["settings"]["vary_views"]

    assert main(["train", "--recipe", "no-such-recipe", "-o", str(tmp_path / "x")]) != 0
    assert "no recipe named 'no-such-recipe'" in capsys.readouterr().err


def test_encoder_norm_statistics_match_the_weights_when_validating(synthetic_npz, cache, tmp_path):
    import torch

    trainer, _ = _run(tiny_config("vaegan", synthetic_npz, cache, epochs=1), tmp_path)
    norms = [m for m in trainer.networks.encoder.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for norm in norms:
        norm.running_var.fill_(100.0)  # stale statistics, as Adam leaves them
    trainer.validate()
    assert all(norm.running_var.max() < 100.0 for norm in norms)
    assert all(norm.momentum == 0.1 for norm in norms)  # restored after the re-estimate


def test_cosine_schedule_ends_at_the_floor_and_resumes_on_the_curve(synthetic_npz, cache, tmp_path):
    config = tiny_config("gan", synthetic_npz, cache, lr_schedule="cosine", min_lr_fraction=0.1)
    _, recorder = _run(config, tmp_path, stop_after=2)
    factors = [logs["lr_factor"] for _, logs in recorder.logs]
    assert factors[0] == 1.0 and factors[1] < 1.0
    resumed, recorder = _run(config, tmp_path, resume=True)
    factors += [logs["lr_factor"] for _, logs in recorder.logs]
    total = resumed.total_steps
    expected = [0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * step / total)) for step in range(total)]
    assert np.allclose(factors, expected)
    rate = resumed.optimizers["generator"].param_groups[0]["lr"]
    assert rate == pytest.approx(config.lr_generator * expected[-1])


def test_voxel_teacher_trains_resumes_exactly_and_stays_out_of_the_checkpoint(
    synthetic_npz, cache, tmp_path
):
    from safetensors import safe_open

    config = tiny_config("cvaegan", synthetic_npz, cache, voxel_teacher_weight=10.0,
                         checkpoint_every=100)  # fmt: skip
    data = prepare_data(config)
    straight = train_run(
        config, tmp_path / "straight", callbacks=[rec := Recorder()], device="cpu", data=data
    )
    assert all({"teacher_recon", "latent_match"} <= set(logs) for _, logs in rec.logs)
    assert straight.optimizers["teacher"].param_groups[0]["lr"] == config.lr_encoder
    _run(config, tmp_path / "split", stop_after=4)
    _, second = _run(config, tmp_path / "split", resume=True)
    for (_, logs_a), (_, logs_b) in zip(rec.logs[4:], second.logs):
        for key in logs_a:
            assert logs_b[key] == pytest.approx(logs_a[key], rel=1e-5, abs=1e-6), key

    with safe_open(str(tmp_path / "split" / "training_state.safetensors"), "pt") as state:
        assert any(name.startswith("model.teacher.") for name in state.keys())
    with safe_open(str(tmp_path / "split" / "model.safetensors"), "pt") as checkpoint:
        assert not any("teacher" in name for name in checkpoint.keys())
    assert load_model(tmp_path / "split" / "model.safetensors", device="cpu").config.kind == (
        "cvaegan"
    )


def test_fine_tuning_starts_from_a_checkpoint_of_the_same_architecture(
    synthetic_npz, cache, tmp_path
):
    from gan3d_core.errors import CheckpointError
    from gan3d_core.training.trainer import Trainer

    base = tiny_config("vaegan", synthetic_npz, cache, epochs=1)
    train_run(base, tmp_path / "base", device="cpu")
    tuned = tiny_config("vaegan", synthetic_npz, cache, epochs=1,
                        init_from=str(tmp_path / "base"))  # fmt: skip
    train, validation = prepare_data(tuned)
    trainer = Trainer(tuned, train, validation, tmp_path / "tuned", device="cpu")
    trainer.initialise_from(tuned.init_from)
    start = load_model(tmp_path / "base" / "model.safetensors", device="cpu").networks
    for name, tensor in start.state_dict().items():
        assert np.allclose(trainer.networks.state_dict()[name], tensor), name

    wider = tiny_config("vaegan", synthetic_npz, cache, latent_dim=16)
    other = Trainer(wider, train, validation, tmp_path / "other", device="cpu")
    with pytest.raises(CheckpointError, match=r"model\.safetensors: holds a different model.*"
                       r"latent_dim 8 \(run: 16\)"):  # fmt: skip
        other.initialise_from(tmp_path / "base")
    missing = tiny_config("vaegan", synthetic_npz, cache, init_from=str(tmp_path / "none"))
    with pytest.raises(CheckpointError, match="none"):
        train_run(missing, tmp_path / "never", device="cpu")
    assert not (tmp_path / "never").exists()
    with pytest.raises(ValueError, match="needs a model with an image encoder"):
        tiny_config("gan", synthetic_npz, cache, voxel_teacher_weight=1.0)


def test_a_run_folder_holds_one_training_at_a_time(tmp_path):
    """Two `gan3d train -o RUN` started together both ran, each over the other's files."""
    from gan3d_core.training.run import RUN_LOCK_FILE, run_folder_lock

    run = tmp_path / "run"
    with run_folder_lock(run):
        with pytest.raises(InputFileError, match="another gan3d train is running in this run"):
            with run_folder_lock(run):
                pass
        (run / "config.json").write_text("{}")
    # the hidden lock file stays (deleted, a run could lock it as another made a new one),
    # held by no one
    assert sorted(p.name for p in run.iterdir()) == [RUN_LOCK_FILE, "config.json"]
    with run_folder_lock(run):
        pass
    with run_folder_lock(tmp_path / "refused" / "deep" / "run"):  # a run refused with
        pass  # nothing written: no folder left, the ones above it made for it neither
    assert not (tmp_path / "refused").exists() and RUN_LOCK_FILE.startswith(".")

"""Training options from the seed papers: V-Net's Dice loss and residual stages, MPSE-GAN's
projection discriminators (beside the 3D one, or alone on silhouettes), DIB-R's silhouette
loss. Exact values on hand-made grids; each option trains, resumes exactly and loads."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open

from gan3d_core import ModelConfig, load_model, save_checkpoint
from gan3d_core.cli import main
from gan3d_core.io.checkpoint import read_model_card
from gan3d_core.models.fast import FastVoxelGenerator
from gan3d_core.models.residual import ResidualStage
from gan3d_core.projection import axis_projections
from gan3d_core.resources import default_model_path
from gan3d_core.training.config import TrainConfig
from gan3d_core.training.losses import (
    SILHOUETTE_SAMPLES,
    dice_loss,
    reconstruction_loss,
    silhouette_loss,
)
from tests.conftest import CLASS_NAMES, object_photo, tiny_networks

# -- exact values -------------------------------------------------------------------------


def test_axis_projections_of_a_hand_made_grid():
    grid = torch.zeros(1, 4, 4, 4)
    grid[0, 1, 2, 3] = 1.0  # one solid voxel
    grid[0, 0, 0, 0] = grid[0, 3, 0, 0] = 0.5  # two half-occupied voxels on one x ray
    x, y, z = axis_projections(grid)[0]  # (3, 4, 4)
    expected_x = torch.zeros(4, 4)  # indexed (y, z)
    expected_x[2, 3] = 1.0
    expected_x[0, 0] = 1 - 0.5 * 0.5  # the ray is stopped unless both let it through
    assert torch.equal(x, expected_x)
    expected_y = torch.zeros(4, 4)  # indexed (x, z)
    expected_y[1, 3] = expected_y[0, 0] = expected_y[3, 0] = 1.0
    expected_y[0, 0] = expected_y[3, 0] = 0.5
    assert torch.equal(y, expected_y)
    expected_z = torch.zeros(4, 4)  # indexed (x, y): seen from above
    expected_z[1, 2] = 1.0
    expected_z[0, 0] = expected_z[3, 0] = 0.5
    assert torch.equal(z, expected_z)
    assert torch.equal(axis_projections(grid, "zx")[0], torch.stack([z, x]))
    with pytest.raises(ValueError, match="distinct letters of 'xyz', got 'xx'"):
        axis_projections(grid, "xx")
    with pytest.raises(ValueError, match=r"got \(4, 4\)"):
        axis_projections(torch.zeros(4, 4))


def test_dice_and_reconstruction_losses_of_known_grids():
    a = torch.zeros(1, 1, 4, 4, 4)
    b = torch.zeros(1, 1, 4, 4, 4)
    a[0, 0, :2] = 1.0  # 32 voxels
    b[0, 0, 1:3] = 1.0  # 32 voxels, 16 shared
    assert dice_loss(a, b, eps=0.0).item() == pytest.approx(1 - 2 * 16 / 64)
    assert dice_loss(a, a, eps=0.0).item() == pytest.approx(0.0)
    assert dice_loss(torch.zeros(1, 8), torch.zeros(1, 8)).item() == pytest.approx(0.0)

    logits = torch.where(a > 0, 20.0, -20.0)  # sigmoid: a, to 2e-9
    dice = 1 - (2 * 16 + 1) / (64 + 1)  # eps 1
    assert reconstruction_loss(logits, b, "dice").item() == pytest.approx(dice, abs=1e-6)
    bce = reconstruction_loss(logits, b, "bce").item()
    assert bce == pytest.approx(20.0 * 32 / 64, rel=1e-6)  # 32 of 64 voxels wrong by 20 nats
    both = reconstruction_loss(logits, b, "bce_dice", dice_weight=0.5).item()
    assert both == pytest.approx(bce + 0.5 * dice, rel=1e-6)
    assert reconstruction_loss(logits, b, "l2_sum").item() == pytest.approx(32.0, rel=1e-6)
    with pytest.raises(ValueError, match="recon_loss must be one of"):
        reconstruction_loss(logits, b, "hinge")


def test_silhouette_loss_is_one_minus_the_soft_iou_of_each_view():
    from gan3d_core.projection import silhouettes, soft_iou

    cube = torch.zeros(1, 32, 32, 32)
    cube[0, 8:24, 8:24, 8:24] = 1.0
    cameras = torch.tensor([[[0.0, 0.0, 3.2], [90.0, 30.0, 3.0]]])  # (1, 2, 3)
    seen = silhouettes(cube.expand(2, -1, -1, -1), cameras[0, :, 0], cameras[0, :, 1],
                       cameras[0, :, 2], output_size=32, samples=SILHOUETTE_SAMPLES)  # fmt: skip
    masks = (seen > 0.5).float()[None]  # (1, 2, 32, 32): binary, as a real view's mask
    loss = silhouette_loss(cube, masks, cameras)
    assert loss.item() == pytest.approx(1 - soft_iou(seen, masks[0]).mean().item(), abs=1e-6)
    swapped = silhouette_loss(cube, masks.flip(1), cameras)  # each view's mask at the other
    assert loss.item() < 0.1 < swapped.item()
    empty = torch.zeros(1, 2, 32, 32)
    assert silhouette_loss(cube, empty, cameras).item() == pytest.approx(1.0)
    occupancy = torch.full((1, 32, 32, 32), 0.02, requires_grad=True)
    silhouette_loss(occupancy, masks, cameras).backward()
    assert occupancy.grad.abs().sum() > 0


def test_residual_stage_adds_its_input_back():
    stage = ResidualStage(3, convs=2, activation=torch.nn.ReLU).eval()
    assert sum(isinstance(m, torch.nn.Conv3d) for m in stage.modules()) == 2
    x = torch.randn(2, 3, 4, 4, 4)
    torch.nn.init.zeros_(stage.residual[-1].weight)  # the last BatchNorm's scale
    assert torch.equal(stage(x), torch.relu(x))  # f(x) = 0: the stage passes x on
    torch.nn.init.ones_(stage.residual[-1].weight)
    assert not torch.equal(stage(x), torch.relu(x))


# -- networks and checkpoints -------------------------------------------------------------


def test_option_networks_round_trip_through_a_checkpoint(tmp_path):
    networks = tiny_networks("cvaegan", residual_convs=2, projection_axes="zy")
    names = networks.state_dict().keys()
    assert any(name.startswith("generator.layers.3.residual.3.") for name in names)
    assert any(name.startswith("discriminator.hidden.2.3.residual.") for name in names)
    assert {name.split(".")[2] for name in names if "projection_" in name} == {"z", "y"}
    path = save_checkpoint(tmp_path / "m.safetensors", networks, {"class_names": CLASS_NAMES})
    model = load_model(path, device="cpu")
    assert model.config.residual_convs == 2 and model.config.projection_axes == "zy"
    for name, tensor in networks.state_dict().items():
        assert torch.equal(model.networks.state_dict()[name], tensor), name
    z = model.sample_latents(3, seed=1)
    with torch.inference_mode():
        expected = torch.sigmoid(networks.generator(torch.from_numpy(z), torch.tensor([0, 1, 2])))
    np.testing.assert_allclose(model.decode(z, labels=[0, 1, 2]), expected[:, 0], atol=1e-6)
    with pytest.raises(ValueError, match="not residual stages"):
        FastVoxelGenerator(networks.generator)
    voxels = torch.rand(3, 1, 32, 32, 32)
    assert model.networks.projection_discriminators(voxels, torch.tensor([0, 1, 2])).shape == (3, 2)

    silhouettes_only = tiny_networks(
        "cvaegan", projection_axes="x", voxel_discriminator=False, residual_convs=1
    )
    assert silhouettes_only.discriminator is None
    path = save_checkpoint(
        tmp_path / "s.safetensors", silhouettes_only, {"class_names": CLASS_NAMES}
    )
    model = load_model(path, device="cpu")
    latent = model.sample_latents(1)[0]
    scores = model.networks.realness(torch.rand(2, 32, 32, 32), torch.tensor([0, 1]))
    assert scores.shape == (2,) and 0 <= model.best_label(latent) < 3  # from the silhouettes


def test_residual_shape_encoder_keeps_its_classification_features():
    from gan3d_core.evaluation import shape_encoder_features
    from gan3d_core.inference import GanModel

    voxels = np.random.default_rng(0).random((2, 32, 32, 32)).astype(np.float32)
    widths, latent = (4, 8, 16), 8  # tiny_networks'
    for convs in (0, 1):
        model = GanModel(tiny_networks("lgan", residual_convs=convs), {}, None, torch.device("cpu"))
        features = shape_encoder_features(model, voxels)
        assert features.shape == (2, 8 * sum(widths[1:]) + latent)


def test_old_checkpoints_read_the_options_as_off():
    options = {"residual_convs", "projection_axes", "voxel_discriminator"}
    card = read_model_card(default_model_path())
    # a card written before the options existed has none of their fields
    written_before = {k: v for k, v in card["config"].items() if k not in options}
    config = ModelConfig.from_dict(written_before)
    assert config.residual_convs == 0 and config.projection_axes == ""
    assert config.voxel_discriminator


def test_option_validation():
    with pytest.raises(ValueError, match=r"residual_convs must be 0\.\.3, got 4"):
        ModelConfig(residual_convs=4)
    with pytest.raises(ValueError, match="distinct letters of xyz, got 'xw'"):
        ModelConfig(projection_axes="xw")
    with pytest.raises(ValueError, match="without a 3D discriminator needs projection_axes"):
        ModelConfig(voxel_discriminator=False)
    with pytest.raises(ValueError, match="lgan has no discriminators"):
        ModelConfig(kind="lgan", projection_axes="x")
    with pytest.raises(ValueError, match="silhouettes_only needs projection_axes"):
        TrainConfig(kind="gan", silhouettes_only=True)
    with pytest.raises(ValueError, match="give silhouette_weight > 0"):
        TrainConfig(kind="vaegan", silhouettes_only=True, projection_axes="xyz")
    with pytest.raises(ValueError, match="silhouette_weight needs a model with an image encoder"):
        TrainConfig(kind="gan", silhouette_weight=1.0)
    with pytest.raises(ValueError, match="ssim_weight and voxel_teacher_weight must be 0"):
        TrainConfig(kind="vaegan", silhouettes_only=True, projection_axes="x",
                    silhouette_weight=1.0, ssim_weight=0.5)  # fmt: skip
    with pytest.raises(ValueError, match="recon_loss must be one of"):
        TrainConfig(recon_loss="hinge")


# -- training -----------------------------------------------------------------------------

ARMS = {
    "v-net, mpse and dib-r beside the 3D losses": dict(
        kind="multiview", views=2, recon_loss="bce_dice", dice_weight=0.5, residual_convs=1,
        projection_axes="xz", projection_weight=0.5, silhouette_weight=1.0,
    ),
    "silhouettes only": dict(
        kind="cvaegan", views=2, silhouettes_only=True, projection_axes="xyz",
        silhouette_weight=1.0,
    ),
}  # fmt: skip


@pytest.mark.parametrize("arm", ARMS)
def test_each_option_trains_resumes_exactly_and_loads(arm, synthetic_npz, cache, tmp_path):
    pytest.importorskip("pyvista", reason="training views need the [train] extra (pyvista)")
    from gan3d_core.training import prepare_data, train_run
    from tests.test_training import Recorder, _run, tiny_config

    settings = dict(ARMS[arm])
    config = tiny_config(settings.pop("kind"), synthetic_npz, cache, checkpoint_every=100,
                         **settings)  # fmt: skip
    straight = train_run(config, tmp_path / "straight", callbacks=[recorder := Recorder()],
                         device="cpu", data=prepare_data(config))  # fmt: skip
    logs = recorder.logs[0][1]
    assert {"loss_projection_d", "projection_d_accuracy_real", "silhouette"} <= set(logs)
    assert ("loss_d" in logs) != config.silhouettes_only
    assert ("recon" in logs) != config.silhouettes_only
    assert set(straight.optimizers) >= {"projection_discriminators", "encoder"}
    _run(config, tmp_path / "split", stop_after=4)
    _, resumed = _run(config, tmp_path / "split", resume=True)
    assert [step for step, _ in resumed.logs] == [5, 6]
    for (_, logs_a), (_, logs_b) in zip(recorder.logs[4:], resumed.logs):
        assert logs_a.keys() == logs_b.keys()
        for key in logs_a:
            assert logs_b[key] == pytest.approx(logs_a[key], rel=1e-5, abs=1e-6), key

    path = tmp_path / "split" / "model.safetensors"
    card = read_model_card(path)
    assert card["config"]["projection_axes"] == settings["projection_axes"]
    assert card["config"]["voxel_discriminator"] != config.silhouettes_only
    assert card["training"]["settings"]["silhouette_weight"] == 1.0
    assert 0.0 <= card["metrics"]["validation"]["iou"] <= 1.0  # against the true shapes
    a = load_model(tmp_path / "straight" / "model.safetensors", device="cpu")
    b = load_model(path, device="cpu")
    z = a.sample_latents(2)
    labels = [0, 1] if a.config.conditional else None
    np.testing.assert_allclose(a.decode(z, labels), b.decode(z, labels), atol=1e-5)
    assert b.reconstruct(object_photo()).shape == (32, 32, 32)


def test_silhouette_batches_carry_each_views_mask_and_camera(synthetic_npz, cache):
    pytest.importorskip("pyvista", reason="training views need the [train] extra (pyvista)")
    from gan3d_core.data.render import view_cameras
    from gan3d_core.training import prepare_data
    from gan3d_core.training.trainer import Trainer
    from tests.test_training import tiny_config

    config = tiny_config("multiview", synthetic_npz, cache, silhouette_weight=1.0)
    train, validation = prepare_data(config)
    assert np.array_equal(train.cameras, view_cameras(len(train), 4, True, config.seed))
    trainer = Trainer(config, train, validation, cache / "unused", device="cpu")
    batch = trainer._batch(0)
    assert batch["masks"].shape == (5, 3, 32, 32) and batch["cameras"].shape == (5, 3, 3)
    voxels = batch["voxels"][:, 0]
    true_shapes = silhouette_loss(voxels, batch["masks"], batch["cameras"]).item()
    others = silhouette_loss(voxels.roll(1, 0), batch["masks"], batch["cameras"]).item()
    turned = batch["cameras"] + torch.tensor([90.0, 0.0, 0.0])
    assert true_shapes < 0.2 and true_shapes < others
    assert true_shapes < silhouette_loss(voxels, batch["masks"], turned).item()


def test_silhouettes_only_gan_from_the_command_line(capsys, synthetic_npz, cache, tmp_path):
    pytest.importorskip("pyvista", reason="training views need the [train] extra (pyvista)")
    from tests.test_training import TINY

    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps(TINY))
    run = tmp_path / "run"
    argv = ["train", "--kind", "gan", "--data", synthetic_npz, "--config", settings,
            "--epochs", 1, "--residual-convs", 1, "--projection-axes", "xyz",
            "--silhouettes-only", "--cache-dir", cache, "--no-tensorboard", "-o", run]  # fmt: skip
    assert main([str(a) for a in argv]) == 0
    capsys.readouterr()
    assert main(["info", str(run / "model.safetensors")]) == 0
    assert (
        "options      residual stages of 1 conv(s); projection discriminators along x, y, "
        "z; no 3D discriminator (trained on silhouettes alone)" in capsys.readouterr().out
    )
    assert main(["info", str(run / "model.safetensors"), "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["config"]["residual_convs"] == 1 and not card["config"]["voxel_discriminator"]
    with safe_open(str(run / "model.safetensors"), "pt") as checkpoint:
        prefixes = {name.split(".")[0] for name in checkpoint.keys()}
    assert prefixes == {"generator", "projection_discriminators"}
    checkpoint = str(run / "model.safetensors")
    assert main(["eval", checkpoint, "--data", str(synthetic_npz), "--task", "gen", "--json"]) == 0
    assert 0.0 <= json.loads(capsys.readouterr().out)["coverage"] <= 1.0
    argv = ["eval", checkpoint, "--data", str(synthetic_npz), "--task", "classify",
            "--train", str(synthetic_npz)]  # fmt: skip
    assert main(argv) == 1
    assert "trained on silhouettes alone" in capsys.readouterr().err


def test_the_app_engine_opens_a_model_with_every_option(tmp_path):
    from gan3d_studio.engine import Engine
    from gan3d_studio.wire import TaskState, ViewSettings

    networks = tiny_networks("cvaegan", residual_convs=1, projection_axes="xyz",
                             voxel_discriminator=False)  # fmt: skip
    path = save_checkpoint(tmp_path / "m.safetensors", networks, {"class_names": CLASS_NAMES})
    engine = Engine()
    info = engine.load(path, "cpu", TaskState())
    assert info.has_encoder and info.class_names == tuple(CLASS_NAMES)
    result = engine.shape(engine.random_state(seed=0, truncation=None, label=1), ViewSettings())
    assert result.voxels.shape == (32, 32, 32)


def test_ablation_benchmark_smoke(synthetic_npz, cache, tmp_path):
    pytest.importorskip("pyvista", reason="training views need the [train] extra (pyvista)")
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    report = tmp_path / "ablations.json"
    command = [sys.executable, str(root / "benchmarks" / "bench_ablations.py"), "--smoke",
               "--data", str(synthetic_npz), "--classes", "all", "--cache-dir", str(cache),
               "--out", str(tmp_path / "runs"), "--json", str(report)]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads(report.read_text())["rows"]
    assert list(rows) == ["baseline", "dice", "residual", "mpse", "silhouette", "silhouettes-only"]
    for row in rows.values():
        assert row["steps"] == 2 and row["n"] == 3 and row["seconds_per_step"] > 0
        assert 0.0 <= row["iou"] <= 1.0 and 0.0 <= row["coverage"] <= 1.0
    assert "| silhouettes-only | MPSE + DIB-R on silhouettes alone" in result.stdout

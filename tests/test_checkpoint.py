"""Checkpoints: exact round trips, atomic saves, and clear refusals (never unpickling)."""

from __future__ import annotations

import json
import pickle
import shutil
import struct

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from gan3d_core import CheckpointError, load_model, save_checkpoint
from gan3d_core.io import checkpoint
from gan3d_core.io.checkpoint import (
    SCALE_SUFFIX,
    dequantize_int8,
    load_checkpoint,
    quantize_int8,
    read_model_card,
)
from tests.conftest import tiny_networks


def test_round_trip_decodes_bit_identically(tmp_path):
    networks = tiny_networks("cvaegan")
    path = save_checkpoint(tmp_path / "m.safetensors", networks, {"class_names": ["a", "b", "c"]})
    model = load_model(path, device="cpu")
    z = model.sample_latents(4, seed=3)
    with torch.inference_mode():
        expected = torch.sigmoid(
            networks.generator(torch.from_numpy(z), torch.tensor([0, 1, 2, 0]))
        )
    reloaded = load_model(path, device="cpu").decode(z, labels=[0, 1, 2, 0])
    assert np.array_equal(model.decode(z, labels=[0, 1, 2, 0]), reloaded)
    np.testing.assert_allclose(reloaded, expected[:, 0].numpy(), atol=1e-6)
    loaded, _ = load_checkpoint(path)
    for name, tensor in networks.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


def test_model_card_travels_in_the_header(tmp_path):
    path = save_checkpoint(
        tmp_path / "m.safetensors", tiny_networks(), {"name": "x", "metrics": {"iou": 0.5}}
    )
    card = read_model_card(path)
    assert card["format_version"] == 1
    assert card["config"]["latent_dim"] == 8
    assert card["metrics"] == {"iou": 0.5}


class _Payload:
    """Unpickling this object creates a file: proof that something was unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("name", ["evil.safetensors", "evil.pt"])
def test_pickle_payloads_are_refused_without_running(tmp_path, name):
    marker = tmp_path / "pwned"
    path = tmp_path / name
    path.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(CheckpointError, match="never unpickles"):
        load_model(path)
    assert not marker.exists()


def test_torch_save_zip_checkpoint_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    torch.save({"payload": _Payload(marker)}, path)
    with pytest.raises(CheckpointError, match=r"zip archive \(a PyTorch"):
        load_model(path)
    assert not marker.exists()


def test_safetensors_without_model_card(tmp_path):
    path = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="not a gan3d-studio checkpoint"):
        load_model(path)


def _rewrite_card(source, target, change):
    """Copy a checkpoint with its model card changed by ``change(card)``."""
    from safetensors import safe_open

    with safe_open(str(source), framework="pt") as handle:
        metadata = handle.metadata()
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    card = json.loads(metadata["model_card"])
    change(card, tensors)
    metadata["model_card"] = json.dumps(card)
    save_file(tensors, target, metadata=metadata)
    return target


def test_an_implicit_decoder_round_trips_and_cards_from_before_it_still_load(
    tmp_path, lgan_checkpoint, implicit_checkpoint
):
    networks, _ = load_checkpoint(implicit_checkpoint)
    path = save_checkpoint(tmp_path / "again.safetensors", networks)
    again, card = load_checkpoint(path)
    assert card["config"]["implicit_width"] == 8
    for name, tensor in networks.state_dict().items():
        assert torch.equal(again.state_dict()[name], tensor), name
    assert any(name.startswith("implicit.") for name in networks.state_dict())
    z = load_model(path).sample_latents(1, labels=0)
    assert np.array_equal(
        load_model(path).decode(z, 0, resolution=40),
        load_model(implicit_checkpoint).decode(z, 0, resolution=40),
    )
    # a card written before implicit decoders existed has no implicit_width: none
    old = _rewrite_card(
        lgan_checkpoint,
        tmp_path / "old.safetensors",
        lambda c, t: c["config"].pop("implicit_width"),
    )
    assert not load_model(old).has_implicit_decoder
    # a card claiming one whose tensors are missing is refused
    claimed = _rewrite_card(
        lgan_checkpoint, tmp_path / "claimed.safetensors",
        lambda c, t: c["config"].update(implicit_width=8),
    )  # fmt: skip
    with pytest.raises(CheckpointError, match=r"missing tensors implicit\."):
        load_model(claimed)


def test_int8_groups_come_back_within_half_a_step():
    # rows of 300 weights: three groups of 100, each with its own scale
    weights = torch.randn(6, 3, 100) * torch.logspace(-3, 1, 6)[:, None, None]
    weights[2] = 0.0  # a row of zeros keeps a usable scale
    weights[4, 1] *= 1000.0  # one group of large weights leaves the others' steps fine
    values, scale = quantize_int8(weights)
    assert values.dtype == torch.int8 and values.shape == weights.shape
    assert scale.dtype == torch.float16 and scale.shape == (6, 3)
    back = dequantize_int8(values, scale)
    error = (back - weights).abs().amax(dim=2)  # (rows, groups)
    assert torch.all(error <= scale.float() / 2 * 1.0001)
    assert error[4, 0] < 1e-3 * weights[4, 1].abs().max()
    assert torch.equal(back[2], weights[2])
    # files packed before groups hold one float32 scale per row
    assert torch.equal(dequantize_int8(values, torch.full((6,), 0.5)), values.float() * 0.5)
    with pytest.raises(ValueError, match="too large for int8 storage"):
        quantize_int8(torch.full((2, 8), 1e8))


def test_int8_storage_round_trips_and_refuses_broken_scales(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "INT8_MIN_VALUES", 512)
    networks = tiny_networks("cvaegan")
    card = {"class_names": ["a", "b", "c"]}
    small = save_checkpoint(tmp_path / "int8.safetensors", networks, card, storage="int8")
    half = save_checkpoint(tmp_path / "half.safetensors", networks, card, storage="float16")
    assert small.stat().st_size < half.stat().st_size
    from safetensors import safe_open

    with safe_open(str(small), framework="pt") as handle:
        stored = {name: handle.get_tensor(name) for name in handle.keys()}
    quantized = [name for name in stored if name + SCALE_SUFFIX in stored]
    assert quantized and all(stored[name].dtype == torch.int8 for name in quantized)
    assert not any(name.startswith(checkpoint.INT8_KEEP_FLOAT16) for name in quantized)
    loaded, loaded_card = load_checkpoint(small)
    assert loaded_card["storage"] == "int8"
    again = save_checkpoint(tmp_path / "again.safetensors", loaded, card, storage="int8")
    for name, tensor in load_checkpoint(again)[0].state_dict().items():  # packed twice: same
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    for name, tensor in networks.state_dict().items():
        step = (
            stored[name + SCALE_SUFFIX].amax() if name in quantized else 1e-3 * tensor.abs().max()
        )
        assert (loaded.state_dict()[name] - tensor).abs().max() <= step, name

    name = quantized[0]
    broken = {
        "no scale": lambda c, t: t.pop(name + SCALE_SUFFIX),
        "wrong scale": lambda c, t: t.update({name + SCALE_SUFFIX: torch.ones(1, 1, 1)}),
        "orphan scale": lambda c, t: t.update({"stray" + SCALE_SUFFIX: torch.ones(1)}),
    }
    messages = {
        "no scale": "is stored as int8 with no scale",
        "wrong scale": "does not match an int8 tensor",
        "orphan scale": "unexpected tensors stray",
    }
    for problem, change in broken.items():
        path = _rewrite_card(small, tmp_path / "broken.safetensors", change)
        with pytest.raises(CheckpointError, match=messages[problem]):
            load_model(path)
    # a file packed before groups (a float32 scale per row) loads as it did
    weight = stored[name].float() * stored[name + SCALE_SUFFIX].float().amax()
    values, _ = quantize_int8(weight)

    def per_row(card, tensors):
        tensors[name], tensors[name + SCALE_SUFFIX] = values, torch.full((len(values),), 0.25)

    older = load_model(_rewrite_card(small, tmp_path / "rows.safetensors", per_row))
    assert torch.equal(older.networks.state_dict()[name], values.float() * 0.25)


def test_newer_format_version(tmp_path, gan_checkpoint):
    path = _rewrite_card(
        gan_checkpoint, tmp_path / "new.safetensors", lambda c, t: c.update(format_version=99)
    )
    with pytest.raises(CheckpointError, match="format 99 is newer"):
        load_model(path)


def test_missing_tensor(tmp_path, gan_checkpoint):
    path = _rewrite_card(
        gan_checkpoint,
        tmp_path / "m.safetensors",
        lambda c, t: t.pop("generator.layers.0.weight"),
    )
    with pytest.raises(CheckpointError, match=r"missing tensors generator\.layers\.0\.weight"):
        load_model(path)


def test_shape_mismatch_names_both_shapes(tmp_path, gan_checkpoint):
    path = _rewrite_card(
        gan_checkpoint, tmp_path / "m.safetensors", lambda c, t: c["config"].update(latent_dim=9)
    )
    with pytest.raises(
        CheckpointError, match=r"shape \(8, 16, 4, 4, 4\).*needs \(9, 16, 4, 4, 4\)"
    ):
        load_model(path)


def test_invalid_config_in_card(tmp_path, gan_checkpoint):
    path = _rewrite_card(
        gan_checkpoint, tmp_path / "m.safetensors", lambda c, t: c["config"].update(resolution=48)
    )
    with pytest.raises(CheckpointError, match="resolution 48 is not one of"):
        load_model(path)


@pytest.mark.parametrize("keep", [4, 100, -100])
def test_truncated_file(tmp_path, gan_checkpoint, keep):
    data = gan_checkpoint.read_bytes()
    path = tmp_path / "cut.safetensors"
    path.write_bytes(data[:keep])
    with pytest.raises(CheckpointError, match=r"cut\.safetensors: "):
        load_model(path)


def test_garbage_and_directory_and_missing(tmp_path):
    garbage = tmp_path / "noise.safetensors"
    garbage.write_bytes(struct.pack("<Q", 40) + b"{not json at all!!!" + b"x" * 40)
    with pytest.raises(CheckpointError, match=r"noise\.safetensors: not a valid \.safetensors"):
        load_model(garbage)
    with pytest.raises(CheckpointError, match="is a directory"):
        load_model(tmp_path)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_model(tmp_path / "absent.safetensors")
    run = tmp_path / "run"  # settings alone: a run that failed before it saved (review)
    run.mkdir()
    (run / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="is a directory"):
        load_model(run)
    (run / "autoencoder.state.safetensors").write_bytes(b"")  # a staged run stopped in a stage
    with pytest.raises(CheckpointError, match=r"run: a training run with no model yet .*--resume"):
        load_model(run)


def test_a_run_folder_is_its_model_to_info(capsys, tmp_path, gan_checkpoint):
    """`gan3d info RUN` said 0.0 MB: the folder's size."""
    from gan3d_core.cli import main

    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(gan_checkpoint, run / "model.safetensors")
    assert main(["info", str(run)]) == 0
    size = (run / "model.safetensors").stat().st_size / 1e6
    assert f", {size:.1f} MB" in capsys.readouterr().out


def test_failed_save_keeps_the_previous_file(tmp_path, gan_checkpoint, monkeypatch):
    path = tmp_path / "model.safetensors"
    shutil.copy(gan_checkpoint, path)
    before = path.read_bytes()

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr("os.fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, tiny_networks(seed=1))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]


def test_bundled_model_missing_is_a_clear_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(
        "gan3d_core.resources.default_model_path", lambda: tmp_path / "default.safetensors"
    )
    with pytest.raises(CheckpointError, match="no bundled default model is installed"):
        load_model()
    # the CLI's commands that read the model's header first say it too (diff review)
    from gan3d_core.cli import main

    (tmp_path / "empty.npy").write_bytes(b"")
    assert main(["encode", str(tmp_path / "empty.npy"), "-o", str(tmp_path / "out")]) == 1
    assert "no bundled default model is installed" in capsys.readouterr().err


def test_a_checkpoint_it_may_not_read_is_named_in_one_line(tmp_path, monkeypatch, gan_checkpoint):
    """As a user without permission sees it (root, running the tests, reads any file)."""
    from gan3d_core.io import checkpoint

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(checkpoint, "open", refused, raising=False)
    with pytest.raises(CheckpointError, match="cannot read checkpoint \\(Permission denied\\)"):
        load_model(gan_checkpoint)


@pytest.mark.parametrize(
    ("value", "steps"),
    [
        (15, 15),
        (10.0, 10),
        (2.5, 0),
        ("15", 0),
        (True, 0),
        (-1, 0),
        (float("inf"), 0),
        (float("nan"), 0),
        (10**9, 0),
    ],
)
def test_a_card_s_fitting_steps_read_as_none_unless_a_whole_number_in_range(value, steps):
    """A card made elsewhere said 10.0, and every reconstruction failed on an argument the
    user never passed."""
    from gan3d_core.io.card import refine_steps

    assert refine_steps({"inference": {"refine_steps": value}}) == steps


def test_class_names_may_spell_any_script_but_not_steer_the_terminal():
    """Zero-width joiners spell Persian, Indic and emoji names; newlines, escapes and
    bidirectional overrides would rewrite what gan3d info prints (review)."""
    from gan3d_core.schema import class_name_problem

    for name in ("night_stand", "Stuhl", "میز\u200cها", "👨\u200d👩"):
        assert class_name_problem(name) is None, name
    for name in ("x\ny", "desk\x1b[2J", "a\u202eb", "../x", "a/b", ".."):
        assert class_name_problem(name) is not None, name

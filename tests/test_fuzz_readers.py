"""Property-based fuzzing of every reader of untrusted files (Hypothesis).

Real files are mutated (bytes flipped, cut, inserted, header numbers replaced) and model
cards are filled with arbitrary JSON: whatever comes in, a reader returns or raises the
project's own error type (:class:`Gan3dError`), within a time limit. Any other exception
is a bug. The whole module runs in well under a minute.
"""

from __future__ import annotations

import io
import json
import re
import signal
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gan3d_core.errors import Gan3dError

SECONDS_PER_EXAMPLE = 5
FUZZ = settings(
    max_examples=120,
    deadline=None,  # the alarm below bounds each example instead (a hang never returns)
    database=None,
    derandomize=True,  # the same examples on every run: CI stays deterministic
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
NUMBERS = [b"0", b"-1", b"1", b"255", b"256", b"3000", b"99999999999999999999", b"nan", b"1e400"]


@contextmanager
def time_limit(seconds: int):
    def on_alarm(signum, frame):
        raise TimeoutError(f"reader ran over {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def only_own_errors(read, path: Path) -> None:
    """``read(path)`` returns or raises a Gan3dError naming the file, in bounded time."""
    with time_limit(SECONDS_PER_EXAMPLE):
        try:
            read(path)
        except Gan3dError as exc:
            message = str(exc)
            assert "\n" not in message.strip(), message
            assert path.name in message, message


@st.composite
def mutations(draw, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        operation = draw(st.sampled_from(["flip", "cut", "insert", "number", "overwrite"]))
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        if operation == "flip" and data:
            data[position] ^= draw(st.integers(1, 255))
        elif operation == "cut":
            data = data[: draw(st.integers(0, len(data)))]
        elif operation == "insert":
            data[position:position] = draw(st.binary(max_size=64))
        elif operation == "number":
            numbers = list(re.finditer(rb"-?\d+", bytes(data[:512])))
            if numbers:
                match = draw(st.sampled_from(numbers))
                data[match.start() : match.end()] = draw(st.sampled_from(NUMBERS))
        else:
            chunk = draw(st.binary(min_size=1, max_size=16))
            data[position : position + len(chunk)] = chunk
    return bytes(data)


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, bytes]:
    """One small valid file of each kind to mutate."""
    from gan3d_core.io.binvox import write_binvox
    from gan3d_core.io.checkpoint import save_checkpoint
    from tests.conftest import tiny_networks

    folder = tmp_path_factory.mktemp("seeds")
    grid = np.zeros((6, 6, 6), bool)
    grid[1:4, 2:5, 1:5] = True
    write_binvox(folder / "seed.binvox", grid)
    npy = io.BytesIO()
    np.save(npy, grid.astype(np.float32))
    npz = io.BytesIO()
    np.savez(npz, voxels=np.zeros((2, 8, 8, 8), np.uint8), labels=np.array([0, 1]),
             class_names=np.array(["a", "b"]))  # fmt: skip
    save_checkpoint(folder / "seed.safetensors", tiny_networks(), {"class_names": ["a"]})
    from PIL import Image

    png = io.BytesIO()
    Image.fromarray(np.full((24, 20, 3), 90, np.uint8)).save(png, format="PNG")
    tetra = b"v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 3\nf 1 2 4\nf 1 3 4\nf 2 3 4\n"
    off = b"OFF\n4 4 0\n0 0 0\n1 0 0\n0 1 0\n0 0 1\n3 0 1 2\n3 0 1 3\n3 0 2 3\n3 1 2 3\n"
    from gan3d_core.mesh.export import export_mesh
    from gan3d_core.mesh.surface import voxels_to_cubes

    with zipfile.ZipFile(export_mesh(voxels_to_cubes(grid), folder / "seed.3mf")) as archive:
        model_xml = archive.read("3D/3dmodel.model")  # mutated as text, zipped again
    return {
        "binvox": (folder / "seed.binvox").read_bytes(),
        "npy": npy.getvalue(),
        "npz": npz.getvalue(),
        "safetensors": (folder / "seed.safetensors").read_bytes(),
        "png": png.getvalue(),
        "obj": tetra,
        "off": off,
        "3mf": model_xml,
    }


def write(tmp_path: Path, suffix: str, data: bytes) -> Path:
    path = tmp_path / f"fuzz.{suffix}"
    path.write_bytes(data)
    return path


@FUZZ
@given(data=st.data())
def test_binvox_reader(seeds, tmp_path, data):
    from gan3d_core.io.voxels import load_voxels

    path = write(tmp_path, "binvox", data.draw(mutations(seeds["binvox"])))
    only_own_errors(load_voxels, path)


@FUZZ
@given(data=st.data())
def test_npy_reader(seeds, tmp_path, data):
    from gan3d_core.io.voxels import load_voxels

    path = write(tmp_path, "npy", data.draw(mutations(seeds["npy"])))
    only_own_errors(load_voxels, path)


@FUZZ
@given(data=st.data())
def test_npz_dataset_reader(seeds, tmp_path, data):
    from gan3d_core.data.datasets import load_npz

    path = write(tmp_path, "npz", data.draw(mutations(seeds["npz"])))
    only_own_errors(load_npz, path)


@FUZZ
@given(data=st.data())
def test_checkpoint_header(seeds, tmp_path, data):
    from gan3d_core.io.checkpoint import load_checkpoint

    path = write(tmp_path, "safetensors", data.draw(mutations(seeds["safetensors"])))
    only_own_errors(load_checkpoint, path)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
CARD_FIELDS = ["format_version", "config", "class_names", "name", "storage", "training",
               "metrics", "recipe"]  # fmt: skip
CONFIG_FIELDS = ["kind", "resolution", "latent_dim", "generator_widths", "num_classes",
                 "generator_dropout", "num_views", "pool", "image_size", "encoder_classifier"]  # fmt: skip


@FUZZ
@given(
    card_changes=st.dictionaries(st.sampled_from(CARD_FIELDS), json_values, max_size=3),
    config_changes=st.dictionaries(st.sampled_from(CONFIG_FIELDS), json_values, max_size=3),
)
def test_checkpoint_card(seeds, tmp_path, card_changes, config_changes):
    """Arbitrary JSON in the card's fields: refused on load, or loads with the card's types."""
    from safetensors import safe_open
    from safetensors.torch import save

    from gan3d_core.inference import load_model

    source = write(tmp_path, "safetensors", seeds["safetensors"])
    with safe_open(str(source), framework="pt") as handle:
        card = json.loads(handle.metadata()["model_card"])
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    card.update(card_changes)
    if isinstance(card.get("config"), dict):
        card["config"].update(config_changes)
    text = json.dumps(card)  # NaN/Infinity written as JSON does not allow: must be refused
    path = write(tmp_path, "safetensors", save(tensors, metadata={"model_card": text}))

    def load_and_use(path: Path) -> None:
        model = load_model(path, device="cpu")
        assert all(isinstance(name, str) for name in model.class_names)
        model.sample_latents(2, seed=0)
        json.dumps(model.card)

    only_own_errors(load_and_use, path)


METRIC_KEYS = ["recon_1view_auto", "recon_5view_auto", "shapenet_chairs_recon_1view_auto",
               "autoencode", "shapenet_chairs_autoencode", "gen", "classify"]  # fmt: skip
FIGURE_KEYS = ["iou", "per_class", "chair", "retrieval_iou", "class_accuracy", "coverage",
               "1-nna", "accuracy", "data", "shapes", "stages", "steps", "seconds", "device",
               "validation", "score"]  # fmt: skip
card_sections = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(10**308, 10**400)
    | st.floats()
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(METRIC_KEYS + FIGURE_KEYS), children, max_size=4)
    ),
    max_leaves=16,
)


@FUZZ
@given(metrics=card_sections, training=card_sections)
def test_card_words_read_any_metrics_and_training(metrics, training):
    """The sentences gan3d info and the app's model panel make of a card's metrics and
    training sections: whatever a card made elsewhere holds there, lines of text."""
    from gan3d_core.io.card import quality_rows, training_words

    rows, lines = quality_rows(metrics), training_words(training)
    assert all(isinstance(a, str) and isinstance(b, str) for a, b in rows)
    assert all(isinstance(line, str) for line in lines)


@FUZZ
@given(data=st.data())
def test_image_reader(seeds, tmp_path, data):
    from gan3d_core.images import preprocess_image

    path = write(tmp_path, "png", data.draw(mutations(seeds["png"])))
    only_own_errors(lambda p: preprocess_image(p, 32), path)


@FUZZ
@given(data=st.data(), suffix=st.sampled_from(["obj", "off", "3mf"]))
def test_mesh_reader_and_voxelizer(seeds, tmp_path, data, suffix):
    from gan3d_core.io.meshes import load_mesh
    from gan3d_core.mesh.voxelize import voxelize_mesh

    mutated = data.draw(mutations(seeds[suffix]))
    if suffix == "3mf":  # a 3MF is XML in a zip: mutate the XML, not the zip's checksums
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as writer:
            writer.writestr("3D/3dmodel.model", mutated)
        mutated = archive.getvalue()
    path = write(tmp_path, suffix, mutated)

    def read(path: Path) -> None:
        mesh = load_mesh(path)
        try:
            voxelize_mesh(mesh, 16)
        except Gan3dError as exc:  # as `gan3d voxelize` does, the message gets the file name
            raise type(exc)(f"{path}: {exc}") from None

    only_own_errors(read, path)

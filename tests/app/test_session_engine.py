"""The Qt-free parts of the app: session state and engine runners, driven synchronously."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import trimesh

from gan3d_core import ExportOptions
from gan3d_core.errors import UsageError
from gan3d_core.mesh import count_shells
from gan3d_studio.engine import Engine
from gan3d_studio.session import Session, read_session_file
from gan3d_studio.wire import (
    LatentState,
    MakeShape,
    ReconstructOptions,
    SampleLatent,
    TaskState,
    ViewSettings,
)
from tests.conftest import box_grid, object_photo


@pytest.fixture
def engine(cvaegan_checkpoint):
    engine = Engine()
    engine.info = engine.load(cvaegan_checkpoint, "cpu", TaskState())
    return engine


def test_engine_loads_and_keeps_the_old_model_on_failure(engine, tmp_path):
    before = engine.model
    assert engine.info.conditional and engine.info.class_names == ("chair", "table", "sofa")
    assert engine.info.directions.shape == (8, 8)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match=r"bad\.safetensors"):
        engine.load(bad, "cpu", TaskState())
    assert engine.model is before


@pytest.mark.parametrize("mode", ["smooth", "blocks", "points"])
def test_engine_shape_in_every_mode(engine, mode):
    state = engine.random_state(seed=1, truncation=None, label=2)
    result = engine.shape(state, ViewSettings(mode=mode, smoothing=0))
    assert result.voxels.shape == (32, 32, 32)
    assert len(result.vertices) > 0
    if mode == "points":
        assert len(result.faces) == 0 and len(result.values) == len(result.vertices)
        assert result.values.min() > 0.1
    else:
        assert len(result.faces) > 0


def test_engine_reconstruct_and_export(engine, tmp_path):
    reconstruction = engine.reconstruct([object_photo()], ReconstructOptions(), TaskState())
    assert reconstruction.state.label in (0, 1, 2)
    assert reconstruction.inputs[0].shape == (64, 64, 3)
    result = engine.shape(reconstruction.state, ViewSettings())
    written = engine.export(result.voxels, tmp_path / "r.stl", ExportOptions())
    mesh = trimesh.load(written.path)
    assert len(mesh.faces) > 0
    assert type(written.parts) is int and written.parts == count_shells(mesh)


def _session(engine) -> Session:
    session = Session()
    session.set_model(engine.info)
    return session


def test_history_undo_redo_and_preview(engine):
    session = _session(engine)
    states = [engine.random_state(seed=s, truncation=None, label=0) for s in range(3)]
    for state in states:
        session.set_latent(state)
    session.preview_latent(engine.random_state(seed=9, truncation=None, label=0))
    assert len(session.history) == 3
    session.undo()
    assert np.array_equal(session.current.latent, states[1].latent)
    session.redo()
    assert np.array_equal(session.current.latent, states[2].latent)
    session.undo()
    session.undo()
    session.set_latent(states[2])  # a new edit drops the redo tail
    assert len(session.history) == 2 and not session.can_redo
    with pytest.raises(ValueError, match="latent must be 8 finite numbers"):
        session.set_latent(LatentState(np.full(8, np.nan, np.float32), 0))
    with pytest.raises(ValueError, match="needs a class"):
        session.set_latent(LatentState(np.zeros(8, np.float32)))


def test_session_file_round_trip(engine, tmp_path):
    session = _session(engine)
    for seed in range(3):
        session.set_latent(engine.random_state(seed=seed, truncation=None, label=seed))
    session.add_bookmark("first", b"\x89PNG\r\n\x1a\n fake")
    session.set_view(mode="blocks", threshold=0.3, surface_resolution=128)
    session.set_reconstruct_options(pool="max", label=2, refine=7, box=(1, 2, 30, 40))
    session.undo()
    path = session.save(tmp_path / "s.g3session.json")
    restored = _session(engine)
    restored.restore(read_session_file(path))
    assert restored.history_index == 1 and len(restored.history) == 3
    assert np.array_equal(restored.current.latent, session.current.latent)
    assert (
        restored.bookmarks[0].name == "first"
        and restored.bookmarks[0].thumbnail_png == b"\x89PNG\r\n\x1a\n fake"
    )
    assert restored.view == ViewSettings(mode="blocks", threshold=0.3, surface_resolution=128)
    # the box belongs to the photos, which a session does not keep
    assert restored.reconstruct_options == ReconstructOptions(pool="max", label=2, refine=7)


CAMERA = {"position": [1, 2, 3], "focal_point": [0, 0, 0], "up": [0, 0, 1], "parallel": False}


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (
            lambda d: d["view"].update(smoothing=2_000_000),
            "smoothing must be a whole number from 0",
        ),
        (lambda d: d["view"].update(smoothing=2.5), "smoothing must be a whole number"),
        (lambda d: d["view"].update(wireframe="no"), "wireframe must be true or false"),
        (lambda d: d["view"].update(evil=1), "view settings are not"),
        (lambda d: d["history"][0].update(label="1"), "a class must be a whole number"),
        (lambda d: d["history"][0].update(label=1.5), "a class must be a whole number"),
        (lambda d: d["history"][0].update(label=True), "a class must be a whole number"),
        (lambda d: d["history"][0].update(source=12), "a shape's source must be text"),
        (lambda d: d["history"][0].update(latent=[3e38] * 8), "latent values must be within"),
        (lambda d: d["history"][0].update(latent="abc"), "needs a latent"),
        (lambda d: d.update(history=[]), "holds no shape"),
        (lambda d: d.update(history_index=0.7), "history_index must be a whole number"),
        (lambda d: d.update(version=99), "version 99"),
        (lambda d: d["bookmarks"][0].update(thumbnail_png="aGVsbG8="), "is not a PNG image"),
        (lambda d: d["bookmarks"][0].update(name=["x"]), "a bookmark needs a name"),
        (lambda d: d["reconstruct"].update(pool="median"), "pooling 'median' is not one of"),
        (lambda d: d["reconstruct"].update(label=99), "class 99 is not one of this model's"),
        (lambda d: d["reconstruct"].update(refine=10_000), "fitting steps must be a whole"),
        (lambda d: d["reconstruct"].update(refine=True), "fitting steps must be a whole"),
        (lambda d: d.update(reconstruct=[1]), "reconstruct choices are not pool"),
        (lambda d: d.update(camera={"position": [1, 2]}), "camera is not position"),
        (lambda d: d.update(camera=dict(CAMERA, up=[0, 0, float("nan")])), "camera up is not"),
        (lambda d: d.update(camera=dict(CAMERA, position=[0, 0, 1e300])), "camera position"),
        (lambda d: d.update(camera=dict(CAMERA, parallel="yes")), "camera parallel is not"),
        (lambda d: d.update(camera=dict(CAMERA, focal_point=[1, 2, 3])), "looks nowhere"),
        (lambda d: d.update(camera=dict(CAMERA, parallel_scale=0)), "parallel_scale is not"),
        (lambda d: d.update(camera=dict(CAMERA, parallel_scale="2")), "parallel_scale is not"),
    ],
)
def test_a_hand_edited_session_is_refused_and_changes_nothing(engine, edit, said):
    """Each part of a session file is checked for kind and limit before anything changes:
    these reached the viewport or the engine (a two-million-pass smoothing hung it)."""
    session = _session(engine)
    session.set_latent(engine.random_state(seed=1, truncation=None, label=0))
    session.add_bookmark("first", b"\x89PNG\r\n\x1a\n")
    data = json.loads(json.dumps(session.to_json()))
    edit(data)
    session.set_reconstruct_options(pool="max")

    def state():
        return session.history, session.bookmarks, session.view, session.reconstruct_options

    before = tuple(list(part) if isinstance(part, list) else part for part in state())
    with pytest.raises(UsageError, match=re.escape(said)):
        session.restore(data)
    assert state() == before


def test_a_session_knows_its_model_by_card_or_by_any_spelling_of_its_path(engine, tmp_path):
    from dataclasses import replace

    session = _session(engine)
    data = session.to_json()
    assert session.made_with(data)
    model = Path(session.model.path)
    respelled = dict(data, model_path=str(model.parent / "." / model.name), model_card_sha256=None)
    assert session.made_with(respelled)  # the same file, written another way
    moved = dict(data, model_path="/elsewhere/default.safetensors")  # a reinstall: same card
    assert session.made_with(moved)
    other = _session(engine)
    other.model = replace(other.model, card={**other.model.card, "training": {"steps": 1}})
    assert not other.made_with(moved) and not other.made_with({"model_path": "\x00"})


def test_engine_run_answers_each_request_type_with_its_method(engine):
    state = engine.run(SampleLatent(seed=1, label=2), TaskState())
    assert np.array_equal(state.latent, engine.random_state(1, None, 2).latent)
    result = engine.run(MakeShape(state, ViewSettings(mode="points")), TaskState())
    assert result.state is state and len(result.faces) == 0
    with pytest.raises(TypeError, match="no LatentState request"):
        engine.run(state, TaskState())  # a value, not a request


def test_the_session_holds_the_shown_shape_for_its_current_latent_and_view(engine):
    session = _session(engine)
    shown = []
    session.shape_shown.connect(shown.append)
    first, second = (engine.random_state(seed=s, truncation=None, label=0) for s in (1, 2))
    session.set_latent(first)
    made_first = engine.shape(session.current, session.view)
    session.set_latent(second)  # moved on while the first was being made
    session.show_shape(made_first)
    assert session.shown is None
    made_second = engine.shape(session.current, session.view)
    session.set_view(mode="blocks")  # ... and the view changed too
    session.show_shape(made_second)
    assert session.shown is None
    made_blocks = engine.shape(session.current, session.view)
    session.show_shape(made_blocks)
    assert session.shown is made_blocks and shown == [made_blocks]
    assert session.model is engine.info


def test_view_settings_validate():
    with pytest.raises(ValueError, match="view mode"):
        ViewSettings(mode="xray")
    for resolution in (4, 300, 64.0, True):
        with pytest.raises(ValueError, match="surface resolution must be a whole number"):
            ViewSettings(surface_resolution=resolution)
    session = Session()
    seen = []
    session.view_changed.connect(seen.append)
    session.set_view(threshold=0.4)
    session.set_view(threshold=0.4)  # unchanged: no event
    assert [v.threshold for v in seen] == [0.4]


def test_the_view_s_finer_surface_comes_from_models_with_an_implicit_decoder(
    engine, implicit_checkpoint
):
    from gan3d_core import load_model

    fine = ViewSettings(surface_resolution=40, smoothing=0)
    state = engine.random_state(seed=1, truncation=None, label=2)
    assert not engine.info.has_implicit_decoder
    assert engine.shape(state, fine).voxels.shape == (32, 32, 32)  # the setting waits
    implicit = Engine()
    info = implicit.load(implicit_checkpoint, "cpu", TaskState())
    assert info.has_implicit_decoder
    state = implicit.random_state(seed=1, truncation=None, label=2)
    result = implicit.shape(state, fine)
    expected = load_model(implicit_checkpoint).decode(state.latent, 2, resolution=40)[0]
    assert np.array_equal(result.voxels, expected) and len(result.faces) > 0
    assert implicit.shape(state, ViewSettings()).voxels.shape == (32, 32, 32)


def test_cancelled_load_keeps_the_model_in_use(engine, gan_checkpoint):
    from gan3d_core.errors import OperationCancelled

    before = engine.model
    cancelled = TaskState()
    cancelled.cancel()
    with pytest.raises(OperationCancelled):
        engine.load(gan_checkpoint, "cpu", cancelled)
    assert engine.model is before


def test_bad_session_files_change_nothing(engine, tmp_path):
    session = _session(engine)
    for seed in range(2):
        session.set_latent(engine.random_state(seed=seed, truncation=None, label=0))
    good = session.to_json()
    before = (list(session.history), session.history_index, session.view)
    bad_files = [
        dict(good, history_index=-5),
        dict(good, view={"mode": "smooth", "sparkle": True}),
        dict(good, history=[{"latent": [0.0] * 8, "label": 7}]),
        dict(good, history=[{"label": 0}]),
    ]
    for data in bad_files:
        with pytest.raises(ValueError):
            session.restore(data)
        assert (session.history, session.history_index, session.view) == before


@pytest.mark.parametrize("fixture", ["cvaegan_checkpoint", "lgan_checkpoint"])
def test_app_cli_and_api_reconstruct_a_photo_the_same_way(request, fixture, tmp_path):
    """One path per user action: the engine, `gan3d reconstruct` and the Python API give
    the same latent, class and shape for the same file (each photo preprocessed once)."""
    from PIL import Image

    from gan3d_core import load_model
    from gan3d_core.cli import main

    checkpoint = request.getfixturevalue(fixture)
    photo = tmp_path / "photo.png"
    Image.fromarray(object_photo()).save(photo)
    engine = Engine()
    engine.load(checkpoint, "cpu", TaskState())
    from_app = engine.reconstruct([photo], ReconstructOptions(), TaskState()).state
    model = load_model(checkpoint, device="cpu")
    from_api = model.reconstruct_latent([photo])
    assert np.array_equal(from_app.latent, from_api.latent)
    assert from_app.label == from_api.label
    out = tmp_path / "shape.npy"
    assert main(["reconstruct", "--model", str(checkpoint), str(photo), "-o", str(out)]) == 0
    expected = model.decode(from_api.latent[None], labels=from_api.label)[0]
    assert np.array_equal(np.load(out), expected)


def test_model_card_quality_reads_as_words():
    from gan3d_core.io.card import quality_rows

    metrics = {
        "recon_1view_auto": {
            "iou": 0.5123, "class_accuracy": 0.91, "retrieval_iou": 0.4,
            "per_class": {"chair": {"iou": 0.33}}, "subset": "validation",
        },
        "gen": {"coverage": 0.61, "1-nna": 0.66},
        "classify": {"accuracy": 0.9},
        "recon_5view_auto": {"iou": "not a number"},
        "autoencode": {"iou": 0.8248, "subset": "validation"},
        "shapenet_chairs_autoencode": {"iou": 0.7525},
    }  # fmt: skip
    rows = dict(quality_rows(metrics))
    assert rows["From one photo"] == (
        "IoU 0.51 on shapes it never saw (1 = perfect) (chairs 0.33); "
        "copying the most similar training shape: 0.40"
    )
    assert rows["Class from one photo"] == "right 91% of the time"
    assert rows["Random shapes"].startswith("cover 61% of the real ones; 1-NNA 0.66")
    assert rows["Your own shapes"] == (
        "decoded back at IoU 0.82 on shapes it never saw (1 = perfect); ShapeNet chairs 0.75"
    )
    assert "From five photos" not in rows  # a malformed figure is left out
    assert quality_rows({}) == []


def test_the_view_hides_the_parts_an_export_would_leave_out():
    from gan3d_studio.engine import surface_for_view

    grid = box_grid(16, (2, 2, 2), (8, 8, 8))
    grid[13, 13, 13] = 1.0  # a speck
    for mode in ("smooth", "blocks", "points"):
        drawn = surface_for_view(grid, ViewSettings(mode=mode))[0]
        hidden = surface_for_view(grid, ViewSettings(mode=mode, min_part=0.05))[0]
        assert drawn[:, 0].max() > 12 and hidden[:, 0].max() < 9, mode  # the speck, then none
    with pytest.raises(UsageError, match="min_part must be a share between 0 and 1"):
        ViewSettings(min_part=float("nan"))


def test_an_interpolation_holds_at_most_the_decoded_voxel_limit(engine):
    """Every frame's grid is held until all are made: 240 steps at 256^3 were 48 GB."""
    from gan3d_studio.wire import Interpolate

    state = engine.random_state(seed=1, truncation=None, label=0)
    fine = ViewSettings(surface_resolution=256)
    with pytest.raises(UsageError, match="240 shapes at 256\\^3 are over the limit of 7"):
        Interpolate(state, state, 240, fine)
    Interpolate(state, state, 7, fine)
    Interpolate(state, state, 240, ViewSettings())  # the model's own grid

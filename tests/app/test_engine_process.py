"""The engine process: results, one-line errors, cancellation, crash recovery."""

from __future__ import annotations

import threading

import pytest

from gan3d_core.errors import Gan3dError, OperationCancelled
from gan3d_studio.engine import Engine
from gan3d_studio.engine_process import EngineProcess, EngineStopped
from gan3d_studio.wire import LatentState, ViewSettings


@pytest.fixture(scope="module")
def engine(cvaegan_checkpoint):
    process = EngineProcess()
    process.load(cvaegan_checkpoint, "cpu")
    yield process
    process.close()


def test_calls_return_the_engines_results(engine):
    state = engine.random_state(1, None, 2)
    assert isinstance(state, LatentState) and state.label == 2
    result = engine.shape(state, ViewSettings())
    assert result.voxels.shape == (32, 32, 32) and len(result.faces) > 0
    assert result.normals.shape == result.vertices.shape


def test_errors_come_back_as_one_line(engine, tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(Gan3dError, match=r"bad\.safetensors"):
        engine.load(bad, "cpu")
    assert engine.random_state(0, None, 0).label == 0  # the model is still there


def test_progress_and_cancellation(engine):
    start, end = engine.random_state(1, None, 0), engine.random_state(2, None, 0)
    reports = []
    results = engine.interpolation(
        start, end, 3, ViewSettings(), progress=lambda f, m: reports.append(f)
    )
    assert len(results) == 3 and reports[-1] == 1.0
    with pytest.raises(OperationCancelled):
        engine.interpolation(start, end, 50, ViewSettings(), should_stop=lambda: True)
    assert engine.random_state(3, None, 1).label == 1  # still in step after a cancel


def test_a_crashed_engine_is_reported_and_replaced(cvaegan_checkpoint):
    process = EngineProcess()
    try:
        process.load(cvaegan_checkpoint, "cpu")
        start, end = process.random_state(1, None, 0), process.random_state(2, None, 0)
        restarts = []
        process.on_restart = restarts.append
        threading.Timer(0.5, process._process.kill).start()  # dies in the middle of a call
        with pytest.raises(EngineStopped, match=r"during interpolation .* reloaded, try again"):
            process.interpolation(start, end, 2000, ViewSettings())
        assert process.random_state(0, None, 0).label == 0  # a fresh engine, model reloaded
        process._process.kill()  # dies between calls: the next call just works
        process._process.join()
        assert process.random_state(0, None, 1).label == 1
        assert len(restarts) == 2 and "model was reloaded" in restarts[0]
        assert process.load(cvaegan_checkpoint, "cpu").kind == "cvaegan"
    finally:
        process.close()
    with pytest.raises(ValueError, match="module:Class"):
        EngineProcess(engine="gan3d_studio.engine.Engine")


class LabelledEngine(Engine):
    """An engine subclass the child process imports by name."""

    def random_state(self, seed, truncation, label):
        state = super().random_state(seed, truncation, label)
        return LatentState(state.latent, state.label, "from LabelledEngine")


def test_the_child_runs_the_engine_class_it_is_given(cvaegan_checkpoint):
    process = EngineProcess(engine=f"{__name__}:LabelledEngine")
    try:
        process.load(cvaegan_checkpoint, "cpu")
        assert process.random_state(0, None, 0).source == "from LabelledEngine"
    finally:
        process.close()
    with pytest.raises(ValueError, match="module:Class"):
        EngineProcess(engine="gan3d_studio.engine.Engine")

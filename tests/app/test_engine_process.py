"""The engine process: typed results, one-line errors, cancellation, crash recovery."""

from __future__ import annotations

import re
import threading
from contextlib import contextmanager

import pytest

from gan3d_core.errors import Gan3dError, OperationCancelled
from gan3d_studio.engine import Engine
from gan3d_studio.engine_process import EngineProcess, EngineStopped
from gan3d_studio.wire import (
    CutOutPhoto,
    Interpolate,
    LatentState,
    LoadModel,
    MakeShape,
    Request,
    SampleLatent,
    TaskState,
    ViewSettings,
)


def ask(process: EngineProcess, request: Request, task: TaskState | None = None):
    return process.run(request, task or TaskState())


@pytest.fixture(scope="module")
def engine(cvaegan_checkpoint):
    process = EngineProcess()
    ask(process, LoadModel(cvaegan_checkpoint, "cpu"))
    yield process
    process.close()


def test_calls_return_the_engines_results(engine):
    state = ask(engine, SampleLatent(1, None, 2))
    assert isinstance(state, LatentState) and state.label == 2
    result = ask(engine, MakeShape(state, ViewSettings()))
    assert result.voxels.shape == (32, 32, 32) and len(result.faces) > 0
    assert result.normals.shape == result.vertices.shape


def test_errors_come_back_as_one_line(engine, tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(Gan3dError, match=r"bad\.safetensors"):
        ask(engine, LoadModel(bad, "cpu"))
    assert ask(engine, SampleLatent(0, None, 0)).label == 0  # the model is still there


def test_progress_and_cancellation(engine):
    start, end = ask(engine, SampleLatent(1, None, 0)), ask(engine, SampleLatent(2, None, 0))
    reports = []
    results = ask(
        engine,
        Interpolate(start, end, 3, ViewSettings()),
        TaskState(lambda f, m: reports.append(f)),
    )
    assert len(results) == 3 and reports[-1] == 1.0
    cancelled = TaskState()
    cancelled.cancel()
    with pytest.raises(OperationCancelled):
        ask(engine, Interpolate(start, end, 50, ViewSettings()), cancelled)
    assert ask(engine, SampleLatent(3, None, 1)).label == 1  # still in step after a cancel


@contextmanager
def long_call(checkpoint, end_child: str):
    """An engine process with ``checkpoint`` loaded, whose child is ended (``end_child``:
    "kill" as by a crash, "abort" as on closing) in the middle of a long interpolation;
    yields the process, the interpolation's outcome and the restarts reported."""
    process = EngineProcess()
    try:
        ask(process, LoadModel(checkpoint, "cpu"))
        start, end = ask(process, SampleLatent(1, None, 0)), ask(process, SampleLatent(2, None, 0))
        restarts = []
        process.on_restart = restarts.append
        ending = process._process.kill if end_child == "kill" else process.abort
        threading.Timer(0.5, ending).start()
        with pytest.raises(EngineStopped) as stopped:
            ask(process, Interpolate(start, end, 2000, ViewSettings()))
        yield process, str(stopped.value), restarts
    finally:
        process.close()


def test_a_crashed_engine_is_reported_and_replaced(cvaegan_checkpoint):
    with long_call(cvaegan_checkpoint, "kill") as (process, stopped, restarts):
        assert re.search(r"during Interpolate .* reloaded, try again", stopped)
        assert ask(process, SampleLatent(0, None, 0)).label == 0  # a fresh engine, model reloaded
        process._process.kill()  # dies between calls: the next call just works
        process._process.join()
        assert ask(process, SampleLatent(0, None, 1)).label == 1
        assert len(restarts) == 2 and "model was reloaded" in restarts[0]
        assert ask(process, LoadModel(cvaegan_checkpoint, "cpu")).kind == "cvaegan"
    with pytest.raises(ValueError, match="module:Class"):
        EngineProcess(engine="gan3d_studio.engine.Engine")


def test_an_engine_ended_on_purpose_is_not_replaced_until_asked_again(cvaegan_checkpoint):
    """Closing the window ends a call that ignores cancel with its child; replacing the
    child and reloading the model then only to close it froze the window for seconds."""
    with long_call(cvaegan_checkpoint, "abort") as (process, stopped, restarts):
        assert stopped == "Interpolate stopped"
        assert not process._process.is_alive() and restarts == []
        assert ask(process, SampleLatent(0, None, 1)).label == 1  # the next call starts one
        assert len(restarts) == 1


def test_a_preloaded_model_answers_the_first_request_for_it(cvaegan_checkpoint, tmp_path):
    process = EngineProcess(preload=LoadModel(cvaegan_checkpoint, "cpu"))
    try:
        info = ask(process, LoadModel(cvaegan_checkpoint, "cpu"))
        assert info.kind == "cvaegan" and info.path == str(cvaegan_checkpoint)
        assert ask(process, SampleLatent(0, None, 1)).label == 1
    finally:
        process.close()
    # A first request for something else gets its own answer, errors included.
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    process = EngineProcess(preload=LoadModel(bad, "cpu"))
    try:
        with pytest.raises(Gan3dError, match=r"bad\.safetensors"):
            ask(process, LoadModel(bad, "cpu"))
        assert ask(process, LoadModel(cvaegan_checkpoint, "cpu")).kind == "cvaegan"
    finally:
        process.close()


class LabelledEngine(Engine):
    """An engine subclass the child process imports by name: the request for a random latent
    reaches its own method, and cutting out a photo has a bug."""

    def random_state(self, seed, truncation, label):
        state = super().random_state(seed, truncation, label)
        return LatentState(state.latent, state.label, "from LabelledEngine")

    def cut_out(self, photo, box):
        raise ZeroDivisionError("a bug in the engine\nwith a second line")


@pytest.fixture(scope="module")
def labelled_engine(cvaegan_checkpoint):
    process = EngineProcess(engine=f"{__name__}:LabelledEngine")
    ask(process, LoadModel(cvaegan_checkpoint, "cpu"))
    yield process
    process.close()


def test_the_child_runs_the_engine_class_it_is_given(labelled_engine):
    assert ask(labelled_engine, SampleLatent(0, None, 0)).source == "from LabelledEngine"
    with pytest.raises(ValueError, match="module:Class"):
        EngineProcess(engine="gan3d_studio.engine.Engine")


def test_a_bug_in_the_engine_reaches_the_handle_as_one_line_and_the_engine_goes_on(
    qtbot, labelled_engine
):
    from gan3d_studio.worker import Worker

    worker = Worker()
    errors, done, pid = [], [], labelled_engine.pid
    try:
        call = worker.submit(labelled_engine.run, CutOutPhoto("photo.png"))
        call.on_error(errors.append).on_done(done.append)
        qtbot.waitUntil(lambda: bool(errors or done), timeout=30_000)
        assert errors == ["internal error: a bug in the engine"] and done == []
        worker.submit(labelled_engine.run, SampleLatent(4, None, 1)).on_done(done.append)
        qtbot.waitUntil(lambda: bool(done), timeout=30_000)
        assert done[0].label == 1 and done[0].source == "from LabelledEngine"
        assert labelled_engine.pid == pid  # the same process served both
    finally:
        assert worker.shutdown()

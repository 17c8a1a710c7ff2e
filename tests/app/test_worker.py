"""The worker adapter: newest request wins, errors arrive as signals, shutdown is clean."""

from __future__ import annotations

import time

from gan3d_core.errors import InputFileError


def test_latest_request_wins(qtbot):
    from gan3d_studio.worker import Worker

    worker = Worker()
    delivered = []
    worker.finished.connect(lambda kind, number, result: delivered.append(result))

    def slow(value, should_stop):
        for _ in range(10):
            if should_stop():
                return None
            time.sleep(0.005)
        return value

    try:
        numbers = [worker.submit("shape", slow, value) for value in range(50)]
        qtbot.waitUntil(lambda: 49 in delivered, timeout=10_000)
        qtbot.wait(100)
        assert delivered[-1] == 49
        assert len(delivered) < 50  # superseded requests were dropped, not all run
        assert worker.is_current("shape", numbers[-1]) and not worker.is_current(
            "shape", numbers[0]
        )
    finally:
        assert worker.shutdown()
    assert not worker.thread.isRunning()


def test_errors_become_signals_and_the_worker_keeps_going(qtbot):
    from gan3d_studio.worker import Worker

    worker = Worker()

    def broken():
        raise InputFileError("x.binvox: truncated")

    def bug():
        raise ZeroDivisionError("division by zero")

    try:
        with qtbot.waitSignal(worker.failed, timeout=5000) as failure:
            worker.submit("a", broken)
        assert failure.args[2] == "x.binvox: truncated"
        with qtbot.waitSignal(worker.failed, timeout=5000) as failure:
            worker.submit("b", bug)
        assert failure.args[2] == "internal error: division by zero"
        with qtbot.waitSignal(worker.failed, timeout=5000) as failure:
            worker.submit("b", lambda: int("x"))  # a ValueError not raised on purpose: a bug
        assert failure.args[2].startswith("internal error: invalid literal")
        with qtbot.waitSignal(worker.finished, timeout=5000) as done:
            worker.submit("c", lambda: 42)
        assert done.args[2] == 42
    finally:
        worker.shutdown()


def test_progress_is_throttled_and_shutdown_cancels(qtbot):
    from gan3d_studio.worker import Worker

    worker = Worker()
    reports = []
    worker.progress.connect(lambda kind, fraction, message: reports.append(fraction))

    def busy(progress, should_stop):
        for step in range(200):
            progress((step + 1) / 200, "working")
            time.sleep(0.001)
        return "done"

    try:
        with qtbot.waitSignal(worker.finished, timeout=10_000):
            worker.submit("job", busy)
        qtbot.wait(50)
        assert 1 < len(reports) < 50 and reports[-1] == 1.0
        worker.submit(
            "job", lambda should_stop: [time.sleep(0.01) for _ in range(1000) if not should_stop()]
        )
    finally:
        start = time.monotonic()
        assert worker.shutdown()
    assert time.monotonic() - start < 5 and not worker.thread.isRunning()


def test_cancel_all_stops_running_work_and_delivers_nothing(qtbot):
    from gan3d_studio.worker import Worker

    worker = Worker()
    delivered, started = [], []
    worker.finished.connect(lambda kind, number, result: delivered.append(result))

    def long_job(should_stop):
        started.append(True)
        while not should_stop():
            time.sleep(0.005)
        return "finished anyway"

    try:
        worker.submit("export", long_job)
        qtbot.waitUntil(lambda: bool(started), timeout=5000)
        with qtbot.waitSignal(worker.busy_changed, timeout=5000) as busy:
            worker.cancel_all()
        assert busy.args == [False]
        qtbot.wait(200)
        assert delivered == []
        with qtbot.waitSignal(worker.finished, timeout=5000):  # still usable afterwards
            worker.submit("export", lambda: "next")
        assert delivered == ["next"]
    finally:
        worker.shutdown()

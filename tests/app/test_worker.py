"""The worker adapter: calls return handles whose callbacks run on the GUI thread, the
newest call in a lane wins, errors arrive as one line, shutdown is clean."""

from __future__ import annotations

import threading
import time

from gan3d_core.errors import InputFileError


def test_a_call_s_handle_hears_its_progress_result_and_error_on_the_gui_thread(qtbot):
    from gan3d_studio.worker import Worker

    worker = Worker()
    heard, threads = [], set()

    def note(kind):
        def callback(*args):
            heard.append((kind, *args))
            threads.add(threading.current_thread())

        return callback

    def counts(up_to, task):
        for step in range(1, up_to + 1):
            task.progress(step / up_to, f"{step} of {up_to}")
        return up_to

    def refuses(task):
        raise InputFileError("x.binvox: truncated\nmore detail")

    try:
        for function, args in ((counts, (3,)), (refuses, ())):
            call = worker.submit(function, *args)
            call.on_done(note("done")).on_error(note("error")).on_progress(note("progress"))
        qtbot.waitUntil(lambda: bool(heard) and heard[-1][0] == "error", timeout=5000)
    finally:
        worker.shutdown()
    assert ("progress", 1.0, "3 of 3") in heard
    assert heard.index(("progress", 1.0, "3 of 3")) < heard.index(("done", 3))
    assert heard[-1] == ("error", "x.binvox: truncated\\nmore detail")  # one line: escaped
    assert [kind for kind, *_ in heard].count("done") == 1
    assert threads == {threading.main_thread()}


def test_latest_call_in_a_lane_wins(qtbot):
    from gan3d_studio.worker import Worker

    worker = Worker()
    delivered = []

    def slow(value, task):
        for _ in range(10):
            if task.should_stop():
                return None
            time.sleep(0.005)
        return value

    try:
        calls = [
            worker.submit(slow, value, lane="shape").on_done(delivered.append)
            for value in range(50)
        ]
        qtbot.waitUntil(lambda: 49 in delivered, timeout=10_000)
        qtbot.wait(100)
        assert delivered[-1] == 49
        assert len(delivered) < 50  # superseded calls were dropped, not all run
        assert None not in delivered  # a call stopped on the way is never delivered
        assert not calls[-1].cancelled and calls[0].cancelled
    finally:
        assert worker.shutdown()
    assert not worker.thread.isRunning()


def test_errors_reach_the_handle_and_the_worker_keeps_going(qtbot):
    from gan3d_studio.worker import Worker

    worker = Worker()
    errors, results = [], []

    def broken(task):
        raise InputFileError("x.binvox: truncated")

    def bug(task):
        raise ZeroDivisionError("division by zero")

    try:
        for function in (broken, bug, lambda task: int("x")):  # int: a ValueError, a bug
            worker.submit(function).on_error(errors.append).on_done(results.append)
        worker.submit(lambda task: 42).on_done(results.append)
        qtbot.waitUntil(lambda: results == [42], timeout=5000)
    finally:
        worker.shutdown()
    assert errors[:2] == ["x.binvox: truncated", "internal error: division by zero"]
    assert errors[2].startswith("internal error: invalid literal") and len(errors) == 3


def test_progress_is_throttled_and_shutdown_cancels(qtbot):
    from gan3d_studio.worker import Worker

    worker = Worker()
    reports, results = [], []

    def busy(task):
        for step in range(200):
            task.progress((step + 1) / 200, "working")
            time.sleep(0.001)
        return "done"

    try:
        worker.submit(busy).on_progress(lambda f, m: reports.append(f)).on_done(results.append)
        qtbot.waitUntil(lambda: results == ["done"], timeout=10_000)
        assert 1 < len(reports) < 50 and reports[-1] == 1.0
        worker.submit(
            lambda task: [time.sleep(0.01) for _ in range(1000) if not task.should_stop()]
        )
    finally:
        start = time.monotonic()
        assert worker.shutdown()
    assert time.monotonic() - start < 5 and not worker.thread.isRunning()


def test_cancel_all_stops_running_work_and_delivers_nothing(qtbot):
    from gan3d_studio.worker import Worker

    worker = Worker()
    delivered, started = [], []

    def long_job(task):
        started.append(True)
        while not task.should_stop():
            time.sleep(0.005)
        return "finished anyway"

    try:
        call = worker.submit(long_job, lane="export").on_done(delivered.append)
        qtbot.waitUntil(lambda: bool(started), timeout=5000)
        with qtbot.waitSignal(worker.busy_changed, timeout=5000) as busy:
            worker.cancel_all()
        assert busy.args == [False] and call.cancelled
        qtbot.wait(200)
        assert delivered == []
        worker.submit(lambda task: "next", lane="export").on_done(delivered.append)
        qtbot.waitUntil(lambda: delivered == ["next"], timeout=5000)  # still usable
    finally:
        worker.shutdown()

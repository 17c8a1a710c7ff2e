"""The one adapter between plain Python work and Qt: a worker object in a QThread.

``submit(kind, function, *args)`` queues a call; within a kind the newest request wins:
older ones still waiting are dropped, and a running one is told to stop (its
``should_stop`` hook turns True) and its result is discarded. Results, errors and throttled
progress come back as signals, delivered on the GUI thread. Only numpy arrays and frozen
dataclasses travel through them.
"""

from __future__ import annotations

import inspect
import itertools
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from gan3d_core.errors import Gan3dError, OperationCancelled, first_line

PROGRESS_INTERVAL = 0.05  # seconds between progress signals of one task


@dataclass
class _Task:
    kind: str
    number: int
    function: Callable[..., Any]
    args: tuple
    kwargs: dict


class Worker(QObject):
    """Runs submitted calls one at a time on its own thread."""

    finished = Signal(str, int, object)  # kind, task number, result
    failed = Signal(str, int, str)  # kind, task number, one-line message
    progress = Signal(str, float, str)  # kind, fraction, message
    busy_changed = Signal(bool)
    _wake = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._pending: dict[str, _Task] = {}
        self._latest: dict[str, int] = {}
        self._numbers = itertools.count(1)
        self._closing = False
        self._thread = QThread()
        self._thread.setObjectName("gan3d-worker")
        self.moveToThread(self._thread)
        self._wake.connect(self._run_pending)
        self._thread.start()

    # -- GUI thread ---------------------------------------------------------------------------

    def submit(self, kind: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
        """Queue ``function(*args, **kwargs)``; returns the task number, newest wins per kind.

        A function with ``progress`` / ``should_stop`` parameters receives the hooks.
        """
        with self._lock:
            number = next(self._numbers)
            self._pending[kind] = _Task(kind, number, function, args, kwargs)
            self._latest[kind] = number
        self._wake.emit()
        return number

    def is_current(self, kind: str, number: int) -> bool:
        with self._lock:
            return self._latest.get(kind) == number

    def cancel(self, kind: str) -> None:
        """Drop what is waiting of ``kind`` and stop what runs; nothing of it is delivered."""
        with self._lock:
            self._pending.pop(kind, None)
            self._latest[kind] = -1

    def cancel_all(self) -> None:
        """Stop what runs and drop what waits, of every kind (the Cancel button)."""
        with self._lock:
            kinds = set(self._pending) | set(self._latest)
            self._pending.clear()
            for kind in kinds:
                self._latest[kind] = -1
        self.busy_changed.emit(False)

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Cancel everything, stop the thread and wait for it. Idempotent."""
        with self._lock:
            self._closing = True
            self._pending.clear()
        self._thread.quit()
        return self._thread.wait(timeout_ms)

    @property
    def thread(self) -> QThread:
        return self._thread

    # -- worker thread ------------------------------------------------------------------------

    @Slot()
    def _run_pending(self) -> None:
        while True:
            with self._lock:
                if self._closing or not self._pending:
                    return
                kind = next(iter(self._pending))
                task = self._pending.pop(kind)
            self.busy_changed.emit(True)
            self._run(task)
            with self._lock:
                idle = not self._pending
            if idle:
                self.busy_changed.emit(False)

    def _run(self, task: _Task) -> None:
        def should_stop() -> bool:
            with self._lock:
                return self._closing or self._latest.get(task.kind) != task.number

        last_report = [0.0]

        def progress(fraction: float, message: str) -> None:
            now = time.monotonic()
            if should_stop():
                raise OperationCancelled("superseded")
            if now - last_report[0] >= PROGRESS_INTERVAL or fraction >= 1.0:
                last_report[0] = now
                self.progress.emit(task.kind, fraction, message)

        kwargs = dict(task.kwargs)
        parameters = inspect.signature(task.function).parameters
        if "progress" in parameters:
            kwargs["progress"] = progress
        if "should_stop" in parameters:
            kwargs["should_stop"] = should_stop
        try:
            result = task.function(*task.args, **kwargs)
        except OperationCancelled:
            return
        except Gan3dError as exc:  # the user's input; anything else is a bug (below)
            if not should_stop():
                self.failed.emit(task.kind, task.number, first_line(exc))
            return
        except Exception as exc:  # a bug: keep the app alive, say what happened
            traceback.print_exc()
            if not should_stop():
                self.failed.emit(task.kind, task.number, f"internal error: {first_line(exc)}")
            return
        if not should_stop():
            self.finished.emit(task.kind, task.number, result)

"""The one adapter between plain Python work and Qt: a worker thread whose calls return
handles (superqt's workers, Orange's ``TaskState``).

``submit(function, *args, lane=...)`` queues ``function(*args, task)`` and returns a
:class:`Call`: its :class:`~gan3d_studio.wire.TaskState` (``task``) is how the function
reports progress and learns it was cancelled, and its ``on_done`` / ``on_error`` /
``on_progress`` callbacks run on the GUI thread. Within a lane the newest call wins: an older
one still waiting is dropped, a running one is cancelled, and neither is heard of again.
Progress is throttled; only numpy arrays and frozen dataclasses travel between the threads.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QObject, QThread, Signal, Slot

from gan3d_core.errors import Gan3dError, OperationCancelled, first_line
from gan3d_studio.wire import TaskState

PROGRESS_INTERVAL = 0.05  # seconds between progress reports of one call
ResultT = TypeVar("ResultT")


class Call(Generic[ResultT]):
    """One submitted call: its task state, and the callbacks that hear how it goes.

    Callbacks run on the GUI thread, never after :meth:`cancel`; attach them as the call is
    submitted (before control returns to the event loop), as with a Qt signal.
    """

    def __init__(
        self,
        function: Callable[..., ResultT],
        args: tuple,
        lane: Hashable,
        report: Callable[[Call, float, str], None],
    ) -> None:
        self.function, self.args, self.lane = function, args, lane
        self.task = TaskState(lambda fraction, message: report(self, fraction, message))
        self.last_report = 0.0  # when progress last went to the GUI thread
        self._done: list[Callable[[ResultT], object]] = []
        self._error: list[Callable[[str], object]] = []
        self._progress: list[Callable[[float, str], object]] = []

    def on_done(self, callback: Callable[[ResultT], object]) -> Call[ResultT]:
        """``callback(result)`` when the call returns."""
        self._done.append(callback)
        return self

    def on_error(self, callback: Callable[[str], object]) -> Call[ResultT]:
        """``callback(message)``: one line; "internal error: ..." for a bug."""
        self._error.append(callback)
        return self

    def on_progress(self, callback: Callable[[float, str], object]) -> Call[ResultT]:
        """``callback(fraction, message)`` as the work reports, throttled."""
        self._progress.append(callback)
        return self

    def cancel(self) -> None:
        self.task.cancel()

    @property
    def cancelled(self) -> bool:
        return self.task.should_stop()


class _Thread(QThread):
    def __init__(self, loop: Callable[[], None]) -> None:
        super().__init__()
        self._loop = loop

    def run(self) -> None:
        self._loop()


class Worker(QObject):
    """Runs submitted calls one at a time on its own thread."""

    busy_changed = Signal(bool)
    # From the worker thread to this object's slots, queued to the GUI thread:
    _settled = Signal(object, object, object)  # call, result, one-line error (None: done)
    _reported = Signal(object, float, str)  # call, fraction, message

    def __init__(self) -> None:
        super().__init__()
        self._condition = threading.Condition()
        self._pending: dict[Hashable, Call] = {}
        self._latest: dict[Hashable, Call] = {}  # per lane: the call that may still deliver
        self._closing = False
        self._settled.connect(self._settle)
        self._reported.connect(self._report)
        self._thread = _Thread(self._loop)
        self._thread.setObjectName("gan3d-worker")
        self._thread.start()

    # -- GUI thread ---------------------------------------------------------------------------

    def submit(
        self, function: Callable[..., ResultT], *args: Any, lane: Hashable | None = None
    ) -> Call[ResultT]:
        """Queue ``function(*args, task)``; the call supersedes the one before it in ``lane``
        (None: a lane of its own)."""
        call = Call(function, args, object() if lane is None else lane, self._throttle)
        with self._condition:
            superseded = self._latest.get(call.lane)
            if superseded is not None:
                superseded.cancel()
            self._latest[call.lane] = self._pending[call.lane] = call
            self._condition.notify()
        return call

    def cancel(self, lane: Hashable) -> None:
        """Drop what waits in ``lane`` and stop what runs; nothing of it is delivered."""
        with self._condition:
            self._pending.pop(lane, None)
            call = self._latest.pop(lane, None)
        if call is not None:
            call.cancel()

    def cancel_all(self) -> None:
        """Stop what runs and drop what waits, in every lane (the Cancel button)."""
        with self._condition:
            calls = list(self._latest.values())
            self._pending.clear()
            self._latest.clear()
        for call in calls:
            call.cancel()
        self.busy_changed.emit(False)

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Cancel everything, stop the thread and wait for it. Idempotent."""
        self.cancel_all()
        with self._condition:
            self._closing = True
            self._condition.notify()
        return self._thread.wait(timeout_ms)

    @property
    def thread(self) -> QThread:
        return self._thread

    def _forget(self, call: Call) -> None:
        with self._condition:
            if self._latest.get(call.lane) is call:
                del self._latest[call.lane]

    @Slot(object, object, object)
    def _settle(self, call: Call, result: object, message: str | None) -> None:
        self._forget(call)
        if call.cancelled:  # superseded or cancelled after it returned: never shown
            return
        if message is None:
            for callback in call._done:
                callback(result)
        else:
            for callback in call._error:
                callback(message)

    @Slot(object, float, str)
    def _report(self, call: Call, fraction: float, message: str) -> None:
        if not call.cancelled:
            for callback in call._progress:
                callback(fraction, message)

    # -- worker thread ------------------------------------------------------------------------

    def _throttle(self, call: Call, fraction: float, message: str) -> None:
        now = time.monotonic()
        if now - call.last_report >= PROGRESS_INTERVAL or fraction >= 1.0:
            call.last_report = now
            self._reported.emit(call, fraction, message)

    def _loop(self) -> None:
        while True:
            with self._condition:
                self._condition.wait_for(lambda: self._pending or self._closing)
                if self._closing:
                    return
                call = self._pending.pop(next(iter(self._pending)))
            if call.cancelled:
                continue
            self.busy_changed.emit(True)
            try:
                self._settled.emit(call, call.function(*call.args, call.task), None)
            except OperationCancelled:
                self._forget(call)  # nobody is waiting for it
            except Gan3dError as exc:  # the user's input; anything else is a bug (below)
                self._settled.emit(call, None, first_line(exc))
            except Exception as exc:  # a bug: keep the app alive, say what happened
                traceback.print_exc()
                self._settled.emit(call, None, f"internal error: {first_line(exc)}")
            with self._condition:
                idle = not self._pending
            if idle:
                self.busy_changed.emit(False)

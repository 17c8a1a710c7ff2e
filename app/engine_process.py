"""The engine in its own process, so the GUI never imports torch and never shares a GIL with it.

:class:`EngineProcess` starts a child process (spawn) that imports torch and the core while
the parent imports Qt and VTK, on another core: that overlap is what gets the first frame
on screen within the start-up budget. Its :meth:`~EngineProcess.run` takes the same
arguments as :meth:`gan3d_studio.engine.Engine.run`: it sends the request down a pipe and
blocks the calling thread (the worker's) until the answer comes back, relaying the task
state's progress and cancellation on the way. Only :mod:`gan3d_studio.wire` values cross.
The child imports no Qt. Given the model the app will open first, the child opens it as
soon as its imports are done, while the window is still being built.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import signal
import threading
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from gan3d_core.errors import Gan3dError, OperationCancelled, first_line
from gan3d_studio.wire import LoadModel, Request, TaskState

POLL_SECONDS = 0.02
ResultT = TypeVar("ResultT")


class EngineStopped(Gan3dError):
    """The engine process ended (crashed or was killed) during a call; a new one was
    started with the model reloaded."""


class EngineProcess:
    """An :class:`Engine` running in a child process; :meth:`run` answers one request at a
    time (callers on other threads wait their turn)."""

    def __init__(
        self, engine: str = "gan3d_studio.engine:Engine", preload: LoadModel | None = None
    ) -> None:
        """``engine``: ``module:Class`` of the engine the child runs (an Engine subclass).
        ``preload``: a model the child opens before anyone asks; the first request, if it is
        this one, is answered with it at once (start-up: the model opens while the window is
        built)."""
        module, _, name = engine.partition(":")
        if not module or not name.isidentifier():
            raise ValueError(f"engine must be 'module:Class', got {engine!r}")
        self._engine = (module, name)
        self._preload = preload  # for the first child only: a replacement reloads instead
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._process = None
        # The last load that worked, replayed in a replacement child so that a crash costs
        # the call in flight, not the model; ``on_restart(message)`` hears of each.
        self._loaded: LoadModel | None = None
        self.on_restart: Callable[[str], None] | None = None
        self._aborted = threading.Event()  # the child was ended on purpose: no replacement yet
        self._start()

    def _start(self) -> None:
        self._aborted.clear()
        self._connection, child_end = self._context.Pipe()
        self._cancel = self._context.Event()
        self._process = self._context.Process(
            target=serve,
            args=(child_end, self._cancel, *self._engine, self._preload),
            name="gan3d-engine",
            daemon=True,
        )
        self._process.start()
        child_end.close()
        self._preload = None

    def run(self, request: Request[ResultT], task: TaskState) -> ResultT:
        """The engine's answer to ``request``; ``task`` reaches the child's engine: its
        progress comes back as it is reported, and cancelling it stops the child's work."""
        with self._lock:
            if not self._process.is_alive():  # died between calls: replace it, then go on
                self._restart(reload=not isinstance(request, LoadModel))
            self._cancel.clear()
            try:
                self._connection.send(request)
                kind, payload = self._answer(task)
            except (EOFError, OSError):  # the child died mid-call
                if self._aborted.is_set():  # ended on purpose (closing): the next call restarts
                    self._aborted.clear()
                    self._process.join(1.0)
                    raise EngineStopped(f"{type(request).__name__} stopped") from None
                self._process.join(1.0)  # let the exit code arrive
                exit_code = self._process.exitcode
                self._restart()
                again = "; the model was reloaded, try again" if self._loaded else ""
                raise EngineStopped(
                    f"the engine process stopped during {type(request).__name__} "
                    f"(exit code {exit_code}){again}"
                ) from None
            except BaseException:
                # Anything else between request and answer (an interrupt, an unpicklable
                # reply) leaves the pipe out of step: start over with a fresh child.
                self._restart()
                raise
            if kind == "result" and isinstance(request, LoadModel):
                self._loaded = request  # the child serves this model now, cancelled or not
        if task.should_stop():
            raise OperationCancelled("cancelled")
        if kind == "result":
            return payload
        raise _rebuild(*payload)

    def _answer(self, task: TaskState) -> tuple[str, Any]:
        """Relay progress and cancellation until the child answers the request; returns
        the answer: ("result", value) or ("error", (category, message))."""
        while True:
            if not self._connection.poll(POLL_SECONDS):
                if task.should_stop():
                    self._cancel.set()  # the child stops at its next check; keep draining
                if not self._process.is_alive():
                    raise EOFError
                continue
            kind, payload = self._connection.recv()
            if kind != "progress":
                return kind, payload
            try:
                task.progress(*payload)
            except OperationCancelled:
                self._cancel.set()

    @property
    def pid(self) -> int | None:
        """The current child's process id (it changes when a crashed child is replaced)."""
        return None if self._process is None else self._process.pid

    def _restart(self, reload: bool = True) -> None:
        """A fresh child; with ``reload``, it opens the model the old one had."""
        self._end_child(timeout=0.0)
        self._start()
        if not (reload and self._loaded):
            return
        try:
            self._connection.send(self._loaded)
            kind, _ = self._answer(TaskState())
        except (EOFError, OSError):
            kind = "error"
        if kind != "result":  # the file changed or went away meanwhile
            self._loaded = None
            self._end_child(timeout=0.0)
            self._start()
            return
        if self.on_restart is not None:
            self.on_restart("The engine process stopped and was restarted; the model was reloaded")

    def _end_child(self, timeout: float) -> None:
        try:
            self._connection.send(None)
        except (BrokenPipeError, OSError):
            pass
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._connection.close()

    def abort(self) -> None:
        """End a call in flight by ending the child: the caller gets :class:`EngineStopped`
        and the next call starts a new child. For shutting down while a call ignores cancel."""
        if self._process is not None and self._process.is_alive():
            self._aborted.set()
            self._process.kill()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the child: ask, then insist. Waits for a call in flight. Idempotent."""
        self._cancel.set()
        if not self._lock.acquire(timeout=timeout):
            self.abort()
            self._lock.acquire()
        try:
            if self._process is not None:
                self._end_child(timeout)
                self._process = None
        finally:
            self._lock.release()


def _rebuild(category: str, message: str) -> Exception:
    if category == "cancelled":
        return OperationCancelled(message)
    if category == "user":
        return Gan3dError(message)
    return RuntimeError(message)


def serve(
    connection, cancel, module: str, engine_class: str, preload: LoadModel | None = None
) -> None:
    """The child's loop: run each request on one engine, answer with a result or an error;
    ``preload`` is run first, unasked, and answers the first request if that is the same."""
    # Ctrl-C in the terminal is the GUI's to handle; it ends this process through close().
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Idle OpenMP threads sleep instead of spinning: a spinning engine would take the cores
    # the GUI needs to paint the frame it has just sent.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # torch and the core load here, not in the GUI
    engine = getattr(importlib.import_module(module), engine_class)()
    preloaded = None  # (request, result)
    if preload is not None:
        try:
            preloaded = (preload, engine.run(preload, TaskState(stop=cancel)))
        except Exception:  # the request itself will fail again, and say why
            pass

    def report(fraction: float, message: str) -> None:
        connection.send(("progress", (fraction, message)))

    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        if preloaded is not None:
            asked_for_it = request == preloaded[0]
            answer, preloaded = preloaded[1], None
            if asked_for_it:
                connection.send(("result", answer))
                continue
        try:
            result = engine.run(request, TaskState(report, stop=cancel))
        except OperationCancelled as exc:
            connection.send(("error", ("cancelled", str(exc))))
        except Gan3dError as exc:  # the user's input; anything else is a bug (below)
            connection.send(("error", ("user", first_line(exc))))
        except Exception as exc:  # a bug: say what happened, keep serving
            traceback.print_exc()
            connection.send(("error", ("internal", first_line(exc))))
        else:
            try:
                connection.send(("result", result))
            except Exception as exc:  # e.g. a result that cannot be pickled: a bug
                traceback.print_exc()
                connection.send(("error", ("internal", first_line(exc))))

"""The engine in its own process, so the GUI never imports torch and never shares a GIL with it.

:class:`EngineProcess` starts a child process (spawn) that imports torch and the core while
the parent imports Qt and VTK, on another core: that overlap is what gets the first frame
on screen within the start-up budget. It then stands in for an :class:`~gan3d_studio.engine.
Engine`: ``proxy.shape(state, view)`` sends the call down a pipe and blocks the calling thread
(the worker's) until the answer comes back, relaying progress and cancellation on the way.
Only pickled values cross: latents, view settings, numpy arrays, paths. The child imports no Qt.
"""

from __future__ import annotations

import importlib
import inspect
import multiprocessing
import os
import signal
import threading
import traceback
from collections.abc import Callable
from typing import Any

from gan3d_core.errors import Gan3dError, OperationCancelled, first_line

POLL_SECONDS = 0.02
ENGINE_METHODS = frozenset(
    {"load", "random_state", "shape", "preprocess", "reconstruct", "cut_out", "export",
     "export_series", "interpolation"}
)  # fmt: skip


class EngineStopped(Gan3dError):
    """The engine process ended (crashed or was killed) during a call; a new one was
    started with the model reloaded."""


class EngineProcess:
    """An :class:`Engine` running in a child process; call its methods from one thread."""

    def __init__(self, engine: str = "gan3d_studio.engine:Engine") -> None:
        """``engine``: ``module:Class`` of the engine the child runs (an Engine subclass)."""
        module, _, name = engine.partition(":")
        if not module or not name.isidentifier():
            raise ValueError(f"engine must be 'module:Class', got {engine!r}")
        self._engine = (module, name)
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._process = None
        # The last load that worked, replayed in a replacement child so that a crash costs
        # the call in flight, not the model; ``on_restart(message)`` hears of each.
        self._loaded: tuple | None = None
        self.on_restart: Callable[[str], None] | None = None
        self._start()

    def _start(self) -> None:
        self._connection, child_end = self._context.Pipe()
        self._cancel = self._context.Event()
        self._process = self._context.Process(
            target=serve,
            args=(child_end, self._cancel, *self._engine),
            name="gan3d-engine",
            daemon=True,
        )
        self._process.start()
        child_end.close()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name not in ENGINE_METHODS:
            raise AttributeError(name)

        def call(*args: Any, progress=None, should_stop=None) -> Any:
            return self._call(name, args, progress, should_stop)

        call.__name__ = name
        return call

    def _call(self, name: str, args: tuple, progress, should_stop) -> Any:
        with self._lock:
            if not self._process.is_alive():  # died between calls: replace it, then go on
                self._restart(reload=name != "load")
            self._cancel.clear()
            try:
                self._connection.send((name, args))
                kind, payload, cancelled = self._answer(progress, should_stop)
            except (EOFError, OSError):  # the child died mid-call
                self._process.join(1.0)  # let the exit code arrive
                exit_code = self._process.exitcode
                self._restart()
                again = "; the model was reloaded, try again" if self._loaded else ""
                raise EngineStopped(
                    f"the engine process stopped during {name} (exit code {exit_code}){again}"
                ) from None
            except BaseException:
                # Anything else between request and answer (an interrupt, an unpicklable
                # reply) leaves the pipe out of step: start over with a fresh child.
                self._restart()
                raise
        if cancelled:
            raise OperationCancelled("superseded")
        if kind == "result":
            if name == "load":
                self._loaded = args
            return payload
        raise _rebuild(*payload)

    def _answer(self, progress, should_stop) -> tuple[str, Any, bool]:
        """Relay progress and cancellation until the child answers the request; returns
        the answer (result or error) and whether the caller cancelled meanwhile."""
        cancelled = False
        while True:
            if not self._connection.poll(POLL_SECONDS):
                if should_stop is not None and should_stop():
                    self._cancel.set()  # the child stops at its next check; keep draining
                if not self._process.is_alive():
                    raise EOFError
                continue
            kind, payload = self._connection.recv()
            if kind == "progress":
                try:
                    if progress is not None and not cancelled:
                        progress(*payload)
                except OperationCancelled:
                    cancelled = True
                    self._cancel.set()
                continue
            return kind, payload, cancelled

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
            self._connection.send(("load", self._loaded))
            kind, _, _ = self._answer(None, None)
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


def serve(connection, cancel, module: str, engine_class: str) -> None:
    """The child's loop: run each call on one engine, answer with a result or an error."""
    # Ctrl-C in the terminal is the GUI's to handle; it ends this process through close().
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Idle OpenMP threads sleep instead of spinning: a spinning engine would take the cores
    # the GUI needs to paint the frame it has just sent.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # torch and the core load here, not in the GUI
    engine = getattr(importlib.import_module(module), engine_class)()

    def progress(fraction: float, message: str) -> None:
        connection.send(("progress", (fraction, message)))

    def should_stop() -> bool:
        return cancel.is_set()

    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        name, args = request
        try:
            result = getattr(engine, name)(*args, **_hooks(engine, name, progress, should_stop))
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


def _hooks(engine, name: str, progress, should_stop) -> dict[str, Any]:
    parameters = inspect.signature(getattr(engine, name)).parameters
    hooks = {"progress": progress, "should_stop": should_stop}
    return {key: hook for key, hook in hooks.items() if key in parameters}

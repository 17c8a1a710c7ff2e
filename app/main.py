"""``gan3d-studio [CKPT] [IMAGE ...]``: the desktop app. ``--smoke-test OUT.png`` opens the
real window, renders one generated shape, saves a screenshot and exits."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gan3d_studio.wire import LoadModel

SMOKE_TEST_TIMEOUT_MS = 120_000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gan3d-studio", description="Explore, reconstruct and export 3D shapes."
    )
    parser.add_argument("files", nargs="*", metavar="CKPT|IMAGE|SHAPE|LATENT",
                        help="a checkpoint to open and/or photos of one object to reconstruct, "
                        "a shape file (.binvox, .npy, a mesh) to encode or a NAME.latent.npy "
                        "to decode")  # fmt: skip
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    parser.add_argument(
        "--smoke-test", metavar="OUT.png", help="render one shape, save a screenshot, exit"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    multiprocessing.freeze_support()  # a frozen (PyInstaller) app starts its engine process too
    args = build_parser().parse_args(argv)
    missing = _missing_display()
    if missing:  # Qt would abort, blaming a missing xcb-cursor library
        print(f"gan3d-studio: {missing}; run it on a desktop, or under xvfb-run", file=sys.stderr)
        return 2
    from gan3d_core.errors import Gan3dError, OutputFileError, first_line
    from gan3d_core.resources import default_model_path
    from gan3d_studio.controller import sort_files
    from gan3d_studio.engine_process import EngineProcess
    from gan3d_studio.wire import LoadModel

    try:
        files = sort_files(args.files)
    except Gan3dError as exc:  # a training run's folder with no model yet
        print(f"gan3d-studio: {first_line(exc)}", file=sys.stderr)
        return 2
    folders = [path for path in files.others if path.is_dir()]
    if folders:
        print(f"gan3d-studio: {folders[0]}: is a folder; give the files in it", file=sys.stderr)
        return 2
    if files.others:  # before any window opens
        names = ", ".join(str(p) for p in files.others)
        print(
            f"gan3d-studio: {names}: not an image, a shape, a latent, a session or a checkpoint",
            file=sys.stderr,
        )
        return 2
    if len(files.checkpoints) > 1:
        names = ", ".join(str(p) for p in files.checkpoints)
        print(f"gan3d-studio: {names}: open one model at a time", file=sys.stderr)
        return 2
    if args.smoke_test:  # a screenshot that cannot be written is said before any window
        from gan3d_core.io.atomic import check_output_path, check_writable_folder

        try:
            check_writable_folder(check_output_path(args.smoke_test).parent)
        except OutputFileError as exc:
            print(f"gan3d-studio: error: {exc}", file=sys.stderr)
            return 1
    checkpoint = files.checkpoints[0] if files.checkpoints else None
    first_model = None
    if checkpoint is not None or default_model_path().is_file():
        first_model = LoadModel(checkpoint, args.device)  # what the window will ask for
    # First: the engine process imports torch and opens the model on another core while Qt
    # and VTK load here.
    engine = EngineProcess(preload=first_model)
    try:
        inputs = files.images + files.shapes + files.latents + files.sessions
        return _run(args, engine, first_model, inputs)
    finally:
        engine.close()


def _missing_display() -> str | None:
    """Why Qt will find no screen on Linux, or None: no display named, or an X display
    named that does not answer (asked through libX11, where it is installed)."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return None
    if os.environ.get("WAYLAND_DISPLAY"):
        return None
    display = os.environ.get("DISPLAY")
    if not display:
        return "no display (neither DISPLAY nor WAYLAND_DISPLAY is set)"
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("X11")
    if name is None:
        return None  # Qt will say for itself
    x11 = ctypes.CDLL(name)
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    connection = x11.XOpenDisplay(None)
    if not connection:
        return f"cannot open display {display!r} (is its X server running?)"
    x11.XCloseDisplay(connection)
    return None


def _run(
    args: argparse.Namespace, engine, first_model: LoadModel | None, inputs: list[Path]
) -> int:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from gan3d_studio.main_window import MainWindow
    from gan3d_studio.viewport import ViewportUnavailable

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("gan3d")
    app.setApplicationName("gan3d-studio")
    app.setDesktopFileName("gan3d-studio")
    app.setWindowIcon(_icon())
    try:
        window = MainWindow(QSettings(), device=args.device, engine=engine)
    except ViewportUnavailable as exc:
        print(f"gan3d-studio: {exc}", file=sys.stderr)
        return 2
    window.show()

    if first_model is not None:
        window.controller.open_model(first_model.path, then_open=inputs)
    elif inputs:
        window.show_error("Open a model first: photos, shapes and latents need one")

    if args.smoke_test:
        return _smoke_test(app, window, Path(args.smoke_test), has_model=first_model is not None)
    return app.exec()


def _icon():
    from importlib.resources import files

    from PySide6.QtGui import QIcon

    return QIcon(str(files("gan3d_resources") / "icons" / "gan3d-studio.svg"))


def _smoke_test(app, window, output: Path, has_model: bool) -> int:
    from PySide6.QtCore import QTimer

    from gan3d_core.errors import Gan3dError, first_line
    from gan3d_core.images import png_bytes
    from gan3d_core.io.atomic import write_bytes_atomic

    if not has_model:
        print(
            "gan3d-studio: error: no model to render (no bundled default model installed; pass a checkpoint)",
            file=sys.stderr,
        )
        window.close()
        return 1
    outcome = {"code": 1}

    def shown(_result) -> None:
        app.processEvents()
        try:  # checked before the window opened; the disk may still fill or go away
            write_bytes_atomic(output, png_bytes(window.viewport.grab_image()))
        except Gan3dError as exc:
            failed(first_line(exc))
            return
        outcome["code"] = 0
        print(output)
        window.close()
        app.quit()

    def failed(message: str) -> None:
        print(f"gan3d-studio: error: {message}", file=sys.stderr)
        window.close()
        app.quit()

    window.controller.shape_shown.connect(shown)
    window.controller.error.connect(failed)
    QTimer.singleShot(
        SMOKE_TEST_TIMEOUT_MS, lambda: failed("timed out waiting for the first shape")
    )
    app.exec()
    return outcome["code"]


if __name__ == "__main__":
    sys.exit(main())

"""Screenshots of the main window in each view mode, for the README and reviews.

    xvfb-run -a -s "-screen 0 1600x1000x24" python docs/make_screenshots.py CKPT [--image PHOTO]

Writes docs/images/window-{smooth,blocks,points}.png: the whole window, captured from the
(virtual) screen, so panels and the OpenGL viewport appear together.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).parent / "images"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--image", help="a photo to reconstruct before the screenshots")
    args = parser.parse_args()
    from PySide6.QtCore import QEventLoop, QSettings
    from PySide6.QtWidgets import QApplication

    from gan3d_studio.main_window import MainWindow

    app = QApplication([])
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings, device="cpu")
    window.show()
    shown = []
    window.controller.shape_shown.connect(shown.append)

    def wait_for_shape() -> None:
        count = len(shown)
        while len(shown) == count:
            app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents, 50)
        settle(0.3)

    def settle(seconds: float) -> None:  # let pending repaints (status bar, docks) land
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)

    window.controller.open_model(args.checkpoint)
    wait_for_shape()
    if args.image:
        window.reconstruct_panel.request([args.image])
        wait_for_shape()
    OUT.mkdir(parents=True, exist_ok=True)
    for mode in ("smooth", "blocks", "points"):
        if window.session.view.mode != mode:
            window.session.set_view(mode=mode)
            wait_for_shape()
        window.viewport.render()
        settle(0.3)
        path = OUT / f"window-{mode}.png"
        app.primaryScreen().grabWindow(window.winId()).save(str(path))
        print(path)
    window.session.unsaved = False  # a scripted window: no work to offer to save
    window.close()


if __name__ == "__main__":
    main()

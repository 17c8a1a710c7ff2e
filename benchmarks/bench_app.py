"""The real window, timed: slider-to-frame latency (p50, p95) at 32^3 and 64^3, and start-up
time to the first frame. Needs a display; on a headless machine:

    xvfb-run -a python benchmarks/bench_app.py [--model CKPT] [--moves 40] [--repeats 3]

Latency: a direction slider is moved (as a drag) and the clock stops when the viewport has
painted the frame with the new shape; the next move waits for that frame. Start-up: wall
time of a fresh ``gan3d-studio CKPT --smoke-test`` process, from launch to its first frame
saved on disk (Python and library imports included).

Without --model: the bundled model at 32^3 and, as no trained 64^3 model exists, paper
widths with random weights at 64^3, twice: as they are (noise, ~100k-face meshes: a worst
case for meshing and drawing), and with real 64^3 ModelNet beds meshed and drawn in place of
the noise (``real_shape_engine.py``: the decode still runs, and its cost does not depend on
the weights), which is what a trained model's frames cost.

The app picks its viewport by the OpenGL renderer (gan3d_studio.viewport); set
GAN3D_VIEWPORT=qt or native to time one or the other. Each row names the one it timed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from report import write_report

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BEDS_64 = SHARED_DATA / "modelnet10" / "modelnet10_bed_64_mixed.npz"


def paper_checkpoint(resolution: int, folder: Path) -> Path:
    import torch

    from gan3d_core import ModelConfig, save_checkpoint
    from gan3d_core.models import GanNetworks

    torch.manual_seed(resolution)
    networks = GanNetworks(ModelConfig(resolution=resolution))
    return save_checkpoint(folder / f"paper_{resolution}.safetensors", networks)


def slider_latency(checkpoint: Path, moves: int, engine: str | None = None) -> dict:
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from gan3d_studio.engine_process import EngineProcess
    from gan3d_studio.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    # Fresh settings in a temporary folder: never beside the checkpoint (it may be installed).
    settings_file = Path(tempfile.mkdtemp()) / "settings.ini"
    settings = QSettings(str(settings_file), QSettings.Format.IniFormat)
    engine_process = EngineProcess(engine) if engine else EngineProcess()
    window = MainWindow(settings, device="cpu", engine=engine_process)
    window.show()
    shown: list[float] = []
    errors: list[str] = []
    window.controller.error.connect(errors.append)
    awaiting_frame = []
    window.controller.shape_shown.connect(lambda result: awaiting_frame.append(True))

    def drawn() -> None:  # the clock stops when the new shape's frame is painted
        if awaiting_frame:
            awaiting_frame.clear()
            shown.append(time.perf_counter())

    window.viewport.frame_drawn.connect(drawn)

    ticker = QTimer()  # wakes the wait below now and then, to check the deadline
    ticker.start(100)

    def wait_for(count: int, timeout: float = 60.0) -> None:
        deadline = time.perf_counter() + timeout
        while len(shown) < count and time.perf_counter() < deadline:
            # Sleep until an event arrives, as app.exec() does. (The overload with a maximum
            # time ignores WaitForMoreEvents and spins, taking a core from the engine.)
            app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)
        if len(shown) < count:
            raise RuntimeError(errors[-1] if errors else "no frame arrived")

    window.controller.open_model(checkpoint)
    wait_for(1)
    slider = window.latent_panel.sliders[0]
    slider.setSliderDown(True)
    latencies = []
    processes = (os.getpid(), engine_process.pid)
    cpu_before = [process_cpu_seconds(pid) for pid in processes]
    for move in range(moves):
        before = len(shown)
        start = time.perf_counter()
        slider.setValue(-250 + (500 * move) // max(moves - 1, 1))
        wait_for(before + 1)
        latencies.append(shown[-1] - start)
    cpu_per_move = [
        round(1000 * (after - before) / moves, 1)
        for before, after in zip(cpu_before, [process_cpu_seconds(pid) for pid in processes])
    ]
    slider.setSliderDown(False)
    resolution = window.session.model.resolution
    viewport = type(window.viewport).__name__
    window.session.unsaved = False  # a scripted window: no work to offer to save
    window.close()
    engine_process.close()
    milliseconds = np.array(latencies) * 1000
    return {
        "resolution": resolution,
        "viewport": viewport,
        "moves": moves,
        "p50_ms": round(float(np.percentile(milliseconds, 50)), 1),
        "p95_ms": round(float(np.percentile(milliseconds, 95)), 1),
        "max_ms": round(float(milliseconds.max()), 1),
        # CPU time is steadier than wall time on a shared machine: GUI (with its OpenGL
        # threads) and engine process, per move.
        "gui_cpu_ms": cpu_per_move[0],
        "engine_cpu_ms": cpu_per_move[1],
    }


def cpu_counters() -> np.ndarray:
    """This machine's CPU time counters (/proc/stat; zeros elsewhere)."""
    try:
        with open("/proc/stat") as stat:
            return np.array(stat.readline().split()[1:9], dtype=float)
    except OSError:
        return np.zeros(8)


def steal_percent(before: np.ndarray, after: np.ndarray) -> float:
    """Share of CPU time the hypervisor gave to other machines: wall-time figures taken
    while it is high are slower than this machine's own."""
    spent = after - before
    return round(100 * spent[7] / max(spent.sum(), 1), 1)


def process_cpu_seconds(pid: int) -> float:
    """CPU time a process has used, all its threads (Linux /proc; 0.0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()  # after the command name
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def median_of(runs: list[dict]) -> dict:
    """One row from repeated runs: medians of p50 and p95 (a shared machine is noisy), and
    every run's p95."""
    return {
        "resolution": runs[0]["resolution"],
        "viewport": runs[0]["viewport"],
        "moves": runs[0]["moves"],
        "p50_ms": round(statistics.median(r["p50_ms"] for r in runs), 1),
        "p95_ms": round(statistics.median(r["p95_ms"] for r in runs), 1),
        "p95_ms_runs": [r["p95_ms"] for r in runs],
        "gui_cpu_ms": round(statistics.median(r["gui_cpu_ms"] for r in runs), 1),
        "engine_cpu_ms": round(statistics.median(r["engine_cpu_ms"] for r in runs), 1),
    }


def startup_seconds(checkpoint: Path, runs: int = 3) -> float:
    """Median time from launching ``gan3d-studio CKPT --smoke-test`` to its first frame on
    disk (the process then closes; that is not counted)."""
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as folder:
            frame = Path(folder) / "first.png"
            start = time.perf_counter()
            process = subprocess.Popen(
                [sys.executable, "-m", "gan3d_studio", str(checkpoint), "--device", "cpu",
                 "--smoke-test", str(frame)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            while not frame.exists() and process.poll() is None:
                time.sleep(0.005)
            times.append(time.perf_counter() - start)
            if process.wait(60) != 0:
                raise RuntimeError(f"gan3d-studio --smoke-test failed on {checkpoint}")
    return round(statistics.median(times), 2)


def default_cases(folder: Path) -> list[tuple[str, Path, str | None]]:
    """(label, checkpoint, engine) to time when no --model is given."""
    from gan3d_core.resources import default_model_path

    bundled = default_model_path()
    first = bundled if bundled.is_file() else paper_checkpoint(32, folder)
    paper_64 = paper_checkpoint(64, folder)
    cases = [(first.name, first, None), ("64^3 random weights (noise)", paper_64, None)]
    if BEDS_64.is_file():
        cases.append(("64^3 decode + real beds", paper_64, "real_shape_engine:RealShapeEngine"))
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        action="append",
        help="checkpoint(s) to time (default: the bundled 32^3 model, or paper widths with "
        "random weights where none is installed, and paper widths at 64^3)",
    )
    parser.add_argument("--moves", type=int, default=40)
    parser.add_argument(
        "--repeats", type=int, default=3, help="fresh windows per case; medians are reported"
    )
    parser.add_argument("--json", default="benchmarks/results/app.json")
    args = parser.parse_args()
    report = {"latency": [], "startup_s": {}}
    counters = cpu_counters()
    with tempfile.TemporaryDirectory() as tmp:
        given = [(Path(m).name, Path(m), None) for m in args.model or []]
        cases = given or default_cases(Path(tmp))
        for label, checkpoint, engine in cases:
            runs = [slider_latency(checkpoint, args.moves, engine) for _ in range(args.repeats)]
            row = {"case": label, **median_of(runs)}
            report["latency"].append(row)
            print(f"slider -> frame {row['resolution']}^3, {label}, {row['viewport']}: "
                  f"p50 {row['p50_ms']} ms, p95 {row['p95_ms']} ms (medians of {args.repeats} "
                  f"runs of {args.moves} moves; p95 per run {row['p95_ms_runs']}); CPU per move: GUI "
                  f"{row['gui_cpu_ms']} ms, engine {row['engine_cpu_ms']} ms", flush=True)  # fmt: skip
        models = list(dict.fromkeys(checkpoint for _, checkpoint, _ in cases))
        for checkpoint in models:
            seconds = startup_seconds(checkpoint)
            report["startup_s"][checkpoint.name] = seconds
            print(f"start-up to first frame ({checkpoint.name}): {seconds} s", flush=True)
    report["cpu_steal_percent"] = steal_percent(counters, cpu_counters())
    print(f"CPU time taken by other virtual machines during the run (steal): "
          f"{report['cpu_steal_percent']} %")  # fmt: skip
    write_report(args.json, report)


if __name__ == "__main__":
    main()

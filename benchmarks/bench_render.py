"""Renderer speed: views per second (ring and jittered cameras), preprocessing included.

    python benchmarks/bench_render.py [--shapes 20] [--size 128] [--json ...]

Uses real ModelNet10 shapes from ../shared when present, else synthetic ones.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from report import write_report

from gan3d_core.data.render import render_views

SHARED = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "modelnet10"
    / "modelnet10_train_32.npz"
)


def shapes(count: int) -> tuple[np.ndarray, str]:
    if SHARED.is_file():
        voxels = np.load(SHARED)["voxels"]
        return voxels[np.linspace(0, len(voxels) - 1, count).astype(int)], "ModelNet10 train"
    axis = np.linspace(-1, 1, 32)
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    radii = np.linspace(0.3, 0.9, count)
    return np.stack([(x**2 + y**2 + z**2 < r**2) for r in radii]).astype(
        np.uint8
    ), "synthetic balls"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", type=int, default=20)
    parser.add_argument("--views", type=int, default=12)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--json", default="benchmarks/results/render.json")
    args = parser.parse_args()
    voxels, source = shapes(args.shapes)
    render_views(voxels[:1], 1, args.size)  # start-up of VTK, not counted
    report = {
        "source": source,
        "shapes": len(voxels),
        "views_per_shape": args.views,
        "size": args.size,
    }
    for name, jitter in [("ring", False), ("jittered", True)]:
        start = time.perf_counter()
        render_views(voxels, args.views, args.size, jitter=jitter)
        seconds = time.perf_counter() - start
        report[f"{name}_views_per_s"] = round(len(voxels) * args.views / seconds, 1)
        print(f"render {name:<8} {args.size} px: {report[f'{name}_views_per_s']:.1f} views/s "
              f"({len(voxels)} {source} shapes x {args.views} views in {seconds:.1f} s)")  # fmt: skip
    write_report(args.json, report)


if __name__ == "__main__":
    main()

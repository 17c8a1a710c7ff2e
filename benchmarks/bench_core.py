"""Core speed: decoding, marching cubes and export, each beside a naive baseline, one run.

    python benchmarks/bench_core.py [--model CKPT] [--json benchmarks/results/core.json]

Decoding: the naive baseline is the paper architecture in plain eager fp32 PyTorch
(``model.eval()``, ``torch.no_grad()``); ours is ``GanModel.decode`` (inference mode, BatchNorm
folded, first layer as a matmul, sub-pixel last layer, channels_last_3d). Both run the same
weights, interleaved, so machine noise hits both alike; medians are reported. Without
--model the weights are random (paper widths) and agreement is reported as max |difference|;
with a trained checkpoint the IoU between fast and fp32 shapes is the meaningful figure.

Meshing: skimage marching cubes on the raw grid vs ours (cropped, padded, tie-broken so the
surface is watertight). Export: trimesh writing the skimage mesh vs our atomic export_shape.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from report import write_report

from gan3d_core import ModelConfig, load_model, save_checkpoint
from gan3d_core.mesh import export_shape, voxels_to_mesh
from gan3d_core.metrics import iou
from gan3d_core.models import GanNetworks

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "modelnet10"


def timed(function, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def random_checkpoint(resolution: int, folder: Path) -> Path:
    torch.manual_seed(resolution)
    networks = GanNetworks(ModelConfig(resolution=resolution))
    for module in networks.modules():  # eval statistics as after training, not the identity
        if isinstance(module, torch.nn.BatchNorm3d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 2.0)
    return save_checkpoint(folder / f"paper_{resolution}.safetensors", networks)


def bench_decode(model, batch: int, repeats: int) -> dict:
    generator = model.networks.generator
    latents = model.sample_latents(batch, seed=1)
    labels = 0 if model.config.conditional else None
    z = torch.from_numpy(latents)
    label_tensor = torch.zeros(batch, dtype=torch.long) if labels is not None else None

    def naive() -> np.ndarray:
        with torch.no_grad():
            return torch.sigmoid(generator(z, label_tensor))[:, 0].numpy()

    def fast() -> np.ndarray:
        return model.decode(latents, labels=labels, batch_size=batch)

    reference, ours = naive(), fast()  # warm-up, and the outputs to compare
    naive_times, fast_times = [], []
    for _ in range(repeats):
        naive_times += timed(naive, 1)
        fast_times += timed(fast, 1)
    naive_s, fast_s = statistics.median(naive_times), statistics.median(fast_times)
    return {
        "batch": batch,
        "naive_ms": round(naive_s * 1e3, 2),
        "fast_ms": round(fast_s * 1e3, 2),
        "naive_shapes_per_s": round(batch / naive_s, 2),
        "fast_shapes_per_s": round(batch / fast_s, 2),
        "speedup": round(naive_s / fast_s, 2),
        "max_abs_difference": float(np.abs(ours - reference).max()),
        "iou_fast_vs_fp32": float(np.mean(iou(ours, reference))),
    }


def example_grid(resolution: int) -> tuple[np.ndarray, str]:
    """A real ModelNet10 shape when ../shared is there, else a synthetic blob."""
    name = "modelnet10_train_32.npz" if resolution == 32 else "modelnet10_bed_64_mixed.npz"
    if (SHARED_DATA / name).is_file():
        return np.load(SHARED_DATA / name)["voxels"][0].astype(np.float32), f"{name}[0]"
    axis = np.linspace(-1, 1, resolution)
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    blob = (x**2 + 2 * y**2 + 0.5 * z**2 < 0.5).astype(np.float32)
    return blob, "synthetic ellipsoid"


def bench_mesh(resolution: int, repeats: int, folder: Path) -> dict:
    import trimesh
    from skimage.measure import marching_cubes

    grid, source = example_grid(resolution)

    def naive_mesh():
        vertices, faces, _, _ = marching_cubes(grid, level=0.5)
        return trimesh.Trimesh(vertices, faces, process=False)

    def naive_export():
        naive_mesh().export(folder / "naive.stl")

    def our_export():
        export_shape(grid, folder / "ours.stl")

    results = {"source": source, "occupancy": round(float(grid.mean()), 4)}
    for name, function in [
        ("marching_cubes_skimage_ms", naive_mesh),
        ("marching_cubes_ours_ms", lambda: voxels_to_mesh(grid)),
        ("export_stl_naive_ms", naive_export),
        ("export_stl_ours_ms", our_export),
    ]:
        function()
        results[name] = round(statistics.median(timed(function, repeats)) * 1e3, 2)
    results["ours_watertight"] = bool(voxels_to_mesh(grid).is_watertight)
    results["skimage_watertight"] = bool(naive_mesh().is_watertight)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a trained checkpoint (default: random paper weights)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default="benchmarks/results/core.json")
    args = parser.parse_args()

    report = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "decode": {},
        "mesh": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = (
            [Path(args.model)] if args.model else [random_checkpoint(r, folder) for r in (32, 64)]
        )
        for path in paths:
            model = load_model(path, device="cpu")
            key = f"{model.resolution}^3" + ("" if args.model else " (random weights)")
            report["decode"][key] = [
                bench_decode(model, 1, args.repeats * 3),
                bench_decode(model, 16, args.repeats),
            ]
            for row in report["decode"][key]:
                print(
                    f"decode {key:<22} batch {row['batch']:>2}: naive {row['naive_ms']:8.1f} ms  "
                    f"ours {row['fast_ms']:8.1f} ms  x{row['speedup']:.2f}  "
                    f"({row['naive_shapes_per_s']:.1f} vs {row['fast_shapes_per_s']:.1f} shapes/s; "
                    f"max diff {row['max_abs_difference']:.1e}, IoU {row['iou_fast_vs_fp32']:.4f})"
                )
        for resolution in (32, 64):
            row = report["mesh"][f"{resolution}^3"] = bench_mesh(
                resolution, args.repeats * 4, folder
            )
            print(
                f"mesh {resolution}^3 ({row['source']}): marching cubes skimage "
                f"{row['marching_cubes_skimage_ms']:.1f} ms vs ours {row['marching_cubes_ours_ms']:.1f}"
                f" ms; STL export naive {row['export_stl_naive_ms']:.1f} ms vs ours "
                f"{row['export_stl_ours_ms']:.1f} ms; watertight skimage "
                f"{row['skimage_watertight']} ours {row['ours_watertight']}"
            )
    write_report(args.json, report)


if __name__ == "__main__":
    main()

"""Training throughput (shapes per second) beside a naive loop, in one run.

    python benchmarks/bench_training.py [--batch-size 32] [--steps 3] [--json ...]

Naive: the paper architecture trained by a plain eager fp32 PyTorch loop (contiguous
tensors; one D update on real and fake shapes, one G update), as research code does it.
Ours: ``Trainer.train_step`` on the same architecture and batch, with everything it does
besides (adaptive D, soft labels, logging of accuracies). The VAE-GAN row adds the image
encoder, KL and reconstruction terms (64 px views) and has no naive twin.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from report import write_report

from gan3d_core import ModelConfig
from gan3d_core.models import GanNetworks
from gan3d_core.training import TrainConfig, Trainer, TrainingData


def naive_step(networks, optimizers, real, z) -> None:
    generator, discriminator = networks.generator, networks.discriminator
    ones, zeros = torch.ones(len(real)), torch.zeros(len(real))
    fake = torch.sigmoid(generator(z))
    loss_d = F.binary_cross_entropy_with_logits(discriminator(real), ones)
    loss_d = loss_d + F.binary_cross_entropy_with_logits(discriminator(fake.detach()), zeros)
    optimizers[1].zero_grad()
    loss_d.backward()
    optimizers[1].step()
    loss_g = F.binary_cross_entropy_with_logits(discriminator(fake), ones)
    optimizers[0].zero_grad()
    loss_g.backward()
    optimizers[0].step()


def measure(functions: dict, steps: int) -> dict[str, float]:
    """Median seconds per call of each function, calls interleaved so noise hits all alike."""
    for function in functions.values():
        function()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(steps):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def random_shapes(count: int, resolution: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((count, resolution, resolution, resolution)) < 0.1).astype(np.uint8)


def bench(resolution: int, kind: str, batch: int, steps: int) -> dict:
    voxels = random_shapes(batch * 2, resolution)
    labels = np.zeros(len(voxels), np.int64)
    views = None
    if kind != "gan":
        views = np.random.default_rng(1).integers(
            0, 255, (len(voxels), 2, 64, 64, 3), dtype=np.uint8
        )
    config = TrainConfig(
        kind=kind, data="(random)", resolution=resolution, batch_size=batch, epochs=1,
        image_size=64, rendered_views=2, views=1, validation_fraction=0.0,
    )  # fmt: skip
    trainer = Trainer(
        config, TrainingData(voxels, labels, ["shape"], views), None, "/tmp/unused", device="cpu"
    )
    functions = {"ours": lambda: trainer.train_step(trainer._batch(0))}
    if kind == "gan":
        torch.manual_seed(0)
        networks = GanNetworks(ModelConfig(resolution=resolution)).train()
        optimizers = [
            torch.optim.Adam(networks.generator.parameters(), 0.0025, (0.5, 0.999)),
            torch.optim.Adam(networks.discriminator.parameters(), 1e-5, (0.5, 0.999)),
        ]
        real = torch.from_numpy(voxels[:batch].astype(np.float32))[:, None]
        z = torch.randn(batch, 200)
        functions["naive"] = lambda: naive_step(networks, optimizers, real, z)
    seconds = measure(functions, steps)
    row = {"resolution": resolution, "kind": kind, "batch": batch}
    for name, value in seconds.items():
        row[f"{name}_s_per_step"] = round(value, 3)
        row[f"{name}_shapes_per_s"] = round(batch / value, 2)
    if "naive" in seconds:
        row["speedup"] = round(seconds["naive"] / seconds["ours"], 2)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--json", default="benchmarks/results/training.json")
    args = parser.parse_args()
    rows = []
    for resolution, kind in [(32, "gan"), (64, "gan"), (32, "vaegan")]:
        row = bench(resolution, kind, args.batch_size, args.steps)
        rows.append(row)
        line = f"train {kind:<7} {resolution}^3 batch {row['batch']}: ours {row['ours_shapes_per_s']:6.1f} shapes/s"
        if "naive_shapes_per_s" in row:
            line += f"  naive {row['naive_shapes_per_s']:6.1f} shapes/s  x{row['speedup']:.2f}"
        print(line, flush=True)
    report = {
        "machine": {"cpu": platform.processor(), "threads": torch.get_num_threads()},
        "rows": rows,
    }
    write_report(args.json, report)


if __name__ == "__main__":
    main()

"""The seed papers' training options side by side, each on the same fixed budget.

    python benchmarks/bench_ablations.py [--minutes 10] [--data NPZ] [--classes chair]
        [--arms baseline,dice,...] [--device auto] [--out DIR] [--json PATH]
    python benchmarks/bench_ablations.py --smoke --data SHAPES.npz --classes all  # seconds

Every arm is the plain 3D-VAE-GAN of the end-to-end recipe (``modelnet10-cvaegan-32``'s
settings, one view, unconditional, six jittered renders per shape) with one option on,
trained from the same seed on the same split for ``--minutes`` of wall-clock time each
(constant learning rates, so stopping on time is no different from a shorter run), each in
a fresh process so that its peak memory is its own. Then, on the validation split: IoU
(at 0.5 and 0.4) and SSIM of reconstructions from one rendered view (``gan3d eval --task
recon``), coverage and 1-NNA of as many random samples against the held-out shapes
(``--task gen``), seconds per training step and peak memory. Prints a Markdown table and
writes JSON. ``--smoke``: tiny networks, two steps per arm (the test suite runs it).
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import resource
import tempfile
import time
from pathlib import Path

from report import write_report

# DIB-R's term on the scale of the recipe's reconstruction term, 100 * BCE: on held-out
# chairs the bundled autoencoder's reconstructions (IoU 0.56) have BCE 0.056 (x 100: 5.6)
# and silhouette loss 0.55, the true shapes 0.33 (thin legs blur at 32 px): x 10, 2.1 apart.
SILHOUETTE_WEIGHT = 10.0
ARMS = {
    "baseline": ("3D-VAE-GAN, BCE reconstruction", {}),
    "dice": ("+ V-Net Dice beside BCE", {"recon_loss": "bce_dice"}),
    "residual": ("+ V-Net residual stages", {"residual_convs": 1}),
    "mpse": ("+ MPSE projection discriminators (x, y, z)", {"projection_axes": "xyz"}),
    "silhouette": ("+ DIB-R silhouette loss", {"silhouette_weight": SILHOUETTE_WEIGHT}),
    "silhouettes-only": (
        "MPSE + DIB-R on silhouettes alone, no 3D supervision",
        {
            "silhouettes_only": True,
            "projection_axes": "xyz",
            "silhouette_weight": SILHOUETTE_WEIGHT,
        },
    ),
}
SMOKE = dict(
    latent_dim=8, generator_widths=[16, 8, 4], discriminator_widths=[4, 8, 16],
    encoder_widths=[4, 8, 8, 16], batch_size=5, rendered_views=2, validation_samples=4,
)  # fmt: skip
COLUMNS = [
    ("steps", "steps", "{}"),
    ("seconds_per_step", "s/step", "{:.3f}"),
    ("peak_rss_mb", "peak MB", "{:.0f}"),
    ("iou", "IoU", "{:.3f}"),
    ("iou@0.4", "IoU@0.4", "{:.3f}"),
    ("ssim", "SSIM", "{:.3f}"),
    ("coverage", "coverage", "{:.3f}"),
    ("1-nna", "1-NNA", "{:.3f}"),
]


def base_settings(args: argparse.Namespace) -> dict:
    """The baseline's TrainConfig fields: the recipe's, one view, a budget of time."""
    from gan3d_core.training.config import load_recipe

    settings = load_recipe("modelnet10-cvaegan-32")
    settings.update(
        kind="vaegan", data=str(args.data), views=1, vary_views=False, encoder_classifier=False,
        classes=None if args.classes == "all" else args.classes.split(","), rendered_views=6,
        seed=args.seed, split_seed=args.seed, epochs=100_000, validate_every=10**9, checkpoint_every=10**9,
        cache_dir=str(args.cache_dir) if args.cache_dir else None,
    )  # fmt: skip
    if args.smoke:
        settings.update(SMOKE)
    return settings


def prepare(settings: dict) -> None:
    """Render every view once (training, validation, evaluation), so no arm's time or
    memory includes rendering: the arms share the cache."""
    from gan3d_core.evaluation import evaluation_views, load_eval_dataset
    from gan3d_core.training import TrainConfig, prepare_data
    from gan3d_core.training.run import default_cache_dir

    config = TrainConfig.from_dict(settings)
    prepare_data(config)
    validation = load_eval_dataset(config.data, config.resolution, "validation", settings)
    cache = Path(config.cache_dir) if config.cache_dir else default_cache_dir()
    evaluation_views(validation, 1, config.image_size, cache / "views")


def run_arm(settings: dict, run_dir: str, seconds: float, max_steps: int, device: str) -> dict:
    """Train one arm on its budget, then measure it (in a fresh process)."""
    import torch

    from gan3d_core import load_model
    from gan3d_core.evaluation import (
        evaluate_generation,
        evaluate_reconstruction,
        load_eval_dataset,
    )
    from gan3d_core.training import TrainConfig, TrainerCallback, train_run
    from gan3d_core.training.run import default_cache_dir

    class Budget(TrainerCallback):
        """Stops training after ``seconds`` or ``max_steps`` steps; times the steps alone."""

        def on_train_start(self, trainer) -> None:
            self.started, self.steps, self.seconds = time.perf_counter(), 0, 0.0

        def on_step_end(self, trainer, logs) -> None:
            self.steps, self.seconds = trainer.step, time.perf_counter() - self.started

        def spent(self) -> bool:
            return self.steps >= max_steps or self.seconds >= seconds

    config = TrainConfig.from_dict(settings)
    budget = Budget()
    train_run(config, run_dir, callbacks=[budget], should_stop=budget.spent, device=device)
    row = {
        "steps": budget.steps,
        "seconds_per_step": budget.seconds / max(budget.steps, 1),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,  # KiB
    }
    if torch.cuda.is_available():
        row["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    model = load_model(Path(run_dir) / "model.safetensors", device=device)
    validation = load_eval_dataset(config.data, config.resolution, "validation", settings)
    cache = Path(config.cache_dir) if config.cache_dir else default_cache_dir()
    recon = evaluate_reconstruction(model, validation, 1, cache_dir=cache / "views")
    generation = evaluate_generation(model, validation, seed=config.seed)
    row.update({key: recon[key] for key in ("n", "iou", "iou@0.4", "ssim")})
    row.update({key: generation[key] for key in ("coverage", "1-nna", "mmd")})
    return row


def markdown_table(rows: dict[str, dict]) -> str:
    lines = [
        "| arm | option | " + " | ".join(title for _, title, _ in COLUMNS) + " |",
        "|---|---|" + "---:|" * len(COLUMNS),
    ]
    for name, row in rows.items():
        cells = [form.format(row[key]) for key, _, form in COLUMNS]
        lines.append(f"| {name} | {ARMS[name][0]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/modelnet10/modelnet10_train_32.npz")
    parser.add_argument("--classes", default="chair", help="comma-separated, or all")
    parser.add_argument("--minutes", type=float, default=10.0, help="training time per arm")
    parser.add_argument("--arms", default=",".join(ARMS), help=f"some of {', '.join(ARMS)}")
    parser.add_argument("--seed", type=int, default=0, help="weights, batches and the split")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--cache-dir", help="rendered views (default: ~/.cache/gan3d)")
    parser.add_argument("--out", help="run folders, one per arm (default: a new temp folder)")
    parser.add_argument("--json", default="benchmarks/results/ablations.json")
    parser.add_argument("--smoke", action="store_true", help="tiny networks, 2 steps per arm")
    args = parser.parse_args(argv)
    arms = args.arms.split(",")
    unknown = sorted(set(arms) - set(ARMS))
    if unknown:
        parser.error(f"unknown arms {', '.join(unknown)}; known: {', '.join(ARMS)}")
    out = Path(args.out or tempfile.mkdtemp(prefix="gan3d-ablations-"))
    settings = base_settings(args)
    prepare(settings)
    max_steps = 2 if args.smoke else 10**9
    rows = {}
    context = multiprocessing.get_context("spawn")
    for name in arms:
        arm_settings = {**settings, **ARMS[name][1]}
        with context.Pool(1) as pool:
            rows[name] = pool.apply(
                run_arm, (arm_settings, str(out / name), args.minutes * 60, max_steps, args.device)
            )
        print(f"{name}: " + ", ".join(f"{k} {v:.4g}" for k, v in rows[name].items()), flush=True)
    print()
    print(markdown_table(rows))
    write_report(
        args.json,
        {
            "machine": {"cpu": platform.processor(), "python": platform.python_version()},
            "minutes_per_arm": args.minutes,
            "settings": settings,
            "arms": {name: ARMS[name][1] for name in arms},
            "run_folders": str(out),
            "rows": rows,
        },
    )
    return rows


if __name__ == "__main__":
    main()

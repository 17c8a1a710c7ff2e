"""Cluttered photos: held-out shapes rendered by the project's renderer, pasted onto real
photographs that ship with scikit-image, then separated again by GrabCut.

    python benchmarks/bench_background.py [CKPT] [--shapes 60] [--json benchmarks/results/background.json]

For each composite it reports the IoU of the mask GrabCut finds against the render's own
silhouette, and the IoU between the model's reconstruction from the composite and its
reconstruction from the clean render (1.0: the background changed nothing). It does so
twice: automatically (GrabCut from its centre prior), and with the box a user draws in the
app or passes as ``--box`` (here the silhouette's bounding box grown by BOX_PADDING of the
frame on each side), which is how a photo with a subject of its own is meant to be used.

Two more overlaps say where the difference comes from: ``kept`` reconstructs the clean
render cut by the object pixels the mask kept (what a mask that took in none of the
photo's colours would give: the loss from dropped pixels alone), and ``noise`` the clean
render with Gaussian noise of NOISE_SIGMA grey levels (the model's own sensitivity to
pixels, which no mask can remove).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from report import write_report

BACKGROUNDS = ("coffee", "chelsea", "astronaut", "rocket", "brick", "grass")
BOX_PADDING = 0.05
FAIR_RECONSTRUCTION = 0.3
NOISE_SIGMA = 2.0  # grey levels: below what a phone photo's sensor noise is


def drawn_box(truth: np.ndarray) -> tuple[int, int, int, int]:
    """The box a user would draw around the object: its bounding box, a little loose."""
    rows, cols = np.flatnonzero(truth.any(axis=1)), np.flatnonzero(truth.any(axis=0))
    pad = round(BOX_PADDING * max(truth.shape))
    left, top = max(0, cols[0] - pad), max(0, rows[0] - pad)
    right, bottom = min(truth.shape[1], cols[-1] + 1 + pad), min(truth.shape[0], rows[-1] + 1 + pad)
    return left, top, right - left, bottom - top


def background(name: str, height: int, width: int) -> np.ndarray:
    from PIL import Image
    from skimage import data

    image = getattr(data, name)()
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.asarray(Image.fromarray(image[:, :, :3]).resize((width, height)))


def overlap(shape: np.ndarray, other: np.ndarray) -> float:
    from gan3d_core.metrics import iou

    return float(iou(shape[None], other[None])[0])


def overlap_spread(rows: list[dict]) -> dict:
    """How the overlaps of the two reconstructions spread: their median, the share of
    composites within 0.05 of the clean reconstruction (overlap 0.95 or more), and the mean
    over the shapes whose clean reconstruction is a fair one (IoU 0.3 or more against the
    true shape; two failed reconstructions of a few sticks share nothing but chance)."""
    fair = [row for row in rows if row["recon_iou_clean_vs_truth"] >= FAIR_RECONSTRUCTION]
    spread = {"fair_shapes": len(fair)}
    for key in ("auto_recon_iou_clean_vs_composite", "box_recon_iou_clean_vs_composite",
                "auto_recon_iou_clean_vs_kept", "box_recon_iou_clean_vs_kept",
                "recon_iou_clean_vs_noise"):  # fmt: skip
        overlaps = np.array([row[key] for row in rows])
        spread[f"{key}_median"] = round(float(np.median(overlaps)), 4)
        spread[f"{key}_share_0.95"] = round(float((overlaps >= 0.95).mean()), 4)
        spread[f"{key}_mean_fair"] = round(float(np.mean([row[key] for row in fair])), 4)
    return spread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", nargs="?", help="default: the bundled model")
    parser.add_argument("--shapes", type=int, default=60)  # 20 left the mean to a few failures
    parser.add_argument("--json", default="benchmarks/results/background.json")
    args = parser.parse_args()

    from gan3d_core import load_model
    from gan3d_core.data.datasets import load_dataset, split_dataset, stratified_limit
    from gan3d_core.data.render import ShapeRenderer, View
    from gan3d_core.images import object_mask, object_pixels

    model = load_model(args.checkpoint, device="cpu")
    data = load_dataset("../shared/data/modelnet10/modelnet10_train_32.npz", 32)
    _, validation = split_dataset(data, None, None, 0.1, 0)
    validation = validation.subset(stratified_limit(validation.labels, args.shapes))
    rows = []
    with ShapeRenderer(256, render_size=256) as renderer:
        for index, shape in enumerate(validation.voxels):
            frame = renderer.frames(shape, [View(45.0, 30.0)])[0]  # on white, uncropped
            truth = object_mask(frame)
            clean = model.reconstruct(frame)
            noise = np.random.default_rng(index).normal(0.0, NOISE_SIGMA, frame.shape)
            noisy = model.reconstruct(np.clip(frame + noise, 0, 255).astype(np.uint8))
            name = BACKGROUNDS[index % len(BACKGROUNDS)]
            composite = np.where(truth[:, :, None], frame, background(name, *frame.shape[:2]))
            row = {
                "shape": int(index),
                "class": validation.class_names[validation.labels[index]],
                "background": name,
                "recon_iou_clean_vs_truth": overlap(clean, shape),
                "recon_iou_clean_vs_noise": overlap(noisy, clean),
            }
            for path, box in (("auto", None), ("box", drawn_box(truth))):
                started = time.perf_counter()
                _, found = object_pixels(composite, box)
                seconds = time.perf_counter() - started
                pasted = model.reconstruct(composite, box=box)
                kept = np.where((found & truth)[:, :, None], frame, np.uint8(255))
                row.update({
                    f"{path}_mask_iou": float((found & truth).sum() / (found | truth).sum()),
                    f"{path}_grabcut_seconds": seconds,
                    f"{path}_recon_iou_clean_vs_composite": overlap(pasted, clean),
                    f"{path}_recon_iou_composite_vs_truth": overlap(pasted, shape),
                    f"{path}_recon_iou_clean_vs_kept": overlap(model.reconstruct(kept), clean),
                })  # fmt: skip
            rows.append(row)
            print(rows[-1], flush=True)
    summary = {
        key: round(float(np.mean([row[key] for row in rows])), 4)
        for key in rows[0]
        if key not in ("shape", "class", "background")
    }
    summary.update(overlap_spread(rows))
    print("mean:", summary)
    write_report(args.json, {"summary": summary, "rows": rows})


if __name__ == "__main__":
    main()

"""The README's picture of the implicit decoder: held-out shapes as the voxel decoder makes
them at the model's grid and as the implicit decoder makes them on a finer one.

    python docs/make_implicit_figure.py CKPT --data ../shared/data/modelnet10/modelnet10_train_32.npz

Writes docs/images/implicit.png: per shape (the validation split recorded in the model card,
encoded by the shape autoencoder), the true shape, the voxel decoder's surface at R^3 and the
implicit decoder's at --resolution (128), each marching cubes at 0.5 with no smoothing, drawn
in the same box from the same camera; and prints the seconds each fine surface took.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from make_gallery import FONT, header, save_stacked
from PIL import Image, ImageDraw

OUT = Path(__file__).parent / "images" / "implicit.png"
TILE = 220


def render(plotter, grid: np.ndarray, side: int) -> Image.Image:
    """One grid's unsmoothed surface, scaled to a ``side``^3 box, from a fixed camera."""
    import pyvista

    from gan3d_core.mesh import voxels_to_mesh

    mesh = voxels_to_mesh(grid)
    scale = side / grid.shape[0]
    vertices = (mesh.vertices - (grid.shape[0] - 1) / 2) * scale  # centred, in model voxels
    plotter.clear_actors()
    plotter.add_mesh(
        pyvista.PolyData.from_regular_faces(vertices, mesh.faces), color=(0.72, 0.72, 0.76)
    )
    plotter.camera.position = (1.6 * side, -2.0 * side, 1.3 * side)
    plotter.camera.focal_point = (0.0, 0.0, 0.0)
    plotter.camera.up = (0.0, 0.0, 1.0)
    plotter.camera.view_angle = 30.0
    return Image.fromarray(plotter.screenshot(return_img=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--data", required=True, help="the dataset the model was trained on")
    parser.add_argument("--shapes", type=int, default=4)
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("-o", "--output", default=str(OUT))
    args = parser.parse_args()

    import pyvista
    import torch

    from gan3d_core import load_model
    from gan3d_core.evaluation import load_eval_dataset

    model = load_model(args.checkpoint, device="cpu")
    split = model.card.get("training", {}).get("settings", {})
    validation = load_eval_dataset(args.data, model.resolution, "validation", split)
    chosen = np.random.default_rng(args.seed).choice(len(validation), args.shapes, replace=False)
    side = model.resolution
    columns = ["true shape", f"voxel decoder {side}^3", f"implicit decoder {args.resolution}^3"]
    width = TILE * len(columns)
    rows = [header(" | ".join(columns), width)]
    plotter = pyvista.Plotter(off_screen=True, window_size=(TILE, TILE))
    plotter.set_background("white")
    for index in chosen:
        truth = validation.voxels[index].astype(np.float32)
        label = int(validation.labels[index])
        voxels = torch.from_numpy(truth)[None, None]
        with torch.inference_mode():
            latent = model.networks.shape_encoder(voxels).numpy()  # (1, L)
        coarse = model.decode(latent, label)[0]
        started = time.perf_counter()
        fine = model.decode(latent, label, resolution=args.resolution)[0]
        print(f"{validation.class_names[label]}: {time.perf_counter() - started:.2f} s")
        row = Image.new("RGB", (width, TILE), "white")
        for column, grid in enumerate((truth, coarse, fine)):
            row.paste(render(plotter, grid, side), (column * TILE, 0))
        ImageDraw.Draw(row).text((6, 4), validation.class_names[label], fill="#333344", font=FONT)
        rows.append(row)
    plotter.close()
    save_stacked(rows, width, args.output, optimize=True)


if __name__ == "__main__":
    main()

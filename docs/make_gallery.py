"""The README gallery: random samples of every class, and reconstructions beside their inputs.

    python docs/make_gallery.py CKPT --data ../shared/data/modelnet10/modelnet10_train_32.npz

Writes docs/images/gallery.png. Every picture is rendered by the project's own off-screen
renderer. Reconstructions use held-out shapes (the validation split recorded in the model
card): one rendered view goes in, the model picks the class itself, and the true shape is
shown beside the result; a last row does the same for ShapeNet chairs
(docs/eval_shapenet.py), a dataset no model here trained on.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from eval_shapenet import SHARED, shapenet_chairs
from PIL import Image, ImageDraw, ImageFont

OUT = Path(__file__).parent / "images" / "gallery.png"
TILE = 128
LABEL_WIDTH = 110
HEADER = 24
FONT = ImageFont.load_default(size=14)
INPUT_VIEW = dict(azimuth=40.0, elevation=25.0)  # a view no ring camera sits on exactly


def tiles(renderer, grids: np.ndarray) -> list[Image.Image]:
    from gan3d_core.data.render import View

    view = View(azimuth=-50.0, elevation=25.0)
    return [Image.fromarray(renderer.render(g, [view])[0]) for g in grids]


def strip(label: str, images: list[Image.Image], width: int, captions=()) -> Image.Image:
    """One row: a label, then the tiles; ``captions`` go on tiles 0, 3, 6, ..."""
    row = Image.new("RGB", (width, TILE), "white")
    draw = ImageDraw.Draw(row)
    draw.text((6, TILE // 2 - 8), label, fill="#333344", font=FONT)
    for index, image in enumerate(images):
        row.paste(image, (LABEL_WIDTH + index * TILE, 0))
    for index, caption in enumerate(captions):
        draw.text((LABEL_WIDTH + 3 * index * TILE + 4, 2), caption, fill="#333344", font=FONT)
    return row


def header(text: str, width: int) -> Image.Image:
    row = Image.new("RGB", (width, HEADER), "#eef1f6")
    ImageDraw.Draw(row).text((6, 4), text, fill="#222233", font=FONT)
    return row


def save_stacked(rows: list[Image.Image], width: int, output: str, **options) -> None:
    """Rows of a figure, top to bottom, saved as one image."""
    figure = Image.new("RGB", (width, sum(r.height for r in rows)), "white")
    top = 0
    for row in rows:
        figure.paste(row, (0, top))
        top += row.height
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    figure.save(output, **options)
    print(output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--data", required=True, help="the dataset the model was trained on")
    parser.add_argument("--samples", type=int, default=6, help="samples per class")
    parser.add_argument("--reconstructions", type=int, default=3, help="pairs per row, 2 rows")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", default=str(OUT))
    parser.add_argument("--shared", type=Path, default=SHARED, help="for the ShapeNet row")
    args = parser.parse_args()

    from gan3d_core import load_model
    from gan3d_core.data.render import ShapeRenderer, View
    from gan3d_core.evaluation import load_eval_dataset

    model = load_model(args.checkpoint, device="cpu")
    split = model.card.get("training", {}).get("settings", {})
    validation = load_eval_dataset(args.data, model.resolution, "validation", split)
    width = LABEL_WIDTH + TILE * max(args.samples, 3 * args.reconstructions)
    rows = [header(f"Random samples per class ({model.card.get('name', 'model')})", width)]
    with ShapeRenderer(TILE) as renderer:
        for index, name in enumerate(model.class_names):
            label = index if model.config.conditional else None
            latents = model.sample_latents(args.samples, seed=args.seed + index, labels=label)
            rows.append(strip(name, tiles(renderer, model.decode(latents, labels=label)), width))
        rows.append(header("Reconstructions from one view: input, result, true shape", width))
        rng = np.random.default_rng(args.seed)
        chosen = rng.choice(len(validation), 2 * args.reconstructions, replace=False)
        for row_shapes in np.array_split(chosen, 2):
            images, names = [], []
            for shape_index in row_shapes:
                truth = validation.voxels[shape_index]
                photo = renderer.render(truth, [View(**INPUT_VIEW)])[0]
                result = model.reconstruct(photo)
                images += [Image.fromarray(photo), *tiles(renderer, np.stack([result, truth]))]
                names.append(validation.class_names[validation.labels[shape_index]])
            rows.append(strip("input, result,\ntrue shape", images, width, names))
        if "chair" in model.class_names and (args.shared / "binvox").is_dir():
            rows.append(header("ShapeNet chairs (another dataset): input, result, true shape",
                               width))  # fmt: skip
            chairs = shapenet_chairs(args.shared, model.resolution)
            images = []
            for truth in chairs[rng.choice(len(chairs), args.reconstructions, replace=False)]:
                photo = renderer.render(truth, [View(**INPUT_VIEW)])[0]
                result = model.reconstruct(photo)
                images += [Image.fromarray(photo), *tiles(renderer, np.stack([result, truth]))]
            rows.append(strip("input, result,\ntrue shape", images, width))
    save_stacked(rows, width, args.output)


if __name__ == "__main__":
    main()

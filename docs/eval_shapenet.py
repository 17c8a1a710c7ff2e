"""Cross-dataset check: ShapeNet chairs, which no model here trained on, reconstructed from
one view rendered by the project's renderer.

    python docs/eval_shapenet.py [CKPT] [--shared ../shared/data] [--views 1] [--json]
        [--task recon|autoencode]

The 10 ShapeNet chairs at 64^3 (downsampled to 32^3: a voxel is set if any of its 2^3
block is) and the 3D-R2N2 ShapeNetVox32 model are turned from ShapeNet's convention (y up)
into ours (z up) by one fixed rotation, chosen as the one under which the mean ShapeNet
chair overlaps the mean ModelNet10 chair most; then they go through ``gan3d eval``'s
reconstruction path with the model choosing the class, as for a user's photo, or
(``--task autoencode``) its autoencoding path, as ``gan3d encode`` takes a user's shape.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def shapenet_chairs(shared: Path, resolution: int) -> np.ndarray:
    from gan3d_core.data.datasets import load_shape_grid

    files = sorted((shared / "binvox" / "shapenet_chairs_64").glob("*.binvox"))
    files.append(shared / "binvox" / "r2n2_shapenet_model.binvox")
    return np.stack([load_shape_grid(file, resolution, up="y") for file in files])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", nargs="?", help="default: the bundled model")
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--views", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--task", choices=("recon", "autoencode"), default="recon")
    args = parser.parse_args()

    from gan3d_core import load_model
    from gan3d_core.data.datasets import VoxelDataset
    from gan3d_core.evaluation import evaluate_autoencoding, evaluate_reconstruction

    model = load_model(args.checkpoint, device="cpu")
    voxels = shapenet_chairs(args.shared, model.resolution)
    labels = np.full(len(voxels), model.class_names.index("chair"))
    dataset = VoxelDataset(voxels, labels, list(model.class_names), source="shapenet chairs")
    if args.task == "autoencode":
        result = evaluate_autoencoding(model, dataset)
    else:
        result = evaluate_reconstruction(model, dataset, views=args.views)
    result["data"] = "ShapeNet chairs: 10 at 64^3 (downsampled) + the 3D-R2N2 model"
    result["dataset"] = "shapenet_chairs"  # its key in a model card (gan3d pack --metrics)
    keys = ("n", "iou", "iou@0.4", "ssim", "class_accuracy", "seconds_per_shape")
    print(json.dumps(result) if args.json else {k: result.get(k) for k in keys})


if __name__ == "__main__":
    main()

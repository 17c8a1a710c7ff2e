"""Speed and peak memory of each stage of the staged recipe, of a reconstruction and of
encoding a shape.

    python benchmarks/bench_staged.py [CKPT] [--steps 5] [--only NAME]
        [--json benchmarks/results/staged.json]

Every case runs in a fresh process, so its peak resident memory is its own. Training
stages use the bundled recipe's sizes (modelnet10-lgan-32) on random data of the same
shapes; reconstruction uses a real model (default: the bundled one) on a rendered held-out
view of a ModelNet chair, with and without silhouette fitting, from one view and from five;
encoding uses the same chair's grid (``gan3d encode``), and 64 held-out shapes at once
(``gan3d eval --task autoencode``), with the encoder alone and with the default fitting.
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import resource
import time

from report import write_report


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _recipe_config():
    from gan3d_core.training.config import TrainConfig, load_recipe

    return TrainConfig.from_dict(load_recipe("modelnet10-lgan-32")).model_config(10)


def _timed(step, steps: int) -> float:
    step(0)  # warm-up
    started = time.perf_counter()
    for index in range(1, steps + 1):
        step(index)
    return (time.perf_counter() - started) / steps


def bench_autoencoder(steps: int, precision: str) -> dict:
    import numpy as np

    from gan3d_core.training.shape_autoencoder import ShapeAutoencoderStage

    rng = np.random.default_rng(0)
    voxels = (rng.random((64, 32, 32, 32)) < 0.1).astype(np.uint8)
    labels = rng.integers(0, 10, 64)
    stage = ShapeAutoencoderStage(
        _recipe_config(), (voxels, labels), (voxels[:8], labels[:8]), precision=precision
    )
    return {
        "seconds_per_step": _timed(stage.train_step, steps),
        "batch": stage.batch_size,
        "autocast": str(stage.autocast_dtype),
    }


def bench_latent_gan(steps: int) -> dict:
    import numpy as np

    from gan3d_core.training.latent_gan import LatentGanStage

    rng = np.random.default_rng(0)
    latents = rng.standard_normal((3569, 128)).astype(np.float32)
    labels = rng.integers(0, 10, 3569)
    stage = LatentGanStage(_recipe_config(), (latents, labels), (latents[:100], labels[:100]))
    return {"seconds_per_step": _timed(stage.train_step, steps * 20), "batch": stage.batch_size}


def bench_image_head(
    steps: int, tuned_blocks: int, shape_weight: float = 0.0, shape_views: int = 1
) -> dict:
    import numpy as np

    from gan3d_core.models.backbone import BackboneTop, EfficientNetLite
    from gan3d_core.models.generator import VoxelGenerator
    from gan3d_core.training.image_head import ImageHeadStage, backbone_features

    config = _recipe_config()
    rng = np.random.default_rng(0)
    shapes, views = 64, 6
    size = config.image_size
    images = rng.integers(0, 255, (shapes * views, size, size, 3), dtype=np.uint8)
    backbone = EfficientNetLite()
    top = BackboneTop(backbone, tuned_blocks) if tuned_blocks else None
    # what the recipe's spatial head reads: feature maps, or the activations below the top
    inputs = backbone_features(
        backbone, images, blocks=top.first_block if top else None, maps=top is None
    )
    latents = rng.standard_normal((shapes, 128)).astype(np.float32)
    labels = rng.integers(0, 10, shapes)
    cameras = rng.uniform(0, 90, (shapes * views, 2)).astype(np.float32)
    shape_loss = None
    if shape_weight:
        voxels = rng.random((shapes, *(config.resolution,) * 3)) < 0.05
        shape_loss = (VoxelGenerator(config), voxels, shape_weight)
    stage = ImageHeadStage(
        config, (inputs, latents, labels, cameras), (inputs, latents, labels, cameras, None),
        decode=None, backbone_top=top, shape_loss=shape_loss, shape_views=shape_views,
    )  # fmt: skip
    return {"seconds_per_step": _timed(stage.train_step, steps), "batch": stage.batch_size}


def bench_image_finetune(steps: int, shapes: int = 8) -> dict:
    """A fine-tuning step of the whole backbone and head (stage 3b) on ``shapes`` shapes'
    4 views at 224 px; the recipe takes 64 shapes a step (8 times the work, 32 views a
    pass on a CPU)."""
    import numpy as np

    from gan3d_core.models.backbone import EfficientNetLite
    from gan3d_core.models.generator import VoxelGenerator
    from gan3d_core.models.latent import ImageHead
    from gan3d_core.training.image_finetune import ImageFinetuneStage

    config = _recipe_config()
    rng = np.random.default_rng(0)
    views, size = 4, config.image_size
    images = rng.integers(0, 255, (shapes * views, size, size, 3), dtype=np.uint8)
    latents = rng.standard_normal((shapes, 128)).astype(np.float32)
    labels = rng.integers(0, 10, shapes)
    cameras = rng.uniform(0, 90, (shapes * views, 2)).astype(np.float32)
    voxels = rng.random((shapes, *(config.resolution,) * 3)) < 0.05
    stage = ImageFinetuneStage(
        config, EfficientNetLite(), ImageHead(config), VoxelGenerator(config),
        (images, latents, labels, cameras, voxels), (images, latents, labels, voxels),
        shapes_per_step=shapes,
    )  # fmt: skip
    stage.set_lr_factor(1.0)
    return {"seconds_per_step": _timed(stage.train_step, steps), "views": shapes * views}


def bench_features(steps: int) -> dict:
    import numpy as np

    from gan3d_core.models.backbone import EfficientNetLite
    from gan3d_core.training.image_head import backbone_features

    images = np.random.default_rng(0).integers(0, 255, (64, 128, 128, 3), dtype=np.uint8)
    backbone = EfficientNetLite()
    per_batch = _timed(lambda _: backbone_features(backbone, images), max(1, steps // 2))
    return {"images_per_second": len(images) / per_batch, "image_size": 128}


def bench_projection(steps: int) -> dict:
    import torch

    from gan3d_core.projection import silhouettes

    voxels = (torch.rand(1, 32, 32, 32) < 0.2).float().requires_grad_(True)
    azimuth, elevation = torch.tensor([45.0]), torch.tensor([30.0])

    def forward_backward(_):
        silhouettes(voxels, azimuth, elevation, output_size=48, samples=48).sum().backward()

    return {"seconds_per_silhouette_with_gradient": _timed(forward_backward, steps * 4)}


def _held_out_shapes():
    from gan3d_core.data.datasets import load_dataset, split_dataset

    data = load_dataset("../shared/data/modelnet10/modelnet10_train_32.npz", 32)
    _, validation = split_dataset(data, None, None, 0.1, 0)
    return validation


def bench_reconstruction(checkpoint: str | None, steps: int) -> dict:
    from gan3d_core import load_model
    from gan3d_core.data.render import ShapeRenderer, ring_views
    from gan3d_core.io.card import inference_settings

    model = load_model(checkpoint, device="cpu")
    validation = _held_out_shapes()
    chair = validation.voxels[validation.labels == validation.class_names.index("chair")][0]
    with ShapeRenderer(model.config.image_size) as renderer:
        views = list(renderer.render(chair, ring_views(5, azimuth_offset=45.0)))
    default = int(inference_settings(model.card).get("refine_steps", 0))  # what a user gets
    result = {}
    for name, inputs, refine in [
        ("one_view", views[:1], 0),
        (f"one_view_fitting_{default}_steps", views[:1], default),
        ("five_views", views, 0),
        (f"five_views_fitting_{default}_steps", views, default),
    ]:
        if "fitting" in name and (refine == 0 or model.config.kind != "lgan"):
            continue  # only the staged model fits silhouettes, when its card says so
        options = {} if model.config.kind != "lgan" else {"refine": refine}
        result[f"{name}_seconds"] = _timed(
            lambda _, inputs=inputs, options=options: model.reconstruct(inputs, **options),
            max(1, steps // 2),
        )
    return result


def bench_encoding(checkpoint: str | None, steps: int) -> dict:
    from gan3d_core import load_model
    from gan3d_core.fitting import VoxelFitSettings

    model = load_model(checkpoint, device="cpu")
    if model.config.kind != "lgan":
        return {}  # only the staged model has a shape encoder
    validation = _held_out_shapes()
    chair = validation.voxels[validation.labels == validation.class_names.index("chair")][:1]
    default = VoxelFitSettings().steps
    result = {}
    for name, shapes, fitting in [
        ("one_shape_encoder_alone", chair, 0),
        (f"one_shape_fitting_{default}_steps", chair, default),
        (f"64_shapes_fitting_{default}_steps_per_shape", validation.voxels[:64], default),
    ]:
        seconds = _timed(
            lambda _, shapes=shapes, fitting=fitting: model.encode_shapes(shapes, steps=fitting),
            max(1, steps // 5),
        )
        result[f"{name}_seconds"] = seconds / len(shapes)
    return result


CASES = {
    "autoencoder step, fp32": (bench_autoencoder, ("fp32",)),
    "autoencoder step, auto precision": (bench_autoencoder, ("auto",)),
    "latent GAN step": (bench_latent_gan, ()),
    "image head step, frozen backbone": (bench_image_head, (0,)),
    "image head step, last backbone block tuned": (bench_image_head, (1,)),
    "image head step, decoded-shape term on 1..5 pooled views (recipe)": (
        bench_image_head,
        (0, 1.0, 5),
    ),
    "image fine-tuning step, whole backbone, 8 shapes x 4 views": (bench_image_finetune, ()),
    "backbone features": (bench_features, ()),
    "silhouette": (bench_projection, ()),
}


def _run(job) -> dict:
    function, arguments = job
    row = function(*arguments)
    row["peak_rss_mb"] = round(_peak_mb())
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", nargs="?", help="model for reconstruction (default: bundled)")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--only", metavar="NAME", help="run the cases whose name has NAME")
    parser.add_argument("--json", default="benchmarks/results/staged.json")
    args = parser.parse_args()
    jobs = {name: (function, (args.steps, *extra)) for name, (function, extra) in CASES.items()}
    jobs["reconstruction"] = (bench_reconstruction, (args.checkpoint, args.steps))
    jobs["encoding a shape"] = (bench_encoding, (args.checkpoint, args.steps))
    if args.only:
        jobs = {name: job for name, job in jobs.items() if args.only in name}
    rows = {}
    context = multiprocessing.get_context("spawn")
    for name, job in jobs.items():
        with context.Pool(1) as pool:
            row = pool.apply(_run, (job,))
        rows[name] = row
        shown = ", ".join(
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()
        )
        print(f"{name}: {shown}", flush=True)
    write_report(args.json, {"machine": {"cpu": platform.processor()}, "rows": rows})


if __name__ == "__main__":
    main()

"""The bundled default model: what every new user meets first."""

from __future__ import annotations

import re

import numpy as np
import pytest

from gan3d_core import load_model
from gan3d_core.metrics import iou
from gan3d_core.resources import default_model_path

MODELNET10 = [
    "bathtub", "bed", "chair", "desk", "dresser",
    "monitor", "night_stand", "sofa", "table", "toilet",
]  # fmt: skip


@pytest.fixture(scope="module")
def model():
    return load_model(device="cpu")


def test_ships_small_with_its_card(model):
    assert default_model_path().stat().st_size <= 40 * 1024 * 1024
    assert model.config.kind == "lgan" and model.resolution == 32
    assert model.class_names == MODELNET10
    card = model.card
    assert card["recipe"] == "modelnet10-lgan-32" and card["storage"] == "int8"
    assert "modelnet10_train_32.npz" in card["training"]["data"]
    stages = {"autoencoder", "latent_gan", "image_head", "image_finetune"}
    assert set(card["training"]["stages"]) == stages
    metrics = card["metrics"]
    for key in ("recon_1view_auto", "recon_1view_given", "recon_5view_auto", "gen", "classify",
                "recon_1view_auto_refine0", "autoencode", "autoencode_refine0"):  # fmt: skip
        assert metrics[key]["subset"] == "validation", key
    # measured as a user gets it: with the silhouette fitting the card sets as the default
    steps = card["inference"]["refine_steps"]
    assert metrics["recon_1view_auto"]["refine"] == metrics["recon_5view_auto"]["refine"] == steps
    assert metrics["shapenet_chairs_recon_1view_auto"]["n"] == 11
    # the two baselines are measured beside the model, on the same shapes and views
    assert {"retrieval_iou", "class_average_iou"} <= set(metrics["recon_1view_auto"])


def test_rebuild_script_measures_and_packs_what_the_card_holds(model):
    """build_default.sh must make this very file: the same fitting steps, and one eval
    result per figure in the card (its output files are named by their card keys)."""
    script = (default_model_path().parent / "build_default.sh").read_text()
    steps = model.card["inference"]["refine_steps"]
    assert f"--refine-steps {steps} " in script
    written = set(re.findall(r"^measure (\w+) ", script, re.M))
    written |= set(re.findall(r'"\$EVAL/(\w+)\.json"', script))
    assert written == set(model.card["metrics"])


def test_every_class_generates_a_shape(model):
    labels = list(range(len(MODELNET10)))
    latents = model.sample_latents(len(MODELNET10), seed=0, labels=labels)
    shapes = model.decode(latents, labels=labels)
    occupied = (shapes > 0.5).mean(axis=(1, 2, 3))
    assert (occupied > 0.002).all(), occupied


def test_the_design_card_s_api_lines_run_without_classes(model):
    """DESIGN.md's contract: z = model.sample_latents(n, seed=0); model.decode(z,
    labels=None). Without classes the samples take one of each class, and each decodes as
    the class of its nearest training latent: mostly the class it was drawn for."""
    z = model.sample_latents(10, seed=0)
    assert z.dtype == np.float32 and z.shape == (10, model.latent_dim)
    drawn = model.seeded_labels(10, seed=0)
    assert sorted(drawn) == list(range(10))
    np.testing.assert_array_equal(z, model.sample_latents(10, seed=0, labels=drawn))
    shapes = model.decode(z, labels=None)
    assert shapes.shape == (10, 32, 32, 32) and (shapes > 0.5).any(axis=(1, 2, 3)).all()
    found = [model.best_label(latent) for latent in z]
    assert sum(a == b for a, b in zip(found, drawn)) >= 7, (found, drawn)


def test_reconstructs_held_out_shapes_from_one_rendered_view(model, shared_data):
    pytest.importorskip("pyvista")
    from gan3d_core.data.render import render_views
    from gan3d_core.evaluation import load_eval_dataset

    split = model.card["training"]["settings"]
    validation = load_eval_dataset(
        shared_data / "modelnet10" / "modelnet10_train_32.npz", 32, "validation", split
    )
    first_of_each = [int(np.flatnonzero(validation.labels == c)[0]) for c in range(10)]
    shapes = validation.voxels[first_of_each]
    views = render_views(shapes, 1, model.config.image_size, workers=1)
    results = np.stack([model.reconstruct(list(v)) for v in views])
    assert iou(results, shapes.astype(np.float32)).mean() > 0.3


def test_encodes_held_out_shapes_closer_with_fitting(model, shared_data):
    from gan3d_core.evaluation import load_eval_dataset
    from gan3d_core.fitting import VoxelFitSettings

    assert model.card["metrics"]["autoencode"]["refine"] == VoxelFitSettings().steps
    split = model.card["training"]["settings"]
    validation = load_eval_dataset(
        shared_data / "modelnet10" / "modelnet10_train_32.npz", 32, "validation", split
    )
    chairs = validation.voxels[validation.labels == MODELNET10.index("chair")][:6]
    alone = model.encode_shapes(chairs, steps=0)
    fitted = model.encode_shapes(chairs, steps=60)
    assert (fitted.iou > alone.iou).all() and fitted.iou.mean() > alone.iou.mean() + 0.05
    assert list(fitted.labels) == [MODELNET10.index("chair")] * 6


def test_says_when_a_shape_file_reads_better_the_other_way_up(model, shared_data):
    """A ShapeNet chair (y up) read as z up reads clearly better turned; a ModelNet one
    (z up) read right does not, and neither does the ShapeNet chair read right."""
    from gan3d_core.data.datasets import load_shape_grid
    from gan3d_core.evaluation import load_eval_dataset

    shapenet = (
        shared_data / "binvox" / "shapenet_chairs_64" / "18e5d3054fba58bf6e30a0dcfb43d654.binvox"
    )
    other, read, turned = model.reads_better_other_up(load_shape_grid(shapenet, 32, "z"), "z")
    assert other == "y" and turned > read + 0.3
    assert model.reads_better_other_up(load_shape_grid(shapenet, 32, "y"), "y") is None
    validation = load_eval_dataset(
        shared_data / "modelnet10" / "modelnet10_train_32.npz", 32, "validation",
        model.card["training"]["settings"],
    )  # fmt: skip
    for chair in validation.voxels[validation.labels == MODELNET10.index("chair")][:4]:
        assert model.reads_better_other_up(chair.astype(np.float32), "z") is None


def test_random_shapes_decimate_to_the_faces_asked_and_stay_closed(model):
    """Decimated to one target alone, 8 of these 26 decimations kept 2-25 times the faces
    asked (a table asked for 1,000 kept 2,142) and 3 had a flat sheet of two triangles back
    to back;
    now a night stand keeps 1,100 for 1,000, and the dresser stays closed with no fewer
    than about 6,000 faces."""
    from gan3d_core.mesh.surface import _doubled, voxels_to_mesh

    shapes = model.decode(model.sample_latents(10, seed=1), model.seeded_labels(10, 1))
    over = []
    for name, shape in zip(np.array(MODELNET10)[model.seeded_labels(10, 1)], shapes):
        for asked in (300, 1000, 3000):
            mesh = voxels_to_mesh(shape, smooth_iterations=2, target_faces=asked)
            assert mesh.is_watertight and mesh.is_winding_consistent, (name, asked)
            assert not _doubled(mesh.faces).any(), (name, asked)
            if len(mesh.faces) > (1.1 if name == "night_stand" else 1.0) * asked:
                over.append(name)
    assert set(over) <= {"dresser"}


def test_drawn_latents_decode_as_the_class_they_were_drawn_for(model):
    """decode(sample_latents(n, seed)) makes what gan3d sample makes: without labels, each
    latent was decoded as its nearest training latent's class, another class for a third
    of them; a latent changed since is still read so."""
    z = model.sample_latents(10, seed=0)
    labels = model.seeded_labels(10, 0)
    assert any(model.best_label(latent) != label for latent, label in zip(z, labels))
    np.testing.assert_array_equal(model.decode(z), model.decode(z, labels))
    moved = z[:2] * 1.01
    found = [model.best_label(latent) for latent in moved]
    np.testing.assert_array_equal(model.decode(moved), model.decode(moved, found))

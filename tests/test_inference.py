"""The inference API: sampling, decoding (fast path == eager), encoding, latent operations."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan3d_core import OperationCancelled, combine_latents, interpolate, lerp, load_model, slerp
from gan3d_core.latent import sefa_directions
from gan3d_core.models.fast import FastVoxelGenerator
from tests.conftest import object_photo, tiny_networks


@pytest.fixture
def conditional(cvaegan_checkpoint):
    return load_model(cvaegan_checkpoint, device="cpu")


def test_model_attributes(conditional):
    assert conditional.resolution == 32
    assert conditional.latent_dim == 8
    assert conditional.class_names == ["chair", "table", "sofa"]
    assert conditional.config.kind == "cvaegan"


def test_sample_latents_is_seeded_and_truncated(conditional):
    a = conditional.sample_latents(5, seed=7)
    assert a.dtype == np.float32 and a.shape == (5, 8)
    assert np.array_equal(a, conditional.sample_latents(5, seed=7))
    assert not np.array_equal(a, conditional.sample_latents(5, seed=8))
    truncated = conditional.sample_latents(200, seed=0, truncation=0.5)
    assert np.abs(truncated).max() <= 0.5


@pytest.mark.parametrize("resolution, widths", [(32, (16, 8, 4)), (64, (16, 8, 8, 4))])
def test_fast_generator_matches_eager(resolution, widths):
    networks = tiny_networks(
        "cvaegan",
        resolution=resolution,
        generator_widths=widths,
        discriminator_widths=widths[::-1],
    )
    z, labels = torch.randn(3, 8), torch.tensor([2, 0, 1])
    with torch.inference_mode():
        expected = networks.generator(z, labels)
        fast = FastVoxelGenerator(networks.generator)(z, labels)
    torch.testing.assert_close(fast, expected, atol=2e-5, rtol=1e-4)


def test_decode_labels_by_name_index_and_per_latent(conditional):
    z = conditional.sample_latents(3, seed=1)
    by_name = conditional.decode(z, labels="table")
    assert by_name.shape == (3, 32, 32, 32) and by_name.dtype == np.float32
    assert 0.0 <= by_name.min() and by_name.max() <= 1.0
    assert np.array_equal(by_name, conditional.decode(z, labels=1))
    mixed = conditional.decode(z, labels=["chair", "table", "sofa"])
    assert np.array_equal(mixed[1], by_name[1])
    assert not np.array_equal(mixed[0], by_name[0])
    # oneDNN may sum in another order for another batch size: equal up to rounding.
    np.testing.assert_allclose(conditional.decode(z[0], labels=1)[0], by_name[0], atol=1e-6)


def test_decode_errors(conditional, gan_checkpoint):
    z = conditional.sample_latents(2)
    # without labels, a drawn latent is decoded as the class it was drawn for, any other
    # as the class the model finds for it
    drawn = conditional.seeded_labels(2, 0)
    np.testing.assert_allclose(conditional.decode(z), conditional.decode(z, drawn), atol=1e-6)
    moved = z + 0.1
    best = [conditional.best_label(latent) for latent in moved]
    np.testing.assert_allclose(
        conditional.decode(moved), conditional.decode(moved, labels=best), atol=1e-6
    )
    with pytest.raises(ValueError, match="unknown class 'lamp'; this model knows chair, table"):
        conditional.decode(z, labels="lamp")
    with pytest.raises(ValueError, match="got 3 labels for 2 latents"):
        conditional.decode(z, labels=[0, 1, 2])
    with pytest.raises(ValueError, match=r"latents must have shape \(n, 8\), got \(2, 5\)"):
        conditional.decode(np.zeros((2, 5)), labels=0)
    gan = load_model(gan_checkpoint, device="cpu")
    with pytest.raises(ValueError, match="not conditional"):
        gan.decode(gan.sample_latents(1), labels=0)


def test_decode_reports_progress_and_stops(conditional):
    z = conditional.sample_latents(10)
    reports = []
    conditional.decode(z, labels=0, batch_size=4, progress=lambda f, m: reports.append((f, m)))
    assert reports == [
        (0.4, "decoded 4 of 10 shapes"),
        (0.8, "decoded 8 of 10 shapes"),
        (1.0, "decoded 10 of 10 shapes"),
    ]
    calls = iter([False, True])
    with pytest.raises(OperationCancelled):
        conditional.decode(z, labels=0, batch_size=4, should_stop=lambda: next(calls))


def test_device_choice():
    from gan3d_core import resolve_device

    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu9")


def test_encode_and_reconstruct_from_any_image_source(conditional, tmp_path):
    photo = object_photo()
    path = tmp_path / "photo.png"
    Image.fromarray(photo).save(path)
    from_array = conditional.encode(photo)
    assert from_array.shape == (8,) and from_array.dtype == np.float32
    np.testing.assert_allclose(conditional.encode(str(path)), from_array, atol=1e-6)
    np.testing.assert_allclose(conditional.encode(Image.fromarray(photo)), from_array, atol=1e-6)
    shape = conditional.reconstruct([path, photo], pool="max", label="sofa")
    assert shape.shape == (32, 32, 32)


def test_multiview_pooling_choices(multiview_checkpoint):
    model = load_model(multiview_checkpoint, device="cpu")
    views = [object_photo(background=(255, 255, 255)), object_photo(), object_photo(80)]
    per_view = np.stack([model.encode(v, pool="mean") for v in views])
    np.testing.assert_allclose(model.encode(views, pool="mean"), per_view.mean(0), atol=1e-5)
    np.testing.assert_allclose(model.encode(views, pool="max"), per_view.max(0), atol=1e-5)
    assert model.config.pool == "lstm"
    assert np.array_equal(model.encode(views), model.encode(views, pool="lstm"))


def test_conditional_reconstruct_picks_the_most_plausible_class(conditional):
    latent = conditional.encode(object_photo())
    best = conditional.best_label(latent)
    assert np.array_equal(
        conditional.reconstruct(object_photo()), conditional.decode(latent, best)[0]
    )


def test_gan_without_encoder_cannot_reconstruct(gan_checkpoint):
    with pytest.raises(ValueError, match="no image encoder"):
        load_model(gan_checkpoint, device="cpu").reconstruct(object_photo())


def test_lerp_slerp_and_arithmetic_exact_values():
    a, b = np.array([1.0, 0.0], np.float32), np.array([0.0, 1.0], np.float32)
    np.testing.assert_allclose(lerp(a, b, 0.5), [0.5, 0.5])
    np.testing.assert_allclose(slerp(a, b, 0.5), [np.sqrt(0.5), np.sqrt(0.5)], atol=1e-7)
    np.testing.assert_allclose(
        slerp(a, b, 1 / 3), [np.cos(np.pi / 6), np.sin(np.pi / 6)], atol=1e-7
    )
    np.testing.assert_allclose(slerp(a, 2 * a, 0.5), [1.5, 0.0])  # parallel: falls back to lerp
    path = interpolate(a, b, 5, method="slerp")
    assert path.shape == (5, 2)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(path[[0, -1]], [a, b])
    c = np.array([2.0, 3.0], np.float32)
    np.testing.assert_allclose(combine_latents([a, b, c], [1, -1, 1]), [3.0, 2.0])
    with pytest.raises(ValueError, match="steps must be a whole number >= 2"):
        interpolate(a, b, 1)


def test_sefa_directions_of_a_hand_made_layer():
    weight = np.zeros((3, 1, 2, 2, 2))
    weight[0, 0, 1, 1, 1] = 1.0  # z0 moves one output by 1
    weight[2, 0, :, :, 0] = 2.0  # z2 moves four outputs by 2: the strongest direction
    directions = sefa_directions(weight, count=2)
    np.testing.assert_allclose(np.abs(directions.vectors), [[0, 0, 1], [1, 0, 0]], atol=1e-7)
    np.testing.assert_allclose(directions.strengths, [16 / 17, 1 / 17], atol=1e-7)


@pytest.mark.parametrize("method", ["sefa", "pca"])
def test_principal_directions_are_unit_vectors(conditional, method):
    directions = conditional.principal_directions(count=4, method=method, samples=256)
    assert directions.vectors.shape == (4, 8)
    np.testing.assert_allclose(np.linalg.norm(directions.vectors, axis=1), 1.0, atol=1e-5)
    assert np.all(np.diff(directions.strengths) <= 1e-7)  # strongest first
    assert np.all(directions.scales > 0)


def test_preprocessing_stops_when_asked_and_takes_at_most_max_views(gan_checkpoint):
    """A cluttered photo's GrabCut takes seconds: Cancel is heard between photos (the app's
    Cancel said "Cancelled" while 40 photos went on being cut out for 75 s)."""
    from gan3d_core.errors import UsageError
    from gan3d_core.limits import MAX_VIEWS

    model = load_model(gan_checkpoint)
    photos = [object_photo(40)] * 3
    asked = []
    with pytest.raises(OperationCancelled):
        model.preprocess(photos, should_stop=lambda: asked.append(1) or len(asked) > 1)
    assert len(asked) == 2  # after the first photo
    with pytest.raises(UsageError, match=f"one object takes 1 to {MAX_VIEWS} photos, got over"):
        model.preprocess(photos[:1] * (MAX_VIEWS + 1))


def test_the_api_refuses_what_it_cannot_mean_with_its_own_errors(conditional):
    """Each refusal a UsageError (a ValueError too), in one line: never class 1 for True
    or 1.5, never 449,225 photos for a PNG's bytes."""
    import gan3d_core as g3

    z = conditional.sample_latents(2)
    cases = [
        (lambda: conditional.sample_latents(2.5), "whole number"),
        (lambda: conditional.sample_latents(2, seed=-1), "seed must be"),
        (lambda: conditional.decode(z, labels=1.5), "a class is a name or a whole index"),
        (lambda: conditional.decode(z, labels=True), "a class is a name or a whole index"),
        (lambda: conditional.reconstruct(b"\x89PNG\r\n\x1a\n..."), "not the bytes of a file"),
        (lambda: g3.slerp(np.zeros(3), np.ones(4), 0.5), "two vectors of one size"),
        (lambda: g3.write_binvox("never.binvox", np.zeros((4, 4))), "3D (x, y, z) grid"),
        (lambda: g3.load_shape_grid("any.npy", 1000), "resolution must be a whole number 4 to"),
        # a researcher's review: these raised TypeError, IndexError or numpy's own errors
        (lambda: conditional.reconstruct(None), "views are a path, a PIL image or a uint8"),
        (lambda: conditional.reconstruct(Image.new("RGB", (0, 0))), "0 x 0 pixels"),
        (lambda: conditional.reconstruct(np.zeros((40, 50, 2), np.uint8)), "got shape (40, 50"),
        (lambda: conditional.reconstruct(np.full((40, 40, 3), 2.0)), "image.astype(np.uint8)"),
        (lambda: conditional.reconstruct(np.full((40, 40, 3), 9, np.uint8)), "one plain colour"),
        (lambda: conditional.decode(z, batch_size=0), "batch_size must be"),
        # the API review's: TypeErrors from inside
        (lambda: conditional.sample_latents(2, truncation="1"), "got '1'"),
        (lambda: g3.load_model(123), "a checkpoint is a path (str or pathlib.Path), got 123"),
        (lambda: g3.preprocess_image(object_photo(), size=0), "size must be a whole number"),
        (lambda: g3.interpolate(z[0], z[1], 2.5), "steps must be a whole number"),
        (lambda: g3.combine_latents([z[0], z[1]], [1]), "one weight per latent"),
        (lambda: g3.combine_latents([z, z], [1, 1]), "vectors of one size"),
        (lambda: g3.voxelize_mesh("chair.obj", 32), "use load_shape_grid"),
        (lambda: g3.write_binvox("never.binvox", np.full((2, 2, 2), np.nan)), "NaN"),
        (lambda: g3.export_shape(np.ones((4, 4, 4)), "shape.fbx"), "unknown export format"),
    ]
    for call, said in cases:
        with pytest.raises(g3.UsageError, match=re.escape(said)):
            call()
    with pytest.raises(g3.OutputFileError, match="absent does not exist"):
        g3.export_shape(np.ones((4, 4, 4)), Path("absent") / "shape.stl")
    # any iterable of views, and an array-like image (a torch tensor), read as a list would
    photo = object_photo()
    expected = conditional.preprocess([photo])
    for views in ((view for view in [photo]), torch.from_numpy(photo)):
        np.testing.assert_array_equal(conditional.preprocess(views), expected)


def test_results_show_their_arrays_by_kind_and_shape(conditional):
    """A notebook showed a reconstruction as hundreds of lines of pixels and features."""
    found = conditional.reconstruct_latent([object_photo(), object_photo(40)])
    shown = repr(found)
    assert shown.startswith("ReconstructedLatent(latent=[")  # 8 values: shown
    assert "images=[2 x uint8(64, 64, 3)]" in shown and len(shown) < 400
    assert repr(conditional.principal_directions(count=4)).startswith(
        "LatentDirections(vectors=float32(4, 8), scales=["
    )


def test_reconstruction_choices_are_refused_before_the_photos_are_prepared(lgan_checkpoint):
    """Audit: refine=-1, a NaN or pool='median' were refused after 20 s of preparing the
    photos; and a billion latents asked numpy for 477 GiB."""
    from unittest import mock

    from gan3d_core import load_model
    from gan3d_core.errors import UsageError

    model = load_model(lgan_checkpoint)
    with mock.patch.object(type(model), "preprocess", side_effect=AssertionError("prepared")):
        for choices, said in (
            ({"refine": -1}, "refine must be 0 to"),
            ({"refine": float("nan")}, "refine must be a whole number"),
            ({"pool": "median"}, "pools views by mean or max, got 'median'"),
            ({"label": "spaceship"}, "spaceship"),
        ):
            with pytest.raises(UsageError, match=said):
                model.reconstruct_latent("photo.png", **choices)
    with pytest.raises(UsageError, match="n 1,000,000,000 is over the limit of 1,000,000"):
        model.sample_latents(10**9)

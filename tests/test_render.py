"""The view renderer: ring and jittered cameras, white backgrounds, the shared preprocessing."""

from __future__ import annotations

import numpy as np
import pytest

from gan3d_core.data.render import cached_render_views, render_views
from gan3d_core.images import OBJECT_MARGIN
from tests.conftest import synthetic_shapes

pytest.importorskip("pyvista", reason="rendering needs the [train] extra (pyvista)")


@pytest.fixture(scope="module")
def shapes():
    voxels, _, _ = synthetic_shapes(per_class=1)
    return voxels  # box, ball, column


def test_ring_views_of_a_box(shapes):
    views = render_views(shapes[:1], views_per_shape=4, image_size=64)
    assert views.shape == (1, 4, 64, 64, 3) and views.dtype == np.uint8
    for image in views[0]:
        assert (image[0] == 255).all() and (image[:, -1] == 255).all()  # white border
        assert (image.min(axis=2) < 200).mean() > 0.3  # the object fills the frame
    assert not np.array_equal(views[0, 0], views[0, 1])  # different azimuths


def test_views_are_preprocessed_like_photos(shapes):
    views = render_views(shapes[2:3], views_per_shape=2, image_size=64)
    for image in views[0]:
        rows, cols = np.nonzero(image.min(axis=2) < 250)
        long_side = max(np.ptp(rows), np.ptp(cols)) + 1
        assert long_side == pytest.approx(64 * (1 - 2 * OBJECT_MARGIN), abs=2)
        assert (rows.min() + rows.max()) / 2 == pytest.approx(31.5, abs=1.5)
        assert (cols.min() + cols.max()) / 2 == pytest.approx(31.5, abs=1.5)


def test_jitter_is_seeded(shapes):
    a = render_views(shapes[1:2], 3, 48, jitter=True, seed=3)
    b = render_views(shapes[1:2], 3, 48, jitter=True, seed=3)
    c = render_views(shapes[1:2], 3, 48, jitter=True, seed=4)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert not np.array_equal(a, render_views(shapes[1:2], 3, 48))


def test_empty_shape_renders_blank(shapes):
    blank = render_views(np.zeros((1, 16, 16, 16), np.uint8), 2, 32)
    assert (blank == 255).all()


def test_render_cache(shapes, tmp_path, monkeypatch):
    first = cached_render_views(shapes, tmp_path, 2, 32)
    monkeypatch.setattr(
        "gan3d_core.data.render.render_views",
        lambda *a, **k: (_ for _ in ()).throw(AssertionError("rendered again")),
    )
    assert np.array_equal(cached_render_views(shapes, tmp_path, 2, 32), first)


def test_worker_processes_render_the_same_images():
    voxels, _, _ = synthetic_shapes(per_class=6)  # 18 shapes: two tasks of 16 and 2
    serial = render_views(voxels, 2, 32, jitter=True, seed=5, workers=1)
    parallel = render_views(voxels, 2, 32, jitter=True, seed=5, workers=2)
    assert np.array_equal(serial, parallel)

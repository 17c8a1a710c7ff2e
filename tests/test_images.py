"""Image preprocessing: alpha to white, background removal, crop, pad square, resize."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from gan3d_core import InputFileError, preprocess_image
from gan3d_core.images import OBJECT_MARGIN, object_mask
from tests.conftest import object_photo


def test_plain_background_becomes_white_and_object_is_centred():
    out = preprocess_image(object_photo(), size=64)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    dark = np.argwhere(out.max(axis=2) < 128)
    rows, cols = dark[:, 0], dark[:, 1]
    # The object (40 x 20) is scaled so its long side spans the square minus the margins.
    assert rows.max() - rows.min() + 1 == pytest.approx(64 * (1 - 2 * OBJECT_MARGIN), abs=2)
    assert (rows.min() + rows.max()) / 2 == pytest.approx(31.5, abs=1)
    assert (cols.min() + cols.max()) / 2 == pytest.approx(31.5, abs=1)
    assert (out[0, 0] == 255).all() and (out[-1, -1] == 255).all()


def test_alpha_is_composited_on_white():
    rgba = np.zeros((50, 50, 4), np.uint8)
    rgba[10:40, 20:30] = (255, 0, 0, 255)  # opaque red bar; the rest transparent black
    out = preprocess_image(rgba, size=32)
    assert (out[0, 0] == 255).all()  # transparent black became white
    centre = out[16, 16]
    assert centre[0] > 200 and centre[1] < 60 and centre[2] < 60


def test_object_pixels_matching_the_background_are_kept():
    image = object_photo(background=(255, 255, 255))
    image[35:45, 35:45] = 255  # a white patch inside the object
    mask = object_mask(image)
    assert mask[40, 40] and not mask[0, 0]


def test_grayscale_and_pil_inputs(tmp_path):
    gray = np.full((40, 40), 255, np.uint8)
    gray[10:30, 10:30] = 0
    assert preprocess_image(gray, size=16).shape == (16, 16, 3)
    Image.fromarray(gray).save(tmp_path / "g.bmp")
    np.testing.assert_array_equal(
        preprocess_image(tmp_path / "g.bmp", 16), preprocess_image(gray, 16)
    )


def test_corrupt_and_missing_images_name_the_file(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"junk" * 10)
    with pytest.raises(InputFileError, match=r"broken\.png: cannot read image"):
        preprocess_image(bad)
    text = tmp_path / "notes.jpg"
    text.write_text("hello")
    with pytest.raises(InputFileError, match=r"notes.jpg: cannot read image \(not an image\)"):
        preprocess_image(text)
    with pytest.raises(InputFileError, match="no such image"):
        preprocess_image(tmp_path / "absent.png")


def test_photo_quirks_exif_16_bit_and_opaque_alpha(tmp_path):
    photo = object_photo()  # (96, 116): wider than tall
    rotated = tmp_path / "portrait.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.fromarray(photo).save(rotated, exif=exif.tobytes(), quality=95)
    from gan3d_core.images import load_image

    assert load_image(rotated).shape[:2] == (116, 96)  # shown upright, as phones mean it
    deep = tmp_path / "deep.png"
    grey = np.asarray(Image.fromarray(photo).convert("L"), np.uint16) * 257
    Image.fromarray(grey).save(deep)
    assert (preprocess_image(deep, 32).min(axis=2) < 128).mean() > 0.2  # not washed out
    opaque = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    np.testing.assert_array_equal(preprocess_image(opaque, 32), preprocess_image(photo, 32))

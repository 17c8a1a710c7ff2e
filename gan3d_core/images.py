"""Image preprocessing shared by training renders and user photos.

Every view the encoder sees, rendered or photographed, goes through
:func:`preprocess_image`: alpha composited on white (or a plain background replaced by
white), cropped to the object, padded square with a margin, resized.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from gan3d_core.errors import InputFileError, UsageError, first_line
from gan3d_core.io.atomic import check_input_file
from gan3d_core.limits import MAX_IMAGE_ASPECT, MAX_IMAGE_PIXELS, MIN_IMAGE_SIDE

ImageSource = str | os.PathLike | Image.Image | np.ndarray
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
# Fraction of the square side left empty around the object on each side.
OBJECT_MARGIN = 0.08
# A pixel differs from the background when a channel differs by more than this (0..255).
BACKGROUND_TOLERANCE = 24
# A photo's background counts as plain when this share of its border pixels is within
# BACKGROUND_TOLERANCE of their median colour; otherwise GrabCut separates the object.
PLAIN_BORDER_SHARE = 0.8
# GrabCut runs on a copy of the photo at most this many pixels on a side (it is O(pixels)
# per iteration), then its mask is scaled back; the box a user draws is in full-size pixels.
GRABCUT_SIZE = 400
GRABCUT_ITERATIONS = 5
GRABCUT_SEED = 0
# Without a box, GrabCut starts from a centre prior: the border strip of this share on each
# side is background, the central CENTRE_SHARE of each side probably the object, and the
# ring between them probably background. Seeding the ring as background lets GrabCut's
# background colours include a photo's own clutter (a cup, a cat) behind the object: on
# renders pasted onto scikit-image photos, object filling 50-90 % of the frame, the mask's
# IoU rose from 0.65 (the whole centred box as probable object) to 0.84. A subject that
# fills the frame (scikit-image's astronaut, its cameraman) is learnt as background too and
# the prior keeps almost nothing: below CENTRE_MIN_FOUND of the central part found, GrabCut
# starts again from the whole centred box as probable object.
GRABCUT_MARGIN = 0.06
CENTRE_SHARE = 0.5
CENTRE_MIN_FOUND = 0.1
# A drawn box gets the same prior: outside it is background, the band of this share of
# each side inside it probably background, the rest probably the object. Tuned on renders
# of held-out shapes pasted onto six scikit-image photos, boxed as a user would (5 % loose),
# and checked on bench_background's other photos: mask IoU 0.943 -> 0.953 and 0.841 ->
# 0.884 against the whole box as probable object (0.1 / 0.25 / 0.3: 0.949 / 0.948 / 0.929).
BOX_BAND = 0.2
# Grey levels a picture may span and still be one plain colour (a blank page, a
# transparent PNG, JPEG noise on a wall): there is no object to reconstruct
PLAIN_IMAGE_RANGE = 8
# A crop's longest side in pixels per output pixel before it is padded square: renders
# (2 px per pixel) are untouched, a photo is shrunk once before and once after padding.
WORKING_SIDE_PER_PIXEL = 4
Box = tuple[int, int, int, int]  # x, y, width, height in pixels
EXIF_ORIENTATION = 0x0112  # the tag saying how a camera held sideways turned the picture


def load_image(source: ImageSource) -> np.ndarray:
    """An image as uint8 (H, W, 3) or (H, W, 4) from a path, a PIL image or an array
    (uint8, or floats in [0, 1] as scikit-image and torchvision hold images; (H, W, C) or
    channels first)."""
    if isinstance(source, (str, os.PathLike)):
        path = check_input_file(source, "image")
        try:
            with warnings.catch_warnings():
                # Pillow warns about (and at twice the size refuses) huge images; our own
                # limit, checked on the header before any pixel is decoded, is lower.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(path) as image:
                    _check_pixels(path, *image.size)
                    image.load()
                    return _pil_to_array(ImageOps.exif_transpose(image))
        except Image.DecompressionBombError as exc:  # Pillow's own limit, twice ours
            declared = re.search(r"\((\d+) pixels\)", str(exc))
            size = f"of {int(declared[1]) / 1e6:,.0f} megapixels " if declared else ""
            raise InputFileError(
                f"{path}: image {size}is over the limit of {MAX_IMAGE_PIXELS / 1e6:g} "
                "megapixels; scale it down first"
            ) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
            if isinstance(exc, InputFileError):
                raise
            if not isinstance(exc, UnidentifiedImageError):
                reason = str(exc)
            elif _is_tiff(path):  # Pillow knows TIFFs, but not every kind of sample
                reason = "a TIFF of samples Pillow cannot decode, such as 32-bit floats; save it "
                reason += "with 8 or 16 bits"
            else:
                reason = "not an image"
            raise InputFileError(f"{path}: cannot read image ({reason})") from None
    if isinstance(source, Image.Image):
        _check_pixels("image", *source.size)
        return _pil_to_array(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        raise UsageError(
            "an image is a path, a PIL image or a uint8 array, not the bytes of a file: pass "
            "its path, or open it with PIL.Image.open(io.BytesIO(data))"
        )
    try:
        array = np.asarray(source)
    except (TypeError, RuntimeError) as exc:  # a tensor on a GPU, or one that needs grad
        raise UsageError(
            f"image: cannot read it as an array ({first_line(exc)}); for a torch tensor pass "
            "tensor.detach().cpu()"
        ) from None
    if array.ndim == 2:
        array = array[:, :, None]
    elif array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[2] not in (1, 3, 4):
        array = np.moveaxis(array, 0, 2)  # channels first, as torch and torchvision hold it
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4) or min(array.shape[:2]) < 1:
        raise UsageError(
            f"image array must be (H, W), (H, W, 1|3|4) or channels first, got shape {array.shape}"
        )
    _check_pixels("image array", array.shape[1], array.shape[0])
    if _unit_floats(array):  # scikit-image's and torchvision's float images
        array = np.round(array * 255.0).astype(np.uint8)
    elif array.dtype != np.uint8:
        raise UsageError(
            f"image array must be uint8 or floats in [0, 1], got {array.dtype}{_uint8_hint(array)}"
        )
    return np.repeat(array, 3, axis=2) if array.shape[2] == 1 else array


def _unit_floats(array: np.ndarray) -> bool:
    """Whether ``array`` holds floats, all finite and in [0, 1]."""
    if array.dtype.kind != "f" or not np.isfinite(array).all():
        return False
    return bool(array.min() >= 0.0 and array.max() <= 1.0)


def _is_tiff(path: Path) -> bool:
    """Whether the file begins as a TIFF does (either byte order)."""
    with open(path, "rb") as file:
        return file.read(4) in (b"II*\x00", b"MM\x00*")


def image_size(path: str | os.PathLike) -> tuple[int, int] | None:
    """A photo's (width, height) as :func:`load_image` turns it upright (EXIF rotation),
    from its header alone; None when it cannot be read (loading it says why)."""
    try:
        if not os.path.isfile(path):  # a FIFO would block the caller, a folder cannot open
            return None
        with Image.open(path) as image:
            width, height = image.size
            if image.format == "TIFF":  # Pillow opens a TIFF upright already
                return width, height
            exif = Image.Exif()
            if image.format != "PNG":
                exif = image.getexif()
            elif "exif" in image.info:  # getexif() would decode a PNG to look past its pixels
                exif.load(image.info["exif"])
            quarter_turned = exif.get(EXIF_ORIENTATION) in (5, 6, 7, 8)
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
        return None
    return (height, width) if quarter_turned else (width, height)


def _uint8_hint(array: np.ndarray) -> str:
    """How to make ``array`` the uint8 image asked for, by what it holds (a cast alone
    wraps a 16-bit image's 40000 to 64)."""
    if array.dtype == bool:
        return " (a mask: (mask * 255).astype(np.uint8))"
    if array.dtype.kind not in "fiu" or array.size == 0:
        return ""
    if not np.isfinite(array).all():
        return " (it holds NaN or infinite values)"
    low, high = array.min(), array.max()
    if 0 <= low and high <= 255:
        return " (values in 0..255: image.astype(np.uint8))"
    if array.dtype == np.uint16:
        return " (16 bits a channel: (image >> 8).astype(np.uint8))"
    return f" (values from {low:g} to {high:g}: scale them to 0..255 first)"


def _check_pixels(source: str | os.PathLike, width: int, height: int) -> None:
    """Refuse an image too large or too thin: a file's with an InputFileError naming it,
    an image in memory ("image", "image array") with a UsageError."""
    error = InputFileError if isinstance(source, os.PathLike) else UsageError
    if min(width, height) < 1:
        raise error(f"{source}: image of {width} x {height} pixels holds nothing")
    if width * height > MAX_IMAGE_PIXELS:
        raise error(
            f"{source}: image of {width} x {height} pixels is over the limit of "
            f"{MAX_IMAGE_PIXELS / 1e6:g} megapixels; scale it down first"
        )
    if max(width, height) > MAX_IMAGE_ASPECT * min(width, height):
        raise error(
            f"{source}: image of {width} x {height} pixels is a strip (over "
            f"{MAX_IMAGE_ASPECT}:1); crop it to the object"
        )
    if min(width, height) < MIN_IMAGE_SIDE:  # GrabCut found no background in an 8 x 8 one
        raise error(
            f"{source}: image of {width} x {height} pixels is too small to read (at least "
            f"{MIN_IMAGE_SIDE} a side)"
        )


def _pil_to_array(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):  # 16-bit / float grey: to 8 bits
        values = np.asarray(image, dtype=np.float64)
        low, high = values.min(), values.max()
        scaled = (values - low) / (high - low) * 255 if high > low else np.zeros_like(values)
        image = Image.fromarray(np.round(scaled).astype(np.uint8))
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    return np.asarray(image.convert("RGBA" if has_alpha else "RGB"))


def object_mask(rgb: np.ndarray, tolerance: int = BACKGROUND_TOLERANCE) -> np.ndarray:
    """Pixels of the object in an RGB image on a plain background, as a bool (H, W) mask.

    The background colour is the median of the border pixels; background is every pixel
    within ``tolerance`` of it that is connected to the border, so object parts that
    happen to share the background colour are kept.
    """
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).astype(np.int16)
    # The median may end in .5: compare doubled values in int16, exact and 4x smaller than
    # the float64 (H, W, 3) difference.
    doubled_background = np.round(2 * np.median(border, axis=0)).astype(np.int16)
    difference = 2 * rgb.astype(np.int16) - doubled_background  # (H, W, 3)
    similar = np.abs(difference).max(axis=2) <= 2 * tolerance
    from scipy import ndimage  # here: the app's window opens without loading scipy

    labels, _ = ndimage.label(similar)
    border_labels = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    background = np.isin(labels, border_labels[border_labels > 0])
    return ~background


def plain_background(rgb: np.ndarray, tolerance: int = BACKGROUND_TOLERANCE) -> bool:
    """Whether the image's border is (mostly) one colour, as in a studio shot or a render."""
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).astype(np.int16)
    close = np.abs(border - np.median(border, axis=0)).max(axis=1) <= tolerance
    return bool(close.mean() >= PLAIN_BORDER_SHARE)


BOX_RULE = "a box is X,Y,W,H in whole pixels, X and Y 0 or more, W and H 2 or more"


def check_box(box: Sequence[int]) -> Box:
    """``box`` as four ints (x, y, width, height in pixels); a UsageError unless they are
    whole numbers, x and y >= 0 and width and height >= 2 (GrabCut's least)."""
    try:
        values = tuple(value.item() if isinstance(value, np.generic) else value for value in box)
        numbers = tuple(float(value) for value in values)
    except (TypeError, ValueError):
        raise UsageError(f"{BOX_RULE}; got {box!r}") from None
    if (
        len(numbers) != 4 or any(isinstance(value, bool) for value in values)
        or not all(np.isfinite(numbers)) or any(n != int(n) for n in numbers)
        or min(numbers[:2]) < 0 or min(numbers[2:]) < 2
    ):  # fmt: skip
        raise UsageError(f"{BOX_RULE}; got {values}")
    return tuple(int(n) for n in numbers)


def grabcut_mask(rgb: np.ndarray, box: Box | None = None) -> np.ndarray:
    """The object in a cluttered photo, bool (H, W), by OpenCV's GrabCut (Rother et al.
    2004) from a centre prior: inside ``box`` (x, y, width, height; pixels outside it are
    background, see :data:`BOX_BAND`), or without one in the whole frame (:data:`CENTRE_SHARE`)."""
    import cv2  # here: only cluttered photos need OpenCV

    height, width = rgb.shape[:2]
    scale = min(1.0, GRABCUT_SIZE / max(height, width))
    small = cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))),
                       interpolation=cv2.INTER_AREA)  # fmt: skip
    if box is None:
        frame = (0, 0, small.shape[1], small.shape[0])
        region, centre = _inset(frame, GRABCUT_MARGIN), _inset(frame, (1 - CENTRE_SHARE) / 2)
    else:
        region = _scaled_box(box, (height, width), scale)
        centre = _inset(region, BOX_BAND)
    found = _cut_from_centre(small, region, centre)
    found = cv2.resize(found, (width, height), interpolation=cv2.INTER_NEAREST).astype(bool)
    return _largest_component(found)


def _scaled_box(box: Box, size: tuple[int, int], scale: float) -> Box:
    """A drawn ``box`` (in pixels of an image of ``size``) ``scale``d to the copy GrabCut
    runs on; a box that runs past the image is refused: drawn on another photo, it would
    be cut to a strip of this one and find nothing there."""
    x, y, box_width, box_height = check_box_inside(box, size)
    return (int(x * scale), int(y * scale), max(2, int(box_width * scale)),
            max(2, int(box_height * scale)))  # fmt: skip


def check_box_inside(box: Box, size: tuple[int, int]) -> Box:
    """``box`` checked (:func:`check_box`) and inside an image of ``size`` (height,
    width); a UsageError saying so otherwise."""
    height, width = size
    x, y, box_width, box_height = check_box(box)  # the API's boxes too: 0 x 0 is none
    if x + box_width > width or y + box_height > height:
        raise UsageError(
            f"the object box {box_width} x {box_height} at {x}, {y} runs past this "
            f"{width} x {height} image; a box is drawn inside the photo it marks"
        )
    return x, y, box_width, box_height


def _inset(rect: Box, share: float) -> Box:
    """``rect`` (x, y, width, height) less ``share`` of its width and height on each side."""
    x, y, width, height = rect
    left, top = round(width * share), round(height * share)
    return x + left, y + top, width - 2 * left, height - 2 * top


def _cut_from_centre(rgb: np.ndarray, region: Box, centre: Box) -> np.ndarray:
    """GrabCut with ``region`` probably background but its ``centre`` probably the object
    and the rest of the image background; or from the whole region as probable object when
    the first cut keeps under :data:`CENTRE_MIN_FOUND` of the centre."""
    import cv2

    seeds = np.full(rgb.shape[:2], cv2.GC_BGD, np.uint8)
    _mark(seeds, region, cv2.GC_PR_BGD)
    _mark(seeds, centre, cv2.GC_PR_FGD)
    found = _grabcut(rgb, seeds)
    if found[seeds == cv2.GC_PR_FGD].mean() >= CENTRE_MIN_FOUND:
        return found
    _mark(seeds, region, cv2.GC_PR_FGD)
    return _grabcut(rgb, seeds)


def _grabcut(rgb: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """GrabCut's object mask, uint8 0/1, from ``seeds`` (OpenCV's GC_* labels per pixel)."""
    import cv2

    mask = seeds.copy()
    background, foreground = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    # GrabCut seeds its colour models by k-means from OpenCV's per-thread generator: without
    # a fixed seed the same photo and box gave another mask on each call in one process
    # (thousands of pixels apart), so the app's preview, its reconstruction and the CLI
    # could disagree.
    cv2.setRNGSeed(GRABCUT_SEED)
    cv2.grabCut(
        cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR), mask, None,
        background, foreground, GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK,
    )  # fmt: skip
    return np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)


def _mark(seeds: np.ndarray, rect: Box, value: int) -> None:
    """Set the pixels of ``rect`` (x, y, width, height) in ``seeds`` to ``value``."""
    x, y, width, height = rect
    seeds[y : y + height, x : x + width] = value


def _largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest connected part of a mask: GrabCut leaves specks of clutter."""
    from scipy import ndimage

    labels, count = ndimage.label(mask)
    if count <= 1:
        return mask
    sizes = np.bincount(labels.ravel())[1:]
    return labels == 1 + int(np.argmax(sizes))


def separation(image: np.ndarray, box: Box | None = None) -> str:
    """How :func:`object_pixels` separates the object in ``image`` (H, W, 3 or 4):
    ``"cut-out"`` (its alpha, which a box cannot change), ``"colour"`` (a plain background)
    or ``"grabcut"`` (a cluttered one, or any photo given a ``box``)."""
    if image.shape[2] == 4 and image[:, :, 3].min() < 250:  # a real cut-out, not opaque alpha
        return "cut-out"
    if box is not None or not plain_background(image[:, :, :3]):
        return "grabcut"
    return "colour"


def object_pixels(image: np.ndarray, box: Box | None = None) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 (H, W, 3) and the object mask (H, W), separated as :func:`separation`
    says; :func:`preprocess_image` whitens what the mask leaves out. A cut-out is
    composited on white."""
    method = separation(image, box)
    if method == "cut-out":
        alpha = image[:, :, 3:4].astype(np.float32) / 255.0
        # c a + 255 (1 - a), computed in place: (c - 255) a + 255 (bounded memory)
        rgb = image[:, :, :3].astype(np.float32)
        rgb -= 255.0
        rgb *= alpha
        rgb += 255.0
        return np.round(rgb, out=rgb).astype(np.uint8), image[:, :, 3] > 8
    rgb = image[:, :, :3]
    return rgb, grabcut_mask(rgb, box) if method == "grabcut" else object_mask(rgb)


def preprocess_image(source: ImageSource, size: int = 128, box: Box | None = None) -> np.ndarray:
    """What the encoder sees: uint8 (size, size, 3), object centred on white.

    The object is separated from its background (:func:`object_pixels`: alpha, a plain
    colour, or GrabCut for a cluttered photo or inside ``box``), the background becomes
    white, the image is cropped to the object, padded square with an
    :data:`OBJECT_MARGIN`, and resized with antialiasing. An image with no detectable
    object is used whole; a picture of one plain colour is refused (nothing to read).
    """
    if not isinstance(size, int) or isinstance(size, bool) or not 8 <= size <= 1024:
        raise UsageError(f"size must be a whole number of pixels from 8 to 1024, got {size!r}")
    try:
        rgb, mask = object_pixels(load_image(source), box)
    except UsageError as exc:  # a box that does not fit: say which photo
        if isinstance(source, (str, os.PathLike)):
            raise UsageError(f"{source}: {exc}") from None
        raise
    if np.ptp(rgb.reshape(-1, 3), axis=0).max() <= PLAIN_IMAGE_RANGE:
        what = "no object to read, the picture is one plain colour"
        if isinstance(source, (str, os.PathLike)):
            raise InputFileError(f"{source}: {what}")
        raise UsageError(f"image: {what}")
    if mask.any() and not mask.all():
        rgb = np.where(mask[:, :, None], rgb, np.uint8(255))
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        rgb = rgb[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    height, width = rgb.shape[:2]
    if max(height, width) > WORKING_SIDE_PER_PIXEL * size:
        # shrunk before it is padded square: a wide photo's square would take gigabytes
        scale = WORKING_SIDE_PER_PIXEL * size / max(height, width)
        shrunk = (max(1, round(width * scale)), max(1, round(height * scale)))
        rgb = np.asarray(Image.fromarray(rgb).resize(shrunk, Image.Resampling.LANCZOS))
        height, width = rgb.shape[:2]
    side = int(np.ceil(max(height, width) / (1.0 - 2.0 * OBJECT_MARGIN)))
    canvas = np.full((side, side, 3), 255, dtype=np.uint8)
    top, left = (side - height) // 2, (side - width) // 2
    canvas[top : top + height, left : left + width] = rgb
    resized = Image.fromarray(canvas).resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(resized)


def reframed(image: np.ndarray, zoom: float, shift_x: float, shift_y: float) -> np.ndarray:
    """A preprocessed image (S, S, 3) as a slightly different crop would frame its object:
    scaled by ``zoom`` about the centre and moved by ``shift_x``, ``shift_y`` (fractions
    of the side; positive: right, down), on white. The image head sees every object
    centred at one scale, and a mask a few pixels off moves both (training augmentation)."""
    size = image.shape[0]
    side = max(1, round(size * zoom))
    scaled = np.asarray(Image.fromarray(image).resize((side, side), Image.Resampling.LANCZOS))
    canvas = np.full((size, size, 3), 255, np.uint8)
    left = (size - side) // 2 + round(shift_x * size)
    top = (size - side) // 2 + round(shift_y * size)
    # the overlap of the scaled image, placed at (left, top), with the canvas
    x0, y0, x1, y1 = max(left, 0), max(top, 0), min(left + side, size), min(top + side, size)
    if x0 < x1 and y0 < y1:
        canvas[y0:y1, x0:x1] = scaled[y0 - top : y1 - top, x0 - left : x1 - left]
    return canvas


def images_to_array(images: list[np.ndarray]) -> np.ndarray:
    """Preprocessed uint8 (H, W, 3) images -> float32 (V, 3, H, W) in [0, 1]."""
    stacked = np.stack(images).astype(np.float32) / 255.0  # (V, H, W, 3)
    return np.ascontiguousarray(stacked.transpose(0, 3, 1, 2))  # (V, 3, H, W)


# what a screenshot can be saved as, by suffix; JPEG and BMP have no transparency
PICTURE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP",
                   ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP"}  # fmt: skip
OPAQUE_FORMATS = ("JPEG", "BMP")


def png_bytes(image: np.ndarray, max_size: int | None = None) -> bytes:
    """uint8 (H, W, 3) image encoded as PNG, shrunk to fit ``max_size`` pixels if given."""
    return picture_bytes(image, "PNG", max_size)


def picture_bytes(image: np.ndarray, kind: str, max_size: int | None = None) -> bytes:
    """uint8 (H, W, 3) or (H, W, 4) image encoded as ``kind`` (a value of
    :data:`PICTURE_FORMATS`), shrunk to fit ``max_size`` pixels if given. An image with
    transparency is refused in a format without it."""
    import io

    if kind in OPAQUE_FORMATS and image.ndim == 3 and image.shape[2] == 4:
        raise UsageError(f"{kind} has no transparency: save it as PNG, WebP or TIFF")
    picture = Image.fromarray(np.ascontiguousarray(image))
    if max_size is not None:
        picture.thumbnail((max_size, max_size))
    buffer = io.BytesIO()
    picture.save(buffer, format=kind, **({"quality": 95} if kind == "JPEG" else {}))
    return buffer.getvalue()


def is_image_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES

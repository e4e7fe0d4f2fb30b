"""Decode JPEG, PNG and TIFF into RGB uint8 arrays.

Band handling: 1 band is repeated to RGB; 2 bands (grey + alpha) keep the grey band; 3 bands are
used as they are; 4 or more bands keep the first three (for RGBN or RGBA files this is RGB, for
multispectral stacks whose first bands are not RGB the user must reorder them first). Images
with more than 8 bits per sample are rescaled per image to 0..255 by their min and max.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from anneal.errors import ImageDecodeError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff"})
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
WIDE_PILLOW_MODES = frozenset({"I;16", "I;16B", "I", "F"})
MAX_IMAGE_PIXELS = 8192 * 8192
"""Largest width x height any part of the system decodes (the embedding service, the web app's
previews and uploads), checked from the header with :func:`image_extent` before a pixel is
decoded: the decompression-bomb guard, like Pillow's ``Image.MAX_IMAGE_PIXELS``."""
"""Pillow modes whose samples are decoded as stored, not converted to 8-bit RGB."""


def is_tiff(data: bytes) -> bool:
    """Whether encoded image bytes are a TIFF (classic or BigTIFF), by their first bytes."""
    return data[:4] in _TIFF_MAGIC


def select_bands(array: np.ndarray) -> np.ndarray:
    """The bands shown as RGB, by the band rules above: (H, W, 1) grey or (H, W, 3), dtype kept."""
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[0] == 0 or array.shape[1] == 0 or array.shape[2] == 0:
        raise ImageDecodeError(f"expected an image array (H, W[, C]), got shape {array.shape}")
    bands = array.shape[2]
    if bands == 1 or bands == 2:
        return array[:, :, :1]
    return array[:, :, :3]


def to_rgb(array: np.ndarray) -> np.ndarray:
    """Bring an (H, W) or (H, W, C) array of any band count and dtype to (H, W, 3) uint8."""
    array = select_bands(array)
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    if array.dtype != np.uint8:
        data = array.astype(np.float32)
        lo, hi = float(np.nanmin(data)), float(np.nanmax(data))
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        array = np.clip((np.nan_to_num(data, nan=lo) - lo) * scale, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(array)


def decode_image(data: bytes) -> np.ndarray:
    """Decode image bytes (JPEG, PNG, TIFF) to RGB uint8; raise ImageDecodeError if impossible."""
    return to_rgb(decode_bands(data))


def decode_bands(data: bytes) -> np.ndarray:
    """Decode image bytes to their samples as stored: (H, W[, C]), the file's dtype and bands.

    TIFF keeps every band and its sample type (uint16, float32...); 16-bit and 32-bit grey PNG
    keep their values; other JPEG and PNG images are 8-bit RGB. ``to_rgb`` of the result is
    what ``decode_image`` returns. ImageDecodeError if the bytes are not a decodable image.
    """
    if not data:
        raise ImageDecodeError("empty image: send the bytes of a JPEG, PNG or TIFF file")
    if is_tiff(data):
        return _tiff_bands(data)
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.mode in WIDE_PILLOW_MODES:
                return np.asarray(image)
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageDecodeError(f"cannot decode image ({exc}); send a JPEG, PNG or TIFF") from exc


def image_extent(data: bytes) -> tuple[int, int, int]:
    """(height, width, bands) of encoded image bytes, from the header: no pixel is decoded.

    The extent is that of ``decode_bands``'s result (bands: the product of the axes after the
    first two, 1 for a grey image), so a caller can refuse an image too large to decode.
    """
    if not data:
        raise ImageDecodeError("empty image: send the bytes of a JPEG, PNG or TIFF file")
    if is_tiff(data):
        import tifffile

        try:
            with tifffile.TiffFile(io.BytesIO(data)) as tif:
                series = tif.series[0]
                shape, axes = tuple(int(n) for n in series.shape), series.axes
        except Exception as exc:  # tifffile raises many types for damaged files
            raise ImageDecodeError(f"cannot decode TIFF ({exc})") from exc
        if len(shape) == 3 and axes[0] in "SC":
            shape = (*shape[1:], shape[0])
        if len(shape) < 2:
            raise ImageDecodeError(f"expected an image array (H, W[, C]), got shape {shape}")
        return shape[0], shape[1], int(np.prod(shape[2:], dtype=np.int64))
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            bands = 1 if image.mode in WIDE_PILLOW_MODES else 3
            return height, width, bands
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageDecodeError(f"cannot decode image ({exc}); send a JPEG, PNG or TIFF") from exc


def _tiff_bands(data: bytes) -> np.ndarray:
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            series = tif.series[0]
            array, axes = np.asarray(series.asarray()), series.axes
    except Exception as exc:  # tifffile raises many types for damaged files
        raise ImageDecodeError(f"cannot decode TIFF ({exc})") from exc
    if array.ndim == 3 and axes[0] in "SC":  # planar (bands, H, W) -> (H, W, bands)
        array = np.moveaxis(array, 0, -1)
    return array


def read_image(path: Path) -> np.ndarray:
    """Read an image file to RGB uint8; ImageDecodeError names the file if it is unreadable."""
    try:
        return decode_image(Path(path).read_bytes())
    except ImageDecodeError as exc:
        raise ImageDecodeError(f"{path}: {exc}") from exc
    except OSError as exc:
        raise ImageDecodeError(f"{path}: cannot read file ({exc})") from exc

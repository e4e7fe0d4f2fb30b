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


def to_rgb(array: np.ndarray) -> np.ndarray:
    """Bring an (H, W) or (H, W, C) array of any band count and dtype to (H, W, 3) uint8."""
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageDecodeError(f"expected an image array (H, W[, C]), got shape {array.shape}")
    bands = array.shape[2]
    if bands == 1 or bands == 2:
        array = np.repeat(array[:, :, :1], 3, axis=2)
    elif bands > 3:
        array = array[:, :, :3]
    if array.dtype != np.uint8:
        data = array.astype(np.float32)
        lo, hi = float(np.nanmin(data)), float(np.nanmax(data))
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        array = np.clip((np.nan_to_num(data, nan=lo) - lo) * scale, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(array)


def decode_image(data: bytes) -> np.ndarray:
    """Decode image bytes (JPEG, PNG, TIFF) to RGB uint8; raise ImageDecodeError if impossible."""
    if not data:
        raise ImageDecodeError("empty image: send the bytes of a JPEG, PNG or TIFF file")
    if data[:4] in _TIFF_MAGIC:
        return _decode_tiff(data)
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.mode in ("I;16", "I;16B", "I", "F"):
                return to_rgb(np.asarray(image))
            return to_rgb(np.asarray(image.convert("RGB")))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageDecodeError(f"cannot decode image ({exc}); send a JPEG, PNG or TIFF") from exc


def _decode_tiff(data: bytes) -> np.ndarray:
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            series = tif.series[0]
            array, axes = np.asarray(series.asarray()), series.axes
    except Exception as exc:  # tifffile raises many types for damaged files
        raise ImageDecodeError(f"cannot decode TIFF ({exc})") from exc
    if array.ndim == 3 and axes[0] in "SC":  # planar (bands, H, W) -> (H, W, bands)
        array = np.moveaxis(array, 0, -1)
    return to_rgb(array)


def read_image(path: Path) -> np.ndarray:
    """Read an image file to RGB uint8; ImageDecodeError names the file if it is unreadable."""
    try:
        return decode_image(Path(path).read_bytes())
    except ImageDecodeError as exc:
        raise ImageDecodeError(f"{path}: {exc}") from exc
    except OSError as exc:
        raise ImageDecodeError(f"{path}: cannot read file ({exc})") from exc

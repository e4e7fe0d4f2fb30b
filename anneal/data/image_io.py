"""Decode JPEG, PNG and TIFF into RGB uint8 arrays, within the size limits of ``image_limits``.

Every decode reads the header first (``image_header.read_header``) and checks it against the
limits, so no pixel of an image over them is decoded. Decoding is bounded by the header too:
Pillow decodes JPEG and PNG into a buffer of the declared size, and TIFF strips and tiles are
decompressed by imagecodecs into buffers of their declared size, so data that decompresses to
more than its header says is refused, not allocated.

Band handling: 1 band is repeated to RGB; 2 bands (grey + alpha) keep the grey band; 3 bands are
used as they are; 4 or more bands keep the first three (for RGBN or RGBA files this is RGB, for
multispectral stacks whose first bands are not RGB the user must reorder them first). Images
with more than 8 bits per sample are rescaled per image to 0..255 by their min and max. A
multi-page TIFF is its first page; its other pages are never read.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from anneal.data.image_header import ImageHeader, is_tiff, open_picture, read_header
from anneal.data.image_limits import DEFAULT_LIMITS, MAX_IMAGE_PIXELS, ImageLimits
from anneal.errors import ImageDecodeError

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_IMAGE_PIXELS",
    "WIDE_PILLOW_MODES",
    "decode_bands",
    "decode_image",
    "image_extent",
    "is_tiff",
    "read_image",
    "select_bands",
    "to_rgb",
]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff"})
WIDE_PILLOW_MODES = frozenset({"I;16", "I;16B", "I", "F"})
"""Pillow modes whose samples are decoded as stored, not converted to 8-bit RGB."""
_RESCALE_CHUNK_BYTES = 8 * 1024 * 1024
"""float32 working memory of ``to_rgb``'s rescaling, taken a block of rows at a time."""
_PILLOW_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, KeyError)


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
    """Bring an (H, W) or (H, W, C) array of any band count and dtype to (H, W, 3) uint8.

    Wider samples are rescaled a block of rows at a time, so the float working copy stays small
    whatever the image's size.
    """
    array = select_bands(array)
    if array.dtype == np.uint8:
        return np.ascontiguousarray(np.broadcast_to(array, (*array.shape[:2], 3)))
    lo, hi = float(np.nanmin(array)), float(np.nanmax(array))
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    height, width = array.shape[:2]
    out = np.empty((height, width, 3), np.uint8)
    rows = max(1, _RESCALE_CHUNK_BYTES // (4 * width * array.shape[2]))
    for start in range(0, height, rows):
        block = np.nan_to_num(array[start : start + rows].astype(np.float32), nan=lo)
        out[start : start + rows] = np.clip((block - lo) * scale, 0, 255).astype(np.uint8)
    return out


def decode_image(data: bytes, limits: ImageLimits = DEFAULT_LIMITS) -> np.ndarray:
    """Decode image bytes (JPEG, PNG, TIFF) to RGB uint8; ImageDecodeError if impossible and
    ImageTooLargeError (one) if the header is over ``limits``."""
    return to_rgb(decode_bands(data, limits))


def decode_bands(data: bytes, limits: ImageLimits = DEFAULT_LIMITS) -> np.ndarray:
    """Decode image bytes to their samples as stored: (H, W[, C]), the file's dtype and bands.

    TIFF keeps every band and its sample type (uint16, float32...); 16-bit and 32-bit grey PNG
    keep their values; other JPEG and PNG images are 8-bit RGB. ``to_rgb`` of the result is
    what ``decode_image`` returns. ImageDecodeError if the bytes are not a decodable image,
    ImageTooLargeError if the header is over ``limits`` (checked before any pixel is decoded).
    """
    header = read_header(data)
    limits.check(header)
    if header.format == "TIFF":
        return _tiff_bands(data)
    try:
        with open_picture(data) as image:
            image.load()
            if image.mode in WIDE_PILLOW_MODES:
                return np.asarray(image)
            return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    except _PILLOW_ERRORS:
        raise ImageDecodeError(
            f"cannot decode {header.format}: its data is damaged or truncated"
        ) from None


def image_extent(data: bytes) -> tuple[int, int, int]:
    """(height, width, bands) of encoded image bytes, from the header: no pixel is decoded.

    The extent is that of ``decode_bands``'s result (bands: 1 for a grey image).
    """
    header: ImageHeader = read_header(data)
    return header.height, header.width, header.bands


def _tiff_bands(data: bytes) -> np.ndarray:
    import imagecodecs  # noqa: F401  tifffile's bounded codecs; without it zlib is unbounded
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages.first
            shaped = tuple(int(n) for n in page.shaped)
            array = np.asarray(page.asarray(maxworkers=1)).reshape(shaped)
    except Exception:  # tifffile and the codecs raise many types for damaged files
        raise ImageDecodeError(
            "cannot decode TIFF: its data is damaged, truncated or larger than its header says"
        ) from None
    separate, _depth, height, width, contig = shaped
    # (separate, 1, H, W, contig) -> (H, W, bands): a view, whether planar or contiguous
    bands = np.moveaxis(array[:, 0], 0, -1).reshape(height, width, separate * contig)
    return bands[:, :, 0] if separate * contig == 1 else bands


def read_image(path: Path, limits: ImageLimits = DEFAULT_LIMITS) -> np.ndarray:
    """Read an image file to RGB uint8; ImageDecodeError names the file if it is unreadable."""
    try:
        return decode_image(Path(path).read_bytes(), limits)
    except ImageDecodeError as exc:
        raise type(exc)(f"{path}: {exc}") from exc
    except OSError as exc:
        raise ImageDecodeError(f"{path}: cannot read file ({exc.strerror})") from exc

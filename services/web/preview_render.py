"""How a decoded archive image becomes preview bytes: resizing, the stretch of wide samples,
and JPEG or PNG encoding.

Pure functions (no files, no cache, no limits), apart from ``services.web.image_preview``,
which reads the file, checks it, and decides whether it is a picture or a scene, so that what
a preview's pixels are can be read, tested and changed on its own.

* **Pictures** (``render_picture``: an 8-bit JPEG or PNG opened by Pillow) are resized and
  re-encoded in their own format: JPEG stays JPEG (quality 85), PNG stays PNG (transparency
  kept). The EXIF orientation of a JPEG is not applied: the preview shows the pixels the model
  embeds.
* **Scenes** (``render_scene``: the samples of a TIFF, or of a PNG with 16-bit or 32-bit
  samples, in the bands the model sees) with samples wider than 8 bits (16-bit, 32-bit, float)
  get a per-channel 2-98 percentile stretch: each band is clipped to [p2, p98] and scaled to
  0..255, so a few hot or dead pixels do not turn the scene black or white (the model's min-max
  rescaling would). 8-bit scenes (an ordinary RGB TIFF photo) are shown as stored. Scenes are
  encoded as **JPEG** (quality 85, no chroma subsampling): the stretch to 8 bits is lossy
  already, and a JPEG is 5-10 times smaller than a PNG of the same noisy scene, which matters
  for grids of thumbnails and for the byte bound of the cache.

The percentiles are taken over the whole image (a regular grid of at most about a million
samples of it), never over the resized one, so a thumbnail and a large preview of one scene
look the same. A band whose p2 equals its p98 (mostly constant) is stretched by its minimum and
maximum instead; a constant band is black. NaN and infinite samples are black.

A change to what these functions output should raise ``image_preview.RENDER_VERSION``, so
browsers drop the previews they hold.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

JPEG_QUALITY = 85

_STRETCH_PERCENTILES = (2.0, 98.0)
_STRETCH_SAMPLES = 1_000_000
_RESIZE = Image.Resampling.LANCZOS
_REDUCING_GAP = 3.0  # shrink by whole factors first (fast), then LANCZOS the last factor of 3


@dataclass(frozen=True)
class Encoded:
    """An encoded image's bytes (JPEG or PNG) and its size in pixels."""

    data: bytes
    width: int
    height: int


def fit_size(width: int, height: int, size: int) -> tuple[int, int]:
    """(width, height) scaled so the longest side is ``size``; unchanged if it is already."""
    longest = max(width, height)
    if longest <= size:
        return width, height
    scale = size / longest
    if width >= height:
        return size, max(1, round(height * scale))
    return max(1, round(width * scale)), size


def render_scene(samples: np.ndarray, size: int) -> Image.Image:
    """An (H, W, 1) or (H, W, 3) array of any real sample type as an L or RGB image.

    Resized so its longest side is at most ``size``; samples wider than 8 bits are stretched
    per band (``stretch_limits``, ``stretch``), 8-bit samples are kept.
    """
    height, width, bands = samples.shape
    target = fit_size(width, height, size)
    channels = []
    for band in np.moveaxis(samples, -1, 0):
        if band.dtype == np.uint8:
            channels.append(_resized(Image.fromarray(np.ascontiguousarray(band)), target))
            continue
        lo, hi = stretch_limits(band)
        values = band.astype(np.float32)
        if band.dtype.kind == "f":
            values = np.nan_to_num(values, nan=lo, posinf=hi, neginf=lo)
        resized = np.asarray(_resized(Image.fromarray(values), target))
        channels.append(Image.fromarray(stretch(resized, lo, hi)))
    return channels[0] if bands == 1 else Image.merge("RGB", channels)


def stretch_limits(band: np.ndarray) -> tuple[float, float]:
    """(p2, p98) of a band's finite samples, or (min, max) when those are equal.

    A band over about a million samples is sampled on a regular grid. A band with no finite
    sample gives (0, 0).
    """
    step = max(1, math.ceil(math.sqrt(band.size / _STRETCH_SAMPLES)))
    values = band[::step, ::step].astype(np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 0.0
    lo, hi = (float(v) for v in np.percentile(values, _STRETCH_PERCENTILES))
    if hi <= lo:
        lo, hi = float(values.min()), float(values.max())
    return lo, hi


def stretch(band: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``band`` clipped to [lo, hi] and scaled to 0..255 (rounded) as uint8; NaN is 0.

    ``hi <= lo`` (a constant band) gives all zeros: there is no contrast to show.
    """
    if not hi > lo:
        return np.zeros(band.shape, np.uint8)
    scaled = (band.astype(np.float64) - lo) * (255.0 / (hi - lo))
    scaled = np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0)
    return np.rint(np.clip(scaled, 0.0, 255.0)).astype(np.uint8)


def render_picture(image: Image.Image, size: int, jpeg: bool) -> Encoded:
    """An 8-bit picture resized to ``size`` (longest side) and encoded as JPEG or PNG.

    ``jpeg`` (the file is a JPEG) gives an L or RGB JPEG, decoded at a reduced scale where it
    can be; otherwise a PNG in the picture's own mode, or the nearest of L, LA, RGB and RGBA
    (RGBA where it has transparency).
    """
    target = fit_size(*image.size, size)
    if jpeg:
        image.draft("L" if image.mode == "L" else "RGB", target)  # decode at a smaller scale
        mode = "L" if image.mode == "L" else "RGB"
    elif "transparency" in image.info:  # a transparent colour (grey, RGB or palette index)
        mode = "RGBA"
    elif image.mode in ("L", "LA", "RGB", "RGBA"):
        mode = image.mode
    elif image.mode == "1":
        mode = "L"
    elif image.mode == "P":
        mode = "RGB"
    else:  # PA and the rest
        mode = "RGBA"
    picture = image if image.mode == mode else image.convert(mode)
    return encode(_resized(picture, target), jpeg)


def _resized(image: Image.Image, target: tuple[int, int]) -> Image.Image:
    if image.size == target:
        return image
    return image.resize(target, _RESIZE, reducing_gap=_REDUCING_GAP)


def encode(image: Image.Image, jpeg: bool) -> Encoded:
    """``image`` as JPEG (quality ``JPEG_QUALITY``, no chroma subsampling) or as PNG."""
    buffer = io.BytesIO()
    if jpeg:
        # no optimize=True: Pillow then buffers width x height bytes, and a noisy scene at
        # 4:4:4 can need more ("Suspension not allowed here")
        image.save(buffer, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
    else:
        image.save(buffer, format="PNG")
    return Encoded(buffer.getvalue(), *image.size)

"""Archive images as browser-ready JPEG or PNG bytes (thumbnails and large previews), cached.

What is shown:

* **Pictures** (8-bit JPEG and PNG files) are resized and re-encoded in their own format: JPEG
  stays JPEG (quality 85), PNG stays PNG (transparency kept).
* **Scenes** (every TIFF, and PNG with 16-bit or 32-bit samples) are rendered from their
  samples as stored (``anneal.data.image_io.decode_bands``). The bands shown are the ones the
  model sees (``select_bands``): 1 band is grey, grey + alpha is grey, 3 bands are RGB, 4 or
  more bands show the first three as RGB (RGB of RGBN; reorder a multispectral stack whose
  first bands are not RGB). Samples wider than 8 bits (16-bit, 32-bit, float) get a
  per-channel 2-98 percentile stretch: each band is clipped to [p2, p98] and scaled to 0..255,
  so a few hot or dead pixels do not turn the scene black or white (the model's min-max
  rescaling would). 8-bit scenes (an ordinary RGB TIFF photo) are shown as stored. Scenes are
  encoded as **JPEG** (quality 85, no chroma subsampling): the stretch to 8 bits is lossy
  already, and a JPEG is 5-10 times smaller than a PNG of the same noisy scene, which matters
  for grids of thumbnails and for the byte bound of the cache.

The percentiles are taken over the whole image (a regular grid of at most about a million
samples of it), never over the resized one, so a thumbnail and a large preview of one scene
look the same. A band whose p2 equals its p98 (mostly constant) is stretched by its minimum and
maximum instead; a constant band is black. NaN and infinite samples are black.

The EXIF orientation of a JPEG is not applied: the preview shows the pixels the model embeds.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import stat
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from anneal.data.image_header import open_picture, read_header
from anneal.data.image_io import (
    IMAGE_SUFFIXES,
    MAX_IMAGE_PIXELS,
    WIDE_PILLOW_MODES,
    decode_bands,
    select_bands,
)
from anneal.data.image_limits import DEFAULT_LIMITS
from anneal.errors import ImageDecodeError, ImageTooLargeError
from services.common.errors import NotFoundError, ResourceExhaustedError
from services.common.shown import shown

PREVIEW_SIZES = (64, 128, 256, 512, 1024, 2048)
"""The sizes (longest side, pixels) a preview can be asked for; a fixed set keeps the cache
from being filled with one copy of each image per requested pixel count."""

MIB = 1024 * 1024
DEFAULT_MAX_ENTRIES = 512
DEFAULT_MAX_BYTES = 64 * MIB
DEFAULT_MAX_PIXELS = MAX_IMAGE_PIXELS
"""Largest width x height decoded, the system's limit (a multi-band image may hold at most 4x as
many samples, the samples of an RGBA image of this size)."""
DEFAULT_MAX_FILE_BYTES = 16 * MIB
"""Largest archive file read; the same value as the embedding service's ANNEAL_MAX_IMAGE_BYTES
default (``services.embedding.server.DEFAULT_MAX_IMAGE_BYTES``, not imported because that
module loads torch and Ray), so every image the archive can embed can also be shown."""

JPEG_QUALITY = 85
RENDER_VERSION = 1
"""Part of every ETag: raise it when the rendering changes so browsers drop old previews."""

_STRETCH_PERCENTILES = (2.0, 98.0)
_STRETCH_SAMPLES = 1_000_000
_SAMPLES_PER_PIXEL_LIMIT = 4
_RESIZE = Image.Resampling.LANCZOS
_REDUCING_GAP = 3.0  # shrink by whole factors first (fast), then LANCZOS the last factor of 3
_JPEG_FORMATS = frozenset({"JPEG", "MPO"})  # MPO: a JPEG with extra frames (cameras)
_PILLOW_ERRORS = (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError)


@dataclass(frozen=True)
class Preview:
    """One rendered preview: the bytes to send and their HTTP caching headers' values.

    ``etag`` is a strong ETag, quoted as the header carries it; it names the file's identity
    (id, size asked for, modification time, byte size) and the rendering, not a hash of the
    file's bytes. ``last_modified`` is the file's modification time (seconds since the epoch).
    """

    data: bytes
    media_type: str
    etag: str
    last_modified: float
    width: int
    height: int


@dataclass(frozen=True)
class CacheStats:
    """Lookups answered from the cache (hits) or rendered (misses), and what it holds now."""

    hits: int
    misses: int
    entries: int
    bytes: int


_Key = tuple[str, int, int, int]  # image id, preview size, file mtime_ns, file byte size


class PreviewCache:
    """A thread-safe LRU cache of previews bounded by entry count and by total bytes.

    Not ``functools.lru_cache``: that bounds the number of entries only, and previews range
    from a 2 KB thumbnail to a few MB for a 2048-pixel scene, so a count alone does not bound
    memory. Its key would also have to carry the file's identity, which ``render`` only knows
    after a stat. A preview larger than ``max_bytes`` is returned but not kept.
    """

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        if max_entries < 0 or max_bytes < 0:
            raise ValueError("max_entries and max_bytes must be at least 0 (0: no cache)")
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._entries: OrderedDict[_Key, Preview] = OrderedDict()
        self._bytes = 0
        self._hits = 0
        self._misses = 0
        self._lock = threading.Lock()

    def get(self, key: _Key) -> Preview | None:
        with self._lock:
            preview = self._entries.get(key)
            if preview is None:
                self._misses += 1
                return None
            self._entries.move_to_end(key)
            self._hits += 1
            return preview

    def put(self, key: _Key, preview: Preview) -> None:
        size = len(preview.data)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old.data)
            if size > self._max_bytes or self._max_entries == 0:
                return
            self._entries[key] = preview
            self._bytes += size
            while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= len(evicted.data)

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, len(self._entries), self._bytes)


class ImagePreviews:
    """Previews of the images under ``archive_root``, by image id (path relative to the root).

    ``render`` raises:

    * ``ValueError`` for a size not in ``PREVIEW_SIZES``, and (``ImageDecodeError``, a
      ``ValueError``) for a file that cannot be read or decoded, naming the image id;
    * ``NotFoundError`` (a ``LookupError``) for an id that is not a regular image file inside
      the root: absolute, ``..``, ``.``, empty or doubled components, backslashes, NUL bytes,
      a suffix the archive does not accept, a symlink leading outside the root, a folder, a
      missing file. The message is the same for all, so it tells nothing about files outside;
    * ``ResourceExhaustedError`` for a file over ``max_file_bytes`` or an image over
      ``max_pixels`` pixels or over the system's image limits (``anneal.data.image_limits``:
      pixels, bands, bit depth, decoded bytes), checked from its header before its pixels
      are decoded. Pillow's global ``Image.MAX_IMAGE_PIXELS`` plays no part: the header is read
      by Pillow's format classes directly, and the limits above are lower.

    Safe to call from many threads: rendering runs outside the cache's lock, so two requests
    for one uncached preview may both render it (the second result replaces the first).
    """

    def __init__(
        self,
        archive_root: Path,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_bytes: int = DEFAULT_MAX_BYTES,
        *,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    ) -> None:
        root = Path(archive_root).resolve()
        if not root.is_dir():
            raise ValueError(f"archive folder {archive_root} does not exist or is not a folder")
        if max_pixels < 1 or max_file_bytes < 1:
            raise ValueError("max_pixels and max_file_bytes must be at least 1")
        self._root = root
        self._max_pixels = max_pixels
        self._max_file_bytes = max_file_bytes
        self._cache = PreviewCache(max_entries, max_bytes)

    def render(self, image_id: str, size: int) -> Preview:
        """The preview of ``image_id`` whose longest side is ``size`` (or less: no upscaling)."""
        size = _preview_size(size)
        path = self._resolve(image_id)
        file, info = self._open(image_id, path)
        with file:
            key = (image_id, size, info.st_mtime_ns, info.st_size)
            cached = self._cache.get(key)
            if cached is not None:
                return cached
            if info.st_size > self._max_file_bytes:
                raise ResourceExhaustedError(
                    f"archive image {shown(image_id)} is {info.st_size} bytes, over the preview"
                    f" limit of {self._max_file_bytes} bytes"
                )
            try:
                data = file.read()
            except OSError as exc:
                raise ValueError(f"archive image {shown(image_id)} cannot be read ({exc})") from exc
        image, media_type = self._render_image(image_id, data, size)
        preview = Preview(
            data=image.data,
            media_type=media_type,
            etag=_etag(key),
            last_modified=info.st_mtime,
            width=image.width,
            height=image.height,
        )
        self._cache.put(key, preview)
        return preview

    def stats(self) -> CacheStats:
        return self._cache.stats()

    # -- where the file is --------------------------------------------------------------------

    def _resolve(self, image_id: str) -> Path:
        if not _is_archive_id(image_id):
            raise NotFoundError(_not_found(image_id))
        try:
            resolved = (self._root / image_id).resolve(strict=True)
        except (OSError, RuntimeError):  # missing, not a folder, symlink loop, name too long
            raise NotFoundError(_not_found(image_id)) from None
        if not resolved.is_relative_to(self._root) or resolved.suffix.lower() not in (
            IMAGE_SUFFIXES
        ):
            raise NotFoundError(_not_found(image_id))
        return resolved

    @staticmethod
    def _open(image_id: str, resolved: Path) -> tuple[BinaryIO, os.stat_result]:
        """The open file and its stat, taken from the file opened (not from the path again)."""
        # The resolved path has no symlink in it; O_NOFOLLOW refuses one swapped in since, and
        # O_NONBLOCK keeps a FIFO swapped in from blocking the open (fstat then refuses it).
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(resolved, flags)
        except PermissionError as exc:
            raise ValueError(
                f"archive image {shown(image_id)} cannot be read ({exc.strerror})"
            ) from exc
        except OSError:
            raise NotFoundError(_not_found(image_id)) from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):  # a folder named like an image, a device...
                raise NotFoundError(_not_found(image_id))
            return os.fdopen(fd, "rb"), info
        except BaseException:
            os.close(fd)
            raise

    # -- what it shows ------------------------------------------------------------------------

    def _render_image(self, image_id: str, data: bytes, size: int) -> tuple[_Encoded, str]:
        try:
            header = read_header(data)
            DEFAULT_LIMITS.check(header)  # the system's limits, whatever this cache allows
        except ImageTooLargeError as exc:
            raise ResourceExhaustedError(f"archive image {shown(image_id)}: {exc}") from None
        except ImageDecodeError as exc:
            raise ImageDecodeError(f"archive image {shown(image_id)}: {exc}") from None
        self._check_pixels(image_id, header.height, header.width, header.bands)
        if header.format == "TIFF":
            return self._render_scene(image_id, data, size), "image/jpeg"
        try:
            with open_picture(data) as image:
                if image.mode not in WIDE_PILLOW_MODES:
                    jpeg = image.format in _JPEG_FORMATS
                    encoded = _render_picture(image, size, jpeg)
                    return encoded, "image/jpeg" if jpeg else "image/png"
        except _PILLOW_ERRORS:
            raise ImageDecodeError(
                f"archive image {shown(image_id)}: cannot decode {header.format}: its data is"
                " damaged or truncated"
            ) from None
        return self._render_scene(image_id, data, size), "image/jpeg"  # a 16/32-bit PNG

    def _render_scene(self, image_id: str, data: bytes, size: int) -> _Encoded:
        try:
            samples = select_bands(decode_bands(data))
        except ImageTooLargeError as exc:
            raise ResourceExhaustedError(f"archive image {shown(image_id)}: {exc}") from None
        except ImageDecodeError as exc:
            raise ImageDecodeError(
                f"archive image {shown(image_id)} cannot be decoded: {exc}"
            ) from exc
        if samples.dtype.kind not in "biuf":
            raise ImageDecodeError(
                f"archive image {shown(image_id)} has {samples.dtype} samples; a preview needs"
                " integer or real samples"
            )
        return _encode(render_scene(samples, size), jpeg=True)

    def _check_pixels(self, image_id: str, height: int, width: int, bands: int) -> None:
        pixels = height * width
        if pixels > self._max_pixels or pixels * bands > _SAMPLES_PER_PIXEL_LIMIT * (
            self._max_pixels
        ):
            raise ResourceExhaustedError(
                f"archive image {shown(image_id)} is {width} x {height} pixels x {bands} bands,"
                " over"
                f" the preview limit of {self._max_pixels} pixels"
                f" ({_SAMPLES_PER_PIXEL_LIMIT * self._max_pixels} samples)"
            )


@dataclass(frozen=True)
class _Encoded:
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


def _render_picture(image: Image.Image, size: int, jpeg: bool) -> _Encoded:
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
    return _encode(_resized(picture, target), jpeg)


def _resized(image: Image.Image, target: tuple[int, int]) -> Image.Image:
    if image.size == target:
        return image
    return image.resize(target, _RESIZE, reducing_gap=_REDUCING_GAP)


def _encode(image: Image.Image, jpeg: bool) -> _Encoded:
    buffer = io.BytesIO()
    if jpeg:
        # no optimize=True: Pillow then buffers width x height bytes, and a noisy scene at
        # 4:4:4 can need more ("Suspension not allowed here")
        image.save(buffer, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
    else:
        image.save(buffer, format="PNG")
    return _Encoded(buffer.getvalue(), *image.size)


def _preview_size(size: object) -> int:
    """``size`` as an int if it is one of ``PREVIEW_SIZES`` (not 64.0, "64" or True)."""
    if not isinstance(size, bool) and isinstance(size, int | np.integer) and size in PREVIEW_SIZES:
        return int(size)
    raise ValueError(f"preview size {shown(size)} is not one of {list(PREVIEW_SIZES)}")


def _is_archive_id(image_id: object) -> bool:
    """Whether ``image_id`` has the form of an archive id: a canonical relative POSIX path."""
    if not isinstance(image_id, str) or not image_id or "\x00" in image_id or "\\" in image_id:
        return False
    path = PurePosixPath(image_id)
    return (
        not path.is_absolute()
        and path.as_posix() == image_id  # no "." or empty component, no trailing slash
        and ".." not in path.parts
        and path.suffix.lower() in IMAGE_SUFFIXES
    )


def _not_found(image_id: str) -> str:
    return f"archive image {shown(image_id)} not found"


def _etag(key: _Key) -> str:
    identity = json.dumps([RENDER_VERSION, *key]).encode()
    return f'"{hashlib.sha256(identity).hexdigest()}"'

"""Archive images as browser-ready JPEG or PNG bytes (thumbnails and large previews), cached.

``ImagePreviews`` turns an image id into a ``Preview``: it resolves the id to a regular image
file inside the archive (any other id gets one and the same "not found"), reads it within the
preview limits and the system's image limits, and decides how it is shown:

* **Pictures** (8-bit JPEG and PNG files) are resized and re-encoded in their own format.
* **Scenes** (every TIFF, and PNG with 16-bit or 32-bit samples) are rendered from their
  samples as stored (``anneal.data.image_io.decode_bands``). The bands shown are the ones the
  model sees (``select_bands``): 1 band is grey, grey + alpha is grey, 3 bands are RGB, 4 or
  more bands show the first three as RGB (RGB of RGBN; reorder a multispectral stack whose
  first bands are not RGB). They are encoded as JPEG.

How the pixels are made (resizing, the percentile stretch of samples wider than 8 bits, the
encoding) is ``services.web.preview_render``; the cache, bounded by entries and by bytes, is
``services.web.preview_cache``.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import numpy as np
from PIL import UnidentifiedImageError

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
from services.web.preview_cache import CacheStats, PreviewCache, PreviewKey
from services.web.preview_render import Encoded, encode, render_picture, render_scene

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

RENDER_VERSION = 1
"""Part of every ETag: raise it when the rendering changes so browsers drop old previews."""

_SAMPLES_PER_PIXEL_LIMIT = 4
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
        self._cache: PreviewCache[Preview] = PreviewCache(max_entries, max_bytes)

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

    def _render_image(self, image_id: str, data: bytes, size: int) -> tuple[Encoded, str]:
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
                    encoded = render_picture(image, size, jpeg)
                    return encoded, "image/jpeg" if jpeg else "image/png"
        except _PILLOW_ERRORS:
            raise ImageDecodeError(
                f"archive image {shown(image_id)}: cannot decode {header.format}: its data is"
                " damaged or truncated"
            ) from None
        return self._render_scene(image_id, data, size), "image/jpeg"  # a 16/32-bit PNG

    def _render_scene(self, image_id: str, data: bytes, size: int) -> Encoded:
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
        return encode(render_scene(samples, size), jpeg=True)

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


def _etag(key: PreviewKey) -> str:
    identity = json.dumps([RENDER_VERSION, *key]).encode()
    return f'"{hashlib.sha256(identity).hexdigest()}"'

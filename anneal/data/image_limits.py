"""How large an image any part of the system decodes, checked from its header before decoding.

Every decode (``anneal.data.image_io``: the embedding workers, feature extraction, training in
full mode, the web app's previews and uploads, and the embedding service's check of each image
before it reaches a worker) checks the header against these limits first, so a few bytes that
declare a huge scene (a decompression bomb) are refused in microseconds, before any memory is
taken:

* **pixels**: height x width at most 8192 x 8192 = 67,108,864;
* **bands**: at most 32 samples per pixel (Sentinel-2 has 13; reduce hyperspectral cubes first);
* **bit depth**: at most 64 bits per sample (8, 16, 32-bit integers and 32/64-bit reals);
* **decoded bytes**: height x width x bands x bytes per sample at most 256 MiB, the samples of
  an 8-bit RGBA image at the pixel limit, or of a 16-bit 4-band scene of 8192 x 4096, or of a
  13-band 16-bit scene of about 3200 x 3200.

A worker decoding one image at the limits holds the decoded samples (256 MiB at most), their RGB
8-bit copy (192 MiB at most) and the model's float input of one image while it is resized. The
embedding service also bounds the decoded bytes of one batch (``services/embedding``).
"""

from __future__ import annotations

from dataclasses import dataclass

from anneal.data.image_header import ImageHeader
from anneal.errors import ImageTooLargeError

MIB = 1024 * 1024
MAX_IMAGE_PIXELS = 8192 * 8192
MAX_IMAGE_BANDS = 32
MAX_BITS_PER_SAMPLE = 64
MAX_DECODED_BYTES = 4 * MAX_IMAGE_PIXELS


@dataclass(frozen=True)
class ImageLimits:
    """The largest image decoded; :meth:`check` refuses a header over any of them."""

    max_pixels: int = MAX_IMAGE_PIXELS
    max_bands: int = MAX_IMAGE_BANDS
    max_bits_per_sample: int = MAX_BITS_PER_SAMPLE
    max_decoded_bytes: int = MAX_DECODED_BYTES

    def __post_init__(self) -> None:
        if min(self.max_pixels, self.max_bands, self.max_bits_per_sample) < 1:
            raise ValueError("image limits must be at least 1")
        if self.max_decoded_bytes < 1:
            raise ValueError("image limits must be at least 1")

    def check(self, header: ImageHeader) -> None:
        """ImageTooLargeError naming the first limit ``header`` is over; else nothing."""
        size = f"{header.width} x {header.height}"
        if header.pixels > self.max_pixels:
            raise ImageTooLargeError(
                f"image is {size} = {header.pixels:,} pixels, over the limit of"
                f" {self.max_pixels:,} pixels; downscale or tile it"
            )
        if header.bands > self.max_bands:
            raise ImageTooLargeError(
                f"image has {header.bands:,} bands, over the limit of {self.max_bands} bands;"
                " keep the bands you need"
            )
        if header.bits_per_sample > self.max_bits_per_sample:
            raise ImageTooLargeError(
                f"image has {header.bits_per_sample}-bit samples, over the limit of"
                f" {self.max_bits_per_sample} bits; convert them to 32-bit"
            )
        if header.decoded_bytes > self.max_decoded_bytes:
            raise ImageTooLargeError(
                f"image is {size} pixels x {header.bands} bands x {header.bits_per_sample} bits"
                f" = {header.decoded_bytes:,} bytes decoded, over the limit of"
                f" {self.max_decoded_bytes:,} bytes; downscale, tile or drop bands"
            )


DEFAULT_LIMITS = ImageLimits()

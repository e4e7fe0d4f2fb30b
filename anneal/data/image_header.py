"""What an encoded image declares about itself, read from its header: no pixel is decoded.

The header is what the limits (``anneal.data.image_limits``) are checked against before any
decode, so it describes the array that decoding would produce: for a TIFF, its first page (IFD 0;
further pages, overviews and thumbnails are never read) with every sample as a band; for JPEG and
PNG, the image as Pillow decodes it (a 16-bit RGB PNG is decoded to 8 bits per band). Pillow's
format classes are used directly rather than ``Image.open``: that keeps Pillow's global
decompression-bomb guard (``Image.MAX_IMAGE_PIXELS``) out of the way, so a huge image is refused
by our limit with our message, and nothing global is changed.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import ImageFile, ImageMode, JpegImagePlugin, PngImagePlugin

from anneal.errors import ImageDecodeError

NOT_AN_IMAGE = "cannot decode image: not a JPEG, PNG or TIFF"
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TIFF_COMPRESSIONS = {1: "none", 5: "LZW", 8: "Deflate", 32946: "Deflate", 32773: "PackBits"}
TIFF_COMPRESSIONS.update({34925: "LZMA", 50000: "ZSTD"})
"""TIFF compressions decoded: those whose decoder writes into a buffer of the size the header
declares (imagecodecs with ``out=``), so data that decompresses to more is refused, not
allocated. JPEG-in-TIFF and the other image codecs inside TIFF decode to the size their own
stream declares, which nothing bounds, so they are refused."""
_PILLOW_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, KeyError)


@dataclass(frozen=True)
class ImageHeader:
    """The extent and sample type of an image as decoding would produce it.

    ``bands`` is the number of samples per pixel (1 for grey, 3 for RGB, 13 for a Sentinel-2
    stack); ``bits_per_sample`` is the width of one decoded sample (8, 16, 32 or 64).
    """

    format: str
    height: int
    width: int
    bands: int
    bits_per_sample: int

    @property
    def pixels(self) -> int:
        return self.height * self.width

    @property
    def decoded_bytes(self) -> int:
        """Bytes of the decoded samples: height x width x bands x bytes per sample."""
        return self.pixels * self.bands * max(1, self.bits_per_sample // 8)


def is_tiff(data: bytes) -> bool:
    """Whether encoded image bytes are a TIFF (classic or BigTIFF), by their first bytes."""
    return data[:4] in _TIFF_MAGIC


def read_header(data: bytes) -> ImageHeader:
    """The header of JPEG, PNG or TIFF bytes; ImageDecodeError (with our message) otherwise."""
    if not data:
        raise ImageDecodeError("empty image: send the bytes of a JPEG, PNG or TIFF file")
    if is_tiff(data):
        return _tiff_header(data)
    with open_picture(data) as image:
        mode = ImageMode.getmode(image.mode)
        bits = 1 if image.mode == "1" else 8 * int(mode.typestr[-1])
        return ImageHeader(str(image.format), image.height, image.width, len(mode.bands), bits)


def open_picture(data: bytes) -> ImageFile.ImageFile:
    """A JPEG or PNG opened lazily (header read, no pixel decoded, no bomb check: see above)."""
    picture: type[ImageFile.ImageFile]
    if data.startswith(_JPEG_MAGIC):
        picture, name = JpegImagePlugin.JpegImageFile, "JPEG"
    elif data.startswith(_PNG_MAGIC):
        picture, name = PngImagePlugin.PngImageFile, "PNG"
    else:
        raise ImageDecodeError(NOT_AN_IMAGE)
    try:
        return picture(io.BytesIO(data))
    except _PILLOW_ERRORS:
        raise ImageDecodeError(f"cannot decode {name}: its header is damaged") from None


def _tiff_header(data: bytes) -> ImageHeader:
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages.first
            separate, depth, height, width, contig = (int(n) for n in page.shaped)
            compression, dtype = int(page.compression), page.dtype
            sample_format = int(page.sampleformat)
    except Exception:  # tifffile raises many types for damaged files
        raise ImageDecodeError("cannot decode TIFF: its header is damaged") from None
    if compression not in TIFF_COMPRESSIONS:
        raise ImageDecodeError(
            f"cannot decode TIFF: compression {compression} is not supported; save it"
            " uncompressed or with LZW, Deflate, PackBits, LZMA or ZSTD"
        )
    if depth != 1:
        raise ImageDecodeError(
            f"cannot decode TIFF: it is a volume of {depth} slices, not one image"
        )
    if dtype is None or dtype.kind not in "biuf" or sample_format > 3:
        raise ImageDecodeError("cannot decode TIFF: its samples are not integers or real numbers")
    return ImageHeader("TIFF", height, width, separate * contig, 8 * dtype.itemsize)

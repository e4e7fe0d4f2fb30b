"""Encoded images made by hand for tests: headers that claim any size (decompression bombs
that cost nothing to send), in every format, and a TIFF whose data lies about its size."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import numpy as np
import tifffile
from PIL import Image


def png_header(width: int, height: int, bit_depth: int = 8, colour_type: int = 2) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (its pixel data is never read), of
    ``bit_depth`` bits per sample and ``colour_type`` (2: RGB, 0: grey)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    head = b"IHDR" + ihdr
    idat = b"IDAT" + zlib.compress(b"\0")
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + head
        + struct.pack(">I", zlib.crc32(head))
        + struct.pack(">I", len(idat) - 4)
        + idat
        + struct.pack(">I", zlib.crc32(idat))
    )


def jpeg_claiming(width: int, height: int) -> bytes:
    """A real 8 x 8 JPEG whose frame header (SOF0) is rewritten to claim ``width`` x ``height``."""
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buffer, format="JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def tiff_claiming(
    width: int, height: int, array: np.ndarray | None = None, **options: Any
) -> bytes:
    """A real TIFF of ``array`` (default 16 x 16 grey; ``options`` go to tifffile.imwrite) whose
    first page's ImageWidth and ImageLength tags are rewritten to claim ``width`` x ``height``."""
    buffer = io.BytesIO()
    options.setdefault("photometric", "minisblack")
    tifffile.imwrite(buffer, np.zeros((16, 16), np.uint8) if array is None else array, **options)
    buffer.seek(0)
    with tifffile.TiffFile(buffer, mode="r+b") as tif:
        tif.pages.first.tags["ImageWidth"].overwrite(width)
        tif.pages.first.tags["ImageLength"].overwrite(height)
    return buffer.getvalue()


def tiff_with_lying_strip(inflated_bytes: int) -> bytes:
    """A Deflate TIFF whose header says 16 x 16 grey (256 bytes) but whose one strip
    decompresses to ``inflated_bytes`` (a zip bomb inside an honest-looking header)."""
    buffer = io.BytesIO()
    tifffile.imwrite(
        buffer, np.zeros((16, 16), np.uint8), photometric="minisblack", compression="zlib"
    )
    bomb = zlib.compress(bytes(inflated_bytes), 9)
    offset = len(buffer.getvalue())
    buffer.seek(0, io.SEEK_END)
    buffer.write(bomb)
    buffer.seek(0)
    with tifffile.TiffFile(buffer, mode="r+b") as tif:
        tif.pages.first.tags["StripOffsets"].overwrite(offset)
        tif.pages.first.tags["StripByteCounts"].overwrite(len(bomb))
    return buffer.getvalue()

"""Encoded images made by hand for tests: a PNG header that claims any size (a decompression
bomb that costs nothing to send)."""

from __future__ import annotations

import struct
import zlib


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (its pixel data is never read)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
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

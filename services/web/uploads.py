"""Query images uploaded by people: size, type (sniffed from the bytes, not the name) and the
system's image limits (``anneal.data.image_limits``: pixels, bands, bit depth, decoded bytes,
read from the header), checked before anything is sent to the services."""

from __future__ import annotations

from anneal.data.image_header import read_header
from anneal.data.image_io import MAX_IMAGE_PIXELS
from anneal.data.image_limits import DEFAULT_LIMITS
from anneal.errors import ImageDecodeError, ImageTooLargeError
from services.web.http_errors import WebError

MAX_UPLOAD_BYTES = 16 * 1024 * 1024
"""The embedding service's default limit (ANNEAL_MAX_IMAGE_BYTES; a test keeps them equal): a
larger upload could never be embedded. Not imported from there: that module brings in Ray."""
MAX_UPLOAD_PIXELS = MAX_IMAGE_PIXELS
"""The embedding service's pixel limit; more is refused before decoding (decompression bombs)."""

_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"II+\x00", "image/tiff"),  # BigTIFF
    (b"MM\x00+", "image/tiff"),
)


def sniff(data: bytes) -> str | None:
    """The media type the bytes start with (JPEG, PNG, TIFF), or None."""
    for signature, media_type in _SIGNATURES:
        if data.startswith(signature):
            return media_type
    return None


def check_upload(data: bytes) -> str:
    """The media type of an acceptable query image; WebError (413/415/400) otherwise."""
    if not data:
        raise WebError(400, "INVALID_ARGUMENT", "the uploaded file is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise WebError(
            413,
            "RESOURCE_EXHAUSTED",
            f"the image is {len(data):,} bytes; at most {MAX_UPLOAD_BYTES:,} are accepted",
        )
    media_type = sniff(data)
    if media_type is None:
        raise WebError(415, "UNSUPPORTED_MEDIA_TYPE", "the file is not a JPEG, PNG or TIFF image")
    try:
        DEFAULT_LIMITS.check(read_header(data))  # the header only: no pixel is decoded
    except ImageTooLargeError as exc:
        raise WebError(413, "RESOURCE_EXHAUSTED", f"the {exc}") from None
    except ImageDecodeError as exc:
        raise WebError(400, "INVALID_ARGUMENT", f"the image cannot be read: {exc}") from None
    return media_type

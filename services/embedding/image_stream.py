"""Turns an EmbedImages request stream into its options and a stream of whole encoded images.

Images arrive as chunks (concatenated until ``last``) or as archive ids. Each image is checked
against the byte limit while it is assembled, so an oversized image is refused before it is
buffered whole, and its header against the image limits (pixels, bands, bit depth, decoded
bytes: ``anneal.data.image_limits``) here, in the servicer's process, before its bytes reach a
Ray worker: a bomb never costs a worker anything. Bytes that are not a JPEG, PNG or TIFF are
refused here too (INVALID_ARGUMENT).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from anneal.data.image_header import read_header
from anneal.data.image_limits import DEFAULT_LIMITS, ImageLimits
from anneal.errors import ImageDecodeError, ImageTooLargeError
from annealpb.embedding.v1 import embedding_pb2
from services.common.shown import shown
from services.embedding.archive_images import ArchiveImages


@dataclass(frozen=True)
class EncodedImage:
    """One image of the stream: the caller's id, its encoded bytes and, from its header, the
    bytes its samples take once decoded (what it costs a worker)."""

    image_id: str
    data: bytes
    decoded_bytes: int = 0


def read_options(
    requests: Iterator[embedding_pb2.EmbedImagesRequest],
) -> embedding_pb2.EmbedOptions:
    """The options of the first request; ValueError if the stream does not start with them."""
    first = next(requests, None)
    if first is None or first.WhichOneof("item") != "options":
        raise ValueError(
            "the first EmbedImages request must carry options (model_version, max_batch)"
        )
    return first.options


class ImageAssembler:
    """Assembles images from requests that follow the options."""

    def __init__(
        self, max_image_bytes: int, archive: ArchiveImages, limits: ImageLimits = DEFAULT_LIMITS
    ) -> None:
        self._max_bytes = max_image_bytes
        self._archive = archive
        self._limits = limits

    def images(
        self, requests: Iterator[embedding_pb2.EmbedImagesRequest]
    ) -> Iterator[EncodedImage]:
        pending_id: str | None = None
        parts: list[bytes] = []
        size = 0
        for position, request in enumerate(requests, start=1):
            which = request.WhichOneof("item")
            if which == "options":
                raise ValueError(f"request {position} carries options; only the first may")
            if which is None:
                raise ValueError(
                    f"request {position} is empty; send a chunk or an archive_image_id"
                )
            if which == "archive_image_id":
                if pending_id is not None:
                    raise ValueError(self._unfinished(pending_id))
                data = self._archive.read(request.archive_image_id)
                self._check_size(request.archive_image_id, len(data))
                yield self._checked(request.archive_image_id, data)
                continue
            chunk = request.chunk
            if not chunk.image_id:
                raise ValueError(f"request {position}: image chunk without image_id")
            if pending_id is not None and chunk.image_id != pending_id:
                raise ValueError(self._unfinished(pending_id))
            pending_id = chunk.image_id
            size += len(chunk.data)
            self._check_size(pending_id, size)
            parts.append(chunk.data)
            if chunk.last:
                yield self._checked(pending_id, b"".join(parts))
                pending_id, parts, size = None, [], 0
        if pending_id is not None:
            raise ValueError(self._unfinished(pending_id))

    def _check_size(self, image_id: str, size: int) -> None:
        if size > self._max_bytes:
            raise ImageTooLargeError(
                f"image {shown(image_id)} is larger than the limit of {self._max_bytes} bytes;"
                " downscale or recompress it"
            )

    def _checked(self, image_id: str, data: bytes) -> EncodedImage:
        """The image, if its header is one of ours and within the limits (else the error)."""
        try:
            header = read_header(data)
            self._limits.check(header)
        except ImageDecodeError as exc:  # ImageTooLargeError included, keeping its class
            raise type(exc)(f"image {shown(image_id)}: {exc}") from None
        return EncodedImage(image_id, data, header.decoded_bytes)

    @staticmethod
    def _unfinished(image_id: str) -> str:
        return f"image {shown(image_id)} ended without a chunk with last=true"

"""Query uploads are checked against the system's image limits from their header (issue 9)."""

from __future__ import annotations

import pytest
from image_bytes import jpeg_claiming, tiff_claiming

from services.web.http_errors import WebError
from services.web.uploads import check_upload


@pytest.mark.parametrize("bomb", [tiff_claiming(30000, 30000), jpeg_claiming(30000, 30000)])
def test_a_bomb_upload_is_refused_naming_the_limit(bomb: bytes) -> None:
    with pytest.raises(WebError) as refused:
        check_upload(bomb)
    assert refused.value.status == 413
    assert refused.value.message == (
        "the image is 30000 x 30000 = 900,000,000 pixels, over the limit of 67,108,864 pixels;"
        " downscale or tile it"
    )


def test_a_damaged_tiff_upload_gets_our_message() -> None:
    with pytest.raises(WebError) as refused:
        check_upload(b"II*\x00" + b"\xff" * 20)
    assert (refused.value.status, refused.value.message) == (
        400,
        "the image cannot be read: cannot decode TIFF: its header is damaged",
    )
    assert check_upload(tiff_claiming(16, 16)) == "image/tiff"

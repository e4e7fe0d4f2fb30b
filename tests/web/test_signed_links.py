"""The web app's signed image links (GET /links/v1/images/...) over a tiny archive, without a
session: a valid link serves the preview, cacheable until it expires; a changed, another
image's, expired or incomplete link is 403 JSON, a missing image 404 JSON, and an app without
a key says links are off. No cookie, and a CORS grant without credentials: an <img> of
another site loads it, also one that asks for CORS."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from link_app import app_over, write_png
from PIL import Image

from services.common.image_links import ImageLinks, create_key
from services.web.__main__ import image_links_from
from services.web.settings import WebSettings
from services.web.signed_links import LINK_PREVIEW_SIZE

KEY = bytes(range(32))
BASE = "http://testserver"
IMAGE_IDS = ["red/wide.png", "red/small.png"]


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    root = tmp_path / "archive"
    write_png(root / "red" / "wide.png", (600, 300))
    write_png(root / "red" / "small.png", (40, 20))
    return root


@pytest.fixture
def web(archive: Path) -> Iterator[httpx.Client]:
    with app_over(archive, ImageLinks(KEY), IMAGE_IDS) as client:
        yield client


def link(image_id: str, ttl_s: int = 600, key: bytes = KEY) -> str:
    """The path and query of a link to ``image_id`` valid for ``ttl_s`` more seconds."""
    url = urlsplit(ImageLinks(key).url(BASE, image_id, int(time.time()) + ttl_s))
    return f"{url.path}?{url.query}"


def error_of(reply: httpx.Response) -> tuple[int, str, str]:
    body = reply.json()
    assert set(body) == {"error"} and reply.headers["content-type"] == "application/json"
    return reply.status_code, body["error"]["code"], body["error"]["message"]


def test_a_valid_link_serves_the_preview_cacheable_until_it_expires(web: httpx.Client) -> None:
    reply = web.get(link("red/wide.png", ttl_s=600))
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(reply.content)).size == (LINK_PREVIEW_SIZE, 256)
    private, max_age = reply.headers["cache-control"].split(", ")
    assert private == "private" and 590 <= int(max_age.removeprefix("max-age=")) <= 600
    # What a cross-origin <img crossorigin="anonymous"> (Label Studio's) needs: a CORS grant
    # to any origin without credentials, no cookie, nothing that stops it (CORP / COEP); CSP
    # and frame headers do not apply to an image embedded by another page.
    assert "set-cookie" not in reply.headers
    assert reply.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in reply.headers
    assert "cross-origin-resource-policy" not in reply.headers
    again = web.get(link("red/wide.png"), headers={"If-None-Match": reply.headers["etag"]})
    assert again.status_code == 304
    assert again.headers["access-control-allow-origin"] == "*"


def test_a_small_image_is_served_at_its_own_size(web: httpx.Client) -> None:
    reply = web.get(link("red/small.png"))
    assert Image.open(io.BytesIO(reply.content)).size == (40, 20)


def test_a_changed_or_borrowed_signature_is_403(web: httpx.Client) -> None:
    path, _, query = link("red/wide.png").partition("?")
    params = {k: v[0] for k, v in parse_qs(query).items()}
    signature = params["signature"]
    tampered = {**params, "signature": ("A" if signature[0] != "A" else "B") + signature[1:]}
    theirs = parse_qs(link("red/small.png").partition("?")[2])["signature"][0]
    later = {**params, "expires": str(int(params["expires"]) + 3600)}
    for query_params in (tampered, {**params, "signature": theirs}, later):
        status, code, message = error_of(web.get(path, params=query_params))
        assert (status, code) == (403, "PERMISSION_DENIED"), query_params
        assert "signature does not match this image and expiry" in message
    status, _code, message = error_of(web.get(link("red/wide.png", key=bytes(32))))
    assert status == 403 and "does not match" in message


def test_an_expired_link_is_403_saying_it_expired(web: httpx.Client) -> None:
    status, code, message = error_of(web.get(link("red/wide.png", ttl_s=-5)))
    assert (status, code) == (403, "PERMISSION_DENIED")
    assert "the link expired" in message and "ask for a new link" in message


def test_a_link_without_its_signature_or_expiry_is_403(web: httpx.Client) -> None:
    path, _, query = link("red/wide.png").partition("?")
    params = {k: v[0] for k, v in parse_qs(query).items()}
    for partial in ({}, {"expires": params["expires"]}, {"signature": params["signature"]}):
        status, code, message = error_of(web.get(path, params=partial))
        assert (status, code) == (403, "PERMISSION_DENIED") and "not a signed link" in message
    status, _code, message = error_of(web.get(path, params={**params, "expires": "soon"}))
    assert status == 403 and "malformed" in message


def test_a_signed_link_to_an_image_not_in_the_archive_is_404(web: httpx.Client) -> None:
    status, code, message = error_of(web.get(link("red/gone.png")))
    assert (status, code, message) == (404, "NOT_FOUND", "no archive image 'red/gone.png'")
    # A link signed for a path out of the archive ("%2e%2e" so no client normalises it away).
    outside = link("../archive/red/wide.png").replace("/images/../", "/images/%2e%2e/")
    assert "%2e%2e" in outside
    status, code, message = error_of(web.get(outside))
    assert (status, code, message) == (
        404,
        "NOT_FOUND",
        "no archive image '../archive/red/wide.png'",
    )
    # Unsigned, the same request learns nothing about the archive: 403 before any look-up.
    status, _code, _message = error_of(
        web.get("/links/v1/images/red/gone.png", params={"expires": "1", "signature": "x"})
    )
    assert status == 403


def test_without_a_key_links_are_off(archive: Path) -> None:
    with app_over(archive, None, IMAGE_IDS) as client:
        status, code, message = error_of(client.get(link("red/wide.png")))
    assert (status, code) == (404, "NOT_FOUND")
    assert "signed links are not enabled" in message


def test_the_key_file_is_read_once_at_start_and_optional(tmp_path: Path) -> None:
    default = WebSettings.read([], {}).image_link_key_file
    assert default == "state/security/image-links.key"
    assert image_links_from("") is None
    assert image_links_from(str(tmp_path / "missing.key")) is None
    key = tmp_path / "image-links.key"
    create_key(key)
    links = image_links_from(str(key))
    assert links is not None
    signature = ImageLinks(key.read_bytes()).signature("a.png", 2_000_000_000)
    links.check("a.png", "2000000000", signature, now_unix=1_900_000_000)
    short = tmp_path / "short.key"
    short.write_bytes(b"x")
    with pytest.raises(SystemExit, match=r"short\.key has 1 bytes"):
        image_links_from(str(short))

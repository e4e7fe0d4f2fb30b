"""Signed image links (services/common/image_links.py): a link checks for its own image and
expiry until it expires, and any change to it, another image's signature, another key or a
malformed field is refused; the key file is 32 random bytes, mode 0600, never overwritten."""

from __future__ import annotations

import stat
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from services.common.image_links import (
    BadImageLinkError,
    ExpiredImageLinkError,
    ImageLinks,
    create_key,
    load_key,
)

KEY = bytes(range(32))
NOW = 1_800_000_000


def parts(url: str) -> tuple[str, str, str]:
    """(path, expires, signature) of a link."""
    split = urlsplit(url)
    query = parse_qs(split.query)
    return split.path, query["expires"][0], query["signature"][0]


def test_a_link_names_the_image_and_checks_until_it_expires() -> None:
    links = ImageLinks(KEY)
    url = links.url("https://anneal.example.org/", "red/scene 1.tif", NOW + 600)
    assert url.startswith("https://anneal.example.org/links/v1/images/red/scene%201.tif?")
    path, expires, signature = parts(url)
    assert path == "/links/v1/images/red/scene%201.tif" and expires == str(NOW + 600)
    assert len(signature) == 43 and set(signature) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
    links.check("red/scene 1.tif", expires, signature, now_unix=NOW)
    links.check("red/scene 1.tif", expires, signature, now_unix=NOW + 599.9)
    assert (
        ImageLinks(KEY)
        .url("http://h:8080/base", "a.png", 5)
        .startswith("http://h:8080/base/links/v1/images/a.png?expires=5&signature=")
    )


def test_an_expired_link_is_refused_saying_so() -> None:
    links = ImageLinks(KEY)
    _path, expires, signature = parts(links.url("http://h", "a.png", NOW))
    for now in (NOW, NOW + 30):
        with pytest.raises(ExpiredImageLinkError, match="the link expired"):
            links.check("a.png", expires, signature, now_unix=now)


def test_a_changed_link_is_refused() -> None:
    links = ImageLinks(KEY)
    _path, expires, signature = parts(links.url("http://h", "a.png", NOW + 600))
    _other_path, _other_expires, theirs = parts(links.url("http://h", "b.png", NOW + 600))
    tampered = ("A" if signature[0] != "A" else "B") + signature[1:]
    cases = [
        ("a.png", expires, tampered),  # a signature changed
        ("a.png", expires, theirs),  # another image's signature
        ("b.png", expires, signature),  # this signature on another image
        ("a.png", str(NOW + 6000), signature),  # a later expiry
        ("a.png", expires, ImageLinks(bytes(32)).signature("a.png", NOW + 600)),  # another key
    ]
    for image_id, when, sig in cases:
        with pytest.raises(BadImageLinkError, match="does not match this image and expiry"):
            links.check(image_id, when, sig, now_unix=NOW)


@pytest.mark.parametrize("expires", ["", "soon", "-5", "1e9", "\uff11\uff12\uff13", "9" * 13])
def test_a_malformed_expiry_is_refused(expires: str) -> None:
    signature = ImageLinks(KEY).signature("a.png", NOW + 600)
    with pytest.raises(BadImageLinkError, match="malformed: expires must be Unix seconds"):
        ImageLinks(KEY).check("a.png", expires, signature, now_unix=NOW)


@pytest.mark.parametrize("signature", ["", "abc", "é" * 43, "A" * 44])
def test_a_malformed_signature_is_refused(signature: str) -> None:
    with pytest.raises(BadImageLinkError, match="malformed: its signature is not one of ours"):
        ImageLinks(KEY).check("a.png", str(NOW + 600), signature, now_unix=NOW)


def test_links_need_a_long_key_an_image_and_whole_seconds() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes, got 31"):
        ImageLinks(bytes(31))
    links = ImageLinks(KEY)
    with pytest.raises(ValueError, match="needs an image id"):
        links.url("http://h", "", NOW)
    for bad in (-1, True, 1.5):
        with pytest.raises(ValueError, match="expires_unix must be Unix seconds"):
            links.url("http://h", "a.png", bad)  # type: ignore[arg-type]


def test_the_key_file_is_32_private_random_bytes_and_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "security" / "image-links.key"
    create_key(path)
    key = load_key(path)
    assert len(key) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        create_key(path)
    assert load_key(path) == key
    other = tmp_path / "other.key"
    create_key(other)
    assert load_key(other) != key


def test_a_missing_or_short_key_file_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"cannot read the image link key .*missing\.key"):
        load_key(tmp_path / "missing.key")
    short = tmp_path / "short.key"
    short.write_bytes(b"x" * 16)
    with pytest.raises(ValueError, match=r"short\.key has 16 bytes; it needs at least 32"):
        load_key(short)

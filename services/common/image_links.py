"""Short-lived signed links to archive images, for a browser that has no session of ours.

An external labelling tool (Label Studio, issue 13) shows two archive scenes per task in its
users' browsers; those browsers never sign in to the web app. A link
``<web app>/links/v1/images/<image id>?expires=<unix seconds>&signature=<sig>`` proves that
whoever holds the key (the web app and the bridge, which share one key file) allowed that one
image to be shown until ``expires``: the signature is HMAC-SHA256 over the image id and the
expiry, URL-safe base64 without padding. Nothing else is granted, and a link cannot be changed
to another image or a later expiry without the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path
from urllib.parse import quote, urlencode

LINK_PATH = "/links/v1/images/"
"""Where the web app serves signed links; the image id follows, its path segments quoted."""
KEY_BYTES = 32
MIN_KEY_BYTES = 32
_DOMAIN = b"anneal-image-link-v1"
"""Signed first, so the key signs nothing else that could be mistaken for a link."""
_MAX_EXPIRES_DIGITS = 12
_SIGNATURE_CHARS = 43  # 32 bytes of SHA-256 in URL-safe base64 without its "=" padding


class ImageLinkError(PermissionError):
    """A link that does not prove anything: malformed, a bad signature, or expired."""


class BadImageLinkError(ImageLinkError):
    """The link is malformed or its signature is not the key's for this image and expiry."""


class ExpiredImageLinkError(ImageLinkError):
    """A genuine link whose time ran out."""


class ImageLinks:
    """Signs and checks links to archive images with one secret ``key``."""

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(
                f"an image link key needs at least {MIN_KEY_BYTES} bytes, got {len(key)}"
            )
        self._key = bytes(key)

    def signature(self, image_id: str, expires_unix: int) -> str:
        """The signature of a link to ``image_id`` valid until ``expires_unix``."""
        message = b"\n".join(
            (_DOMAIN, str(expires_unix).encode(), image_id.encode("utf-8", "surrogatepass"))
        )
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def url(self, base_url: str, image_id: str, expires_unix: int) -> str:
        """The link to ``image_id`` on the web app at ``base_url`` (``https://host:port``,
        with or without a path prefix), valid until ``expires_unix`` (Unix seconds)."""
        if not image_id:
            raise ValueError("a link needs an image id")
        if isinstance(expires_unix, bool) or not isinstance(expires_unix, int) or expires_unix < 0:
            raise ValueError(
                f"expires_unix must be Unix seconds (an int >= 0), got {expires_unix!r}"
            )
        query = urlencode(
            {"expires": str(expires_unix), "signature": self.signature(image_id, expires_unix)}
        )
        return f"{base_url.rstrip('/')}{LINK_PATH}{quote(image_id, safe='/')}?{query}"

    def check(self, image_id: str, expires: str, signature: str, now_unix: float) -> None:
        """Returns when the link's ``expires`` and ``signature`` (as the query string carries
        them) are the key's for ``image_id`` and it has not expired at ``now_unix``;
        BadImageLinkError or ExpiredImageLinkError saying which otherwise."""
        if not (expires.isascii() and expires.isdigit() and len(expires) <= _MAX_EXPIRES_DIGITS):
            raise BadImageLinkError(
                "the link is malformed: expires must be Unix seconds; ask for a new link"
            )
        if len(signature) != _SIGNATURE_CHARS or not signature.isascii():
            raise BadImageLinkError("the link is malformed: its signature is not one of ours")
        expected = self.signature(image_id, int(expires))
        if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii")):
            raise BadImageLinkError(
                "the link's signature does not match this image and expiry; ask for a new link"
            )
        if now_unix >= int(expires):
            raise ExpiredImageLinkError(
                f"the link expired {int(now_unix) - int(expires)} s ago (at {expires} Unix "
                "seconds); ask for a new link"
            )


def create_key(path: Path) -> None:
    """Write a new random key of 32 bytes to ``path`` (readable by its owner only, mode 0600);
    FileExistsError when there is one already (a key is never replaced by accident)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(secrets.token_bytes(KEY_BYTES))
    os.chmod(path, 0o600)


def load_key(path: Path) -> bytes:
    """The key in ``path``: its bytes exactly as stored; ValueError naming the file when it
    cannot be read or is under 32 bytes."""
    try:
        key = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read the image link key {path}: {exc.strerror}") from None
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(
            f"the image link key {path} has {len(key)} bytes; it needs at least {MIN_KEY_BYTES}"
            " (anneal serve makes one, or: head -c 32 /dev/urandom > the file)"
        )
    return key

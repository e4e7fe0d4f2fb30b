"""Where Label Studio loads a task's two scenes from: signed links to the web app, or Label
Studio's own local-files storage. An abstract base with one hook, :meth:`ImageUrls.url`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from services.common.image_links import ImageLinks
from services.labelstudio.studio import PAIR_KEY, ROUND_KEY

EXPIRES_KEY = "anneal_links_expire"


class ImageUrls(ABC):
    """Builds a task's data: both scenes' URLs, our round and pair id, and the links' expiry."""

    renew_within_s: float = 0.0
    """Links running out within this many seconds are renewed (0: links never run out)."""

    @abstractmethod
    def url(self, image_id: str, now_unix: float) -> tuple[str, int]:
        """The URL of one archive image and the Unix time it stops working (0: never)."""

    def task_data(
        self, round_number: int, pair_id: int, image_a: str, image_b: str, now_unix: float
    ) -> dict[str, Any]:
        url_a, expires_a = self.url(image_a, now_unix)
        url_b, expires_b = self.url(image_b, now_unix)
        for url in (url_a, url_b):
            if not url.startswith(("http://", "https://", "/")):
                raise ValueError(f"{type(self).__name__} made {url!r}, not an absolute URL")
        return {
            "image_a": url_a,
            "image_b": url_b,
            ROUND_KEY: round_number,
            PAIR_KEY: pair_id,
            "anneal_image_a": image_a,
            "anneal_image_b": image_b,
            EXPIRES_KEY: min(expires_a, expires_b),
        }


@dataclass(frozen=True)
class SignedImageUrls(ImageUrls):
    """Links to the web app's ``/links/v1/images/...``, signed with the shared key, valid for
    ``ttl_s``; the bridge renews them in Label Studio before they run out."""

    links: ImageLinks
    base_url: str
    ttl_s: int

    @property
    def renew_within_s(self) -> float:  # type: ignore[override]
        return self.ttl_s / 2

    def url(self, image_id: str, now_unix: float) -> tuple[str, int]:
        expires = int(now_unix) + self.ttl_s
        return self.links.url(self.base_url, image_id, expires), expires


@dataclass(frozen=True)
class LocalFilesUrls(ImageUrls):
    """Label Studio's local-files storage (``LOCAL_FILES_SERVING_ENABLED``): the archive mounted
    into Label Studio under ``LOCAL_FILES_DOCUMENT_ROOT``; ``root`` is the archive's folder
    relative to that document root."""

    root: str

    def url(self, image_id: str, now_unix: float) -> tuple[str, int]:
        path = f"{self.root.strip('/')}/{image_id}" if self.root.strip("/") else image_id
        return f"/data/local-files/?d={quote(path)}", 0

"""``GET /links/v1/images/{image_id}``: an archive image for a browser without a session.

An external labelling tool's page (Label Studio, issue 13) loads each scene with an ``<img>``
from a link the bridge signed (services/common/image_links.py); the link is the whole
credential, so no cookie or token is involved. Label Studio's ``<img>`` asks for CORS
(``crossorigin="anonymous"``, it draws scenes on a canvas), so a served image says
``Access-Control-Allow-Origin: *`` without credentials: any page that holds the link may read
the pixels, which anyone who holds the link can do anyway. It serves the app's preview of the image
(``LINK_PREVIEW_SIZE`` pixels on its longest side), cacheable privately until the link expires.
Refusals are the app's JSON errors: 403 for a bad, missing or expired signature (before the
image is looked up, so a refusal tells nothing about the archive), 404 for an image not in it,
404 when this app has no link key.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from services.common.image_links import ImageLinkError, ImageLinks
from services.web.http_errors import ERROR_RESPONSES, WebError
from services.web.images import render_preview

router = APIRouter(prefix="/links/v1", responses=ERROR_RESPONSES)
LINK_PREVIEW_SIZE = 512
"""Large enough to compare two scenes side by side, small enough for a task page of a few."""


def _check(request: Request, image_id: str, expires: str, signature: str, now: float) -> None:
    links: ImageLinks | None = request.app.state.image_links
    if links is None:
        raise WebError(
            404,
            "NOT_FOUND",
            "signed links are not enabled on this web app: it has no image link key "
            "(ANNEAL_IMAGE_LINK_KEY_FILE)",
        )
    if not expires or not signature:
        raise WebError(
            403,
            "PERMISSION_DENIED",
            "this is not a signed link: it needs both expires and signature; ask the tool "
            "that made it for a new one",
        )
    try:
        links.check(image_id, expires, signature, now)
    except ImageLinkError as exc:  # malformed, a bad signature, or expired: the message says
        raise WebError(403, "PERMISSION_DENIED", str(exc)) from None


@router.get(
    "/images/{image_id:path}",
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}},
)
async def linked_image(
    image_id: str,
    request: Request,
    expires: Annotated[str, Query(description="Unix seconds the link is valid until")] = "",
    signature: Annotated[str, Query(description="HMAC-SHA256 of image id and expiry")] = "",
) -> Response:
    """The archive image ``image_id`` by a signed link, without a session."""
    now = time.time()
    _check(request, image_id, expires, signature, now)
    preview = await render_preview(request, image_id, LINK_PREVIEW_SIZE)
    headers = {
        "Access-Control-Allow-Origin": "*",
        "ETag": preview.etag,
        "Cache-Control": f"private, max-age={max(0, int(int(expires) - now))}",
    }
    if request.headers.get("if-none-match") == preview.etag:
        return Response(status_code=304, headers=headers)
    return Response(preview.data, media_type=preview.media_type, headers=headers)

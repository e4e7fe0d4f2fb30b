"""Thumbnails and previews of archive images, made on request, cached, with cache headers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from anneal.errors import ImageDecodeError
from services.common.errors import ResourceExhaustedError
from services.common.shown import shown
from services.web.context import current_session
from services.web.http_errors import ERROR_RESPONSES, WebError
from services.web.image_preview import PREVIEW_SIZES, ImagePreviews, Preview
from services.web.sessions import Session

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)
CACHE_SECONDS = 3600


async def render_preview(request: Request, image_id: str, size: int) -> Preview:
    """The app's preview of ``image_id`` (rendered off the event loop); WebError 404 for an
    image not in the archive, 413 too large, 422 undecodable, 400 a size not offered."""
    previews: ImagePreviews = request.app.state.previews
    try:
        return await run_in_threadpool(previews.render, image_id, size)
    except LookupError:
        raise WebError(404, "NOT_FOUND", f"no archive image {shown(image_id)}") from None
    except ResourceExhaustedError as exc:
        raise WebError(413, "RESOURCE_EXHAUSTED", str(exc)) from None
    except ImageDecodeError as exc:
        raise WebError(422, "UNPROCESSABLE", str(exc)) from None
    except ValueError as exc:  # a size not offered
        raise WebError(400, "INVALID_ARGUMENT", str(exc)) from None


@router.get(
    "/images/{image_id:path}/thumbnail",
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}},
)
async def thumbnail(
    image_id: str,
    request: Request,
    session: Annotated[Session, Depends(current_session)],
    size: Annotated[int, Query(description=f"one of {list(PREVIEW_SIZES)}")] = 256,
) -> Response:
    """The archive image ``image_id`` at most ``size`` pixels on its longest side."""
    preview = await render_preview(request, image_id, size)
    headers = {
        "ETag": preview.etag,
        "Cache-Control": f"private, max-age={CACHE_SECONDS}",
    }
    if request.headers.get("if-none-match") == preview.etag:
        return Response(status_code=304, headers=headers)
    return Response(preview.data, media_type=preview.media_type, headers=headers)

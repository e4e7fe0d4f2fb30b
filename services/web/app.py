"""The web app: pages, the JSON API, thumbnails, security headers, metrics and health."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from services.common.image_links import ImageLinks
from services.web import api, images, pages, signed_links
from services.web.context import WebContext
from services.web.http_errors import error_body, install_error_handlers
from services.web.image_preview import ImagePreviews
from services.web.metrics import WEB_REQUEST_SECONDS, WEB_REQUESTS
from services.web.uploads import MAX_UPLOAD_BYTES

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
MAX_BODY_BYTES = MAX_UPLOAD_BYTES + 64 * 1024
"""An upload plus its multipart envelope; larger requests are refused before they are read."""

Handler = Callable[[Request], Awaitable[Response]]


async def _guard(request: Request, call_next: Handler) -> Response:
    """Body-size limit, security headers, and request metrics by route template."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
        response: Response = JSONResponse(
            error_body("RESOURCE_EXHAUSTED", f"the request is over {MAX_BODY_BYTES:,} bytes"),
            status_code=413,
        )
    else:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        name = getattr(route, "path", "unmatched")
        WEB_REQUESTS.labels(name, request.method, str(response.status_code)).inc()
        WEB_REQUEST_SECONDS.labels(name, request.method).observe(time.perf_counter() - started)
    if request.url.path.startswith("/static/"):
        # Modules import each other by plain paths (no version in the URL), so the browser
        # must revalidate them (ETag) rather than keep a stale copy after an upgrade.
        response.headers["Cache-Control"] = "no-cache"
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def create_app(
    context: WebContext, previews: ImagePreviews, image_links: ImageLinks | None = None
) -> FastAPI:
    """The FastAPI app over ``context`` (the gRPC client, sessions, archive); ``image_links``
    checks signed image links (None: the links route answers that they are not enabled)."""
    app = FastAPI(
        title="ANNEAL web API",
        version="1",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # Swagger UI would load scripts from a CDN
        redoc_url=None,
    )
    app.state.web = context
    app.state.previews = previews
    app.state.image_links = image_links
    install_error_handlers(app)
    app.middleware("http")(_guard)
    app.include_router(api.router)
    app.include_router(images.router)
    app.include_router(signed_links.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=str(pages.STATIC)), name="static")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app

"""The bridge's HTTP side: Label Studio's webhook deliveries, and a health check.

``POST /webhook`` takes ANNOTATION_CREATED, ANNOTATION_UPDATED and ANNOTATIONS_DELETED. The
secret header is checked first (403 without it or with another); a body that is not such an
event is 400; an event of a project or task that is not one of ours is 404; all three are logged
and counted by reason. When the label service is away the reply is 503 and nothing is written:
the next pull takes the annotation.
"""

from __future__ import annotations

import hmac
import json
import logging

import grpc
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from services.labelstudio.annotation import WebhookEvent
from services.labelstudio.bridge import Bridge
from services.labelstudio.metrics import REFUSED, WEBHOOKS
from services.labelstudio.refusal import Reason, Refusal
from services.labelstudio.studio import SECRET_HEADER

MAX_BODY_BYTES = 1 << 20
_STATUS: dict[Reason, int] = {
    "wrong_secret": 403,
    "malformed": 400,
    "bad_answer": 400,
    "foreign_project": 404,
    "not_our_task": 404,
    "round_closed": 409,
    "label_refused": 409,
}
_log = logging.getLogger(__name__)


def _reply(status: int, body: dict[str, object]) -> JSONResponse:
    WEBHOOKS.labels(str(status)).inc()
    return JSONResponse(body, status_code=status)


def _refused(refusal: Refusal) -> JSONResponse:
    REFUSED.labels(refusal.reason).inc()
    _log.warning("webhook refused (%s): %s", refusal.reason, refusal)
    return _reply(_STATUS[refusal.reason], {"error": refusal.reason, "message": str(refusal)})


def create_app(bridge: Bridge, secret: str) -> FastAPI:
    """The webhook receiver for ``bridge``; deliveries must carry ``secret`` in its header."""
    app = FastAPI(title="ANNEAL Label Studio bridge", docs_url=None, redoc_url=None)
    expected = secret.encode()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "SERVING"}

    @app.post("/webhook")
    async def webhook(request: Request) -> JSONResponse:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not given or not hmac.compare_digest(given, expected):
            return _refused(Refusal("wrong_secret", "webhook", f"no valid {SECRET_HEADER} header"))
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _refused(Refusal("malformed", "webhook", f"over {MAX_BODY_BYTES:,} bytes"))
        try:
            event = WebhookEvent.parse(json.loads(body))
        except json.JSONDecodeError:
            return _refused(Refusal("malformed", "webhook", "the body is not JSON"))
        except Refusal as refusal:
            return _refused(refusal)
        try:
            return await run_in_threadpool(_handle, bridge, event)
        except grpc.RpcError as error:
            code = error.code().name if isinstance(error, grpc.Call) else "UNKNOWN"
            _log.warning("webhook left to the next pull: the label service answered %s", code)
            return _reply(503, {"error": "unavailable", "message": f"label service: {code}"})

    return app


def _handle(bridge: Bridge, event: WebhookEvent) -> JSONResponse:
    project = bridge.project_of(event.project_id)
    if project is None:
        return _refused(
            Refusal(
                "foreign_project",
                "webhook",
                f"project {event.project_id} is not a round's project of this bridge",
            )
        )
    if event.deleted:
        report = bridge.answers.forget(event.deleted, event.project_id, source="webhook")
    else:
        report = bridge.answers.take(event.changed, source="webhook")
    if report.refused and not (report.stored or report.withdrawn):
        first = report.refused[0]
        return _reply(_STATUS[first.reason], {"error": first.reason, "message": str(first)})
    return _reply(200, {"stored": report.stored, "withdrawn": report.withdrawn})

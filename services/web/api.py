"""The JSON API under /api/v1 (the pages use it; so can scripts). OpenAPI: /api/v1/openapi.json.

Every route acts as the signed-in person: the services check their role, and a refusal comes
back as 403 with the service's message.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import grpc
from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from annealpb.retrieval.v1 import retrieval_pb2
from services.coordinator.annotators_per_pair import (
    DEFAULT_ANNOTATORS_PER_PAIR,
    MAX_ANNOTATORS_PER_PAIR,
)
from services.security.principal import Role
from services.web.context import WebContext, current_session, web_context
from services.web.extraction_view import extraction_view
from services.web.http_errors import ERROR_RESPONSES, WebError
from services.web.round_views import (
    LABELS_OPEN,
    next_step,
    pair_view,
    progress_view,
    round_view,
)
from services.web.sessions import COOKIE, Answer, Session
from services.web.uploads import MAX_UPLOAD_BYTES, check_upload

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)
Context = Annotated[WebContext, Depends(web_context)]
SignedIn = Annotated[Session, Depends(current_session)]
UPCOMING = 2
UINT32_MAX = 2**32 - 1
"""Round numbers and pair ids are uint32 in the protos."""


class SignIn(BaseModel):
    token: str = Field(max_length=200, description="an ANNEAL bearer token (anl.<id>.<secret>)")


class Me(BaseModel):
    name: str
    role: str
    csrf_token: str


@router.post("/session", response_model=Me)
def sign_in(body: SignIn, response: Response, context: Context) -> dict[str, str]:
    """Sign in with a token: sets the session cookie (HttpOnly, SameSite=Strict)."""
    session = context.sign_in(body.token.strip())
    response.set_cookie(
        COOKIE,
        session.id,
        httponly=True,
        samesite="strict",
        secure=context.secure_cookies,
        path="/",
    )
    return session.public()


@router.get("/session", response_model=Me)
def who_am_i(session: SignedIn) -> dict[str, str]:
    return session.public()


@router.delete("/session", status_code=204)
def sign_out(session: SignedIn, response: Response, context: Context) -> None:
    context.sessions.drop(session.id)
    response.delete_cookie(COOKIE, path="/")


# -- the archive ------------------------------------------------------------------------------


@router.get("/archive")
def archive(
    session: SignedIn,
    context: Context,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 60,
) -> dict[str, Any]:
    """A page of the archive's image ids (and classes, where its folders name them)."""
    ids = context.image_ids[offset : offset + limit]
    return {
        "total": len(context.image_ids),
        "images": [{"id": i, "class": context.class_of(i)} for i in ids],
    }


# -- search -----------------------------------------------------------------------------------


def _results(
    context: Context, reply: retrieval_pb2.RetrieveResponse, image_id: str | None
) -> dict[str, Any]:
    return {
        "index_version": reply.index_version,
        "model_version": reply.model_version,
        "query": {"image_id": image_id},
        "hits": [
            {
                "rank": hit.rank,
                "image_id": hit.image_id,
                "score": round(float(hit.score), 6),
                "class": hit.metadata.get("label") or context.class_of(hit.image_id),
            }
            for hit in reply.hits
        ],
    }


@router.post("/search")
async def search_by_upload(
    session: SignedIn,
    context: Context,
    file: Annotated[UploadFile, File(description="JPEG, PNG or TIFF query image")],
    k: Annotated[int, Form(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """The k archive images most similar to an uploaded image."""
    data = await file.read(MAX_UPLOAD_BYTES + 1)  # one byte over the limit is enough to know
    await run_in_threadpool(check_upload, data)
    query = retrieval_pb2.Query(image=data)
    reply = await run_in_threadpool(context.client.retrieve, session.token, query, k)
    return _results(context, reply, None)


@router.get("/search")
def search_by_id(
    session: SignedIn,
    context: Context,
    image_id: Annotated[str, Query(min_length=1, max_length=1000)],
    k: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """The k archive images most similar to an archive image (itself left out)."""
    reply = context.client.retrieve(session.token, retrieval_pb2.Query(image_id=image_id), k)
    return _results(context, reply, image_id)


# -- labelling --------------------------------------------------------------------------------


class LabelAnswer(BaseModel):
    round: int = Field(ge=1, le=UINT32_MAX)
    pair_id: int = Field(ge=0, le=UINT32_MAX)
    answer: Literal["similar", "dissimilar", "skip"]


def _label_state(context: WebContext, session: Session, current: int | None = None) -> dict:
    """The pair to show next (``current`` first when given), upcoming ones, progress."""
    status = context.client.status(session.token)
    can_undo = bool(session.answers)
    if not status.HasField("round") or status.round.state != LABELS_OPEN:
        return {
            "round": status.round.round if status.HasField("round") else None,
            "state": round_view(status.round)["state"] if status.HasField("round") else "none",
            "pair": None,
            "upcoming": [],
            "progress": None,
            "can_undo": False,
            "message": next_step(status),
        }
    number = status.round.round
    pending = [
        p
        for p in context.client.pending(session.token, number)
        if (number, p.pair_id) not in session.skipped
    ]
    if current is not None:
        pending.sort(key=lambda p: p.pair_id != current)
    progress = context.client.progress(session.token, number)
    can_undo = any(a.round == number for a in session.answers)
    return {
        "round": number,
        "state": "collecting",
        "pair": pair_view(pending[0]) if pending else None,
        "upcoming": [pair_view(p) for p in pending[1 : 1 + UPCOMING]],
        "progress": progress_view(progress, status.round.budget),
        "can_undo": can_undo,
        "message": "" if pending else next_step(status),
    }


def _require_annotator(session: Session) -> None:
    if session.role is not Role.ANNOTATOR and session.token:
        raise WebError(
            403,
            "PERMISSION_DENIED",
            f"labelling needs an annotator token; {session.name} signed in as {session.role.value}",
        )


@router.get("/label/next")
def next_pair(session: SignedIn, context: Context) -> dict[str, Any]:
    """The open round's next pair for this annotator, the two after it, and progress."""
    _require_annotator(session)
    return _label_state(context, session)


@router.post("/label")
def answer(body: LabelAnswer, session: SignedIn, context: Context) -> dict[str, Any]:
    """Store an answer (similar / dissimilar) or skip the pair; then the next pair."""
    _require_annotator(session)
    if body.answer == "skip":
        session.skipped.add((body.round, body.pair_id))
        return _label_state(context, session)
    key = f"web:{session.name}:r{body.round}:p{body.pair_id}:{uuid.uuid4().hex[:12]}"
    context.client.submit(
        session.token, body.round, body.pair_id, body.answer == "similar", key
    )  # acknowledged only once it is on disk
    session.answers.append(Answer(body.round, body.pair_id, key))
    return _label_state(context, session)


@router.post("/label/undo")
def undo(session: SignedIn, context: Context) -> dict[str, Any]:
    """Withdraw this session's last answer (while its round is open); show that pair again."""
    _require_annotator(session)
    if not session.answers:
        raise WebError(409, "FAILED_PRECONDITION", "there is no answer of yours to undo")
    last = session.answers[-1]
    context.client.withdraw(session.token, last.round, last.idempotency_key)
    session.answers.pop()
    return _label_state(context, session, current=last.pair_id)


# -- rounds -----------------------------------------------------------------------------------


def _rounds(context: WebContext, session: Session) -> dict[str, Any]:
    rounds = context.client.rounds(session.token)
    status = context.client.status(session.token)
    views = []
    for r in rounds:
        fraction = None
        if session.role is Role.OPERATOR and r.labelled_pairs:
            try:
                fraction = context.client.fraction_similar(session.token, r.round)
            except grpc.RpcError:
                fraction = None
        views.append(round_view(r, fraction))
    return {
        "rounds": views,
        "serving_index_version": status.serving_index_version,
        "serving_model_version": status.serving_model_version,
    }


@router.get("/rounds")
def list_rounds(session: SignedIn, context: Context) -> dict[str, Any]:
    """Every round, oldest first, and what serves queries now."""
    return _rounds(context, session)


class StartRound(BaseModel):
    strategy: Literal["mgue", "bcgue", "random"] = "mgue"
    budget: int = Field(default=100, ge=1, le=10_000)
    mode: Literal["head", "full"] = "head"
    annotators_per_pair: int = Field(
        default=DEFAULT_ANNOTATORS_PER_PAIR, ge=1, le=MAX_ANNOTATORS_PER_PAIR
    )


@router.post("/rounds")
def start_round(body: StartRound, session: SignedIn, context: Context) -> dict[str, Any]:
    """Start the next round (operators)."""
    return round_view(
        context.client.start_round(
            session.token, body.strategy, body.budget, body.mode, body.annotators_per_pair
        )
    )


@router.post("/rounds/{round_number}/close")
def close_round(
    round_number: Annotated[int, PathParam(ge=1, le=UINT32_MAX)],
    session: SignedIn,
    context: Context,
) -> dict[str, Any]:
    """Stop collecting answers for a round; it trains on what it has (operators)."""
    return round_view(context.client.close_round(session.token, round_number))


@router.get("/rounds/events")
async def round_events(request: Request, session: SignedIn, context: Context) -> StreamingResponse:
    """Server-sent events: the rounds (as GET /rounds) now and whenever the status changes."""
    call = context.client.watch(session.token)

    async def events() -> AsyncIterator[str]:
        queue: asyncio.Queue[object] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def pump() -> None:
            try:
                for _update in call:
                    loop.call_soon_threadsafe(queue.put_nowait, True)
            except grpc.RpcError:
                pass
            loop.call_soon_threadsafe(queue.put_nowait, None)

        loop.run_in_executor(None, pump)
        try:
            yield f"data: {json.dumps(await run_in_threadpool(_rounds, context, session))}\n\n"
            while not await request.is_disconnected():
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=15)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if item is None:
                    break
                while not queue.empty():
                    queue.get_nowait()
                rounds = await run_in_threadpool(_rounds, context, session)
                yield f"data: {json.dumps(rounds)}\n\n"
        finally:
            call.cancel()

    return StreamingResponse(events(), media_type="text/event-stream")


# -- status -----------------------------------------------------------------------------------


@router.get("/status")
def system_status(session: SignedIn, context: Context) -> dict[str, Any]:
    """Each service's health, what serves queries, the latest round's label counts and the
    archive's feature extraction (None before it began)."""
    health = context.client.health()
    status = context.client.status(session.token)
    labels = None
    if status.HasField("round"):
        try:
            progress = context.client.progress(session.token, status.round.round)
            labels = {
                "labelled_pairs": progress.labelled_pairs,
                "labels": progress.labels,
                "annotators": progress.annotators,
            }
        except grpc.RpcError:
            labels = None
    return {
        "services": [
            {"name": name, "address": context.client.addresses[name], "health": state}
            for name, state in health.items()
        ],
        "serving_index_version": status.serving_index_version,
        "serving_model_version": status.serving_model_version,
        "round": round_view(status.round) if status.HasField("round") else None,
        "labels": labels,
        "extraction": extraction_view(status),
    }

"""The four pages (Search, Label, Rounds, Status) and sign-in, rendered on the server."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from services.web.context import optional_session
from services.web.sessions import Session

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter()

PAGES = {"search": "Search", "label": "Label", "rounds": "Rounds", "status": "Status"}


@functools.cache
def static_url(name: str) -> str:
    """``/static/<name>?v=<content hash>``: cached for long, refreshed when the file changes."""
    digest = hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]
    return f"/static/{name}?v={digest}"


def _render(request: Request, page: str, session: Session | None) -> HTMLResponse:
    shown = page if session is not None else "login"
    return templates.TemplateResponse(
        request,
        f"{shown}.html",
        {
            "page": shown,
            "title": PAGES.get(shown, "Sign in"),
            "csrf_token": session.csrf_token if session else "",
            "user": {"name": session.name, "role": session.role.value} if session else None,
            "static_url": static_url,
        },
        headers={"Cache-Control": "no-store"},
    )


MaybeSession = Annotated[Session | None, Depends(optional_session)]


def _page(page: str) -> Callable[[Request, Session | None], HTMLResponse]:
    def show(request: Request, session: MaybeSession) -> HTMLResponse:
        return _render(request, page, session)

    show.__name__ = f"{page}_page"
    return show


for _name, _path in (
    ("search", "/"),
    ("label", "/label"),
    ("rounds", "/rounds"),
    ("status", "/status"),
):
    router.add_api_route(
        _path, _page(_name), methods=["GET"], response_class=HTMLResponse, include_in_schema=False
    )


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(request: Request) -> HTMLResponse:
    return _render(request, "login", None)

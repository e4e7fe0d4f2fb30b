"""What every request handler of the web app works with, made once at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from services.security.principal import Role
from services.security.token_verifier import TokenVerifier
from services.security.tokens import TokenError
from services.web.http_errors import WebError
from services.web.sessions import COOKIE, Session, SessionStore
from services.web.system_client import SystemClient

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class WebContext:
    """The gRPC client, the sessions, the token check and the archive's image ids."""

    client: SystemClient
    sessions: SessionStore
    tokens: TokenVerifier | None
    image_ids: list[str]
    secure_cookies: bool

    def class_of(self, image_id: str) -> str | None:
        """The class of an archive image: its folder, when the archive has class folders."""
        head, sep, _tail = image_id.partition("/")
        return head if sep else None

    def sign_in(self, token: str) -> Session:
        """A session for ``token``; WebError 401 saying why it is refused.

        Without access control (``tokens`` None, the system runs --insecure) anyone signs in
        as an anonymous operator and no token is sent on.
        """
        if self.tokens is None:
            return self.sessions.create("", "anonymous", Role.OPERATOR)
        try:
            record = self.tokens.verify(token)
        except TokenError as exc:
            raise WebError(401, "UNAUTHENTICATED", str(exc)) from None
        if record.role in (Role.SERVICE, Role.LABELLING_SERVICE):
            raise WebError(
                401,
                "UNAUTHENTICATED",
                f"{record.role.value} tokens cannot sign in to the web app; people sign in with "
                "their own token",
            )
        return self.sessions.create(token, record.name, record.role)


def web_context(request: Request) -> WebContext:
    context = request.app.state.web
    assert isinstance(context, WebContext)
    return context


def current_session(request: Request) -> Session:
    """The signed-in session; 401 without one, 403 on a state change without its CSRF token."""
    context = web_context(request)
    session = context.sessions.get(request.cookies.get(COOKIE))
    if session is None:
        raise WebError(401, "UNAUTHENTICATED", "sign in with your token first")
    if request.method in STATE_CHANGING and not session.csrf_ok(
        request.headers.get("x-csrf-token")
    ):
        raise WebError(
            403, "CSRF", "missing or wrong X-CSRF-Token header; reload the page and try again"
        )
    return session


def optional_session(request: Request) -> Session | None:
    return web_context(request).sessions.get(request.cookies.get(COOKIE))

"""Errors as the browser and scripts see them: the right HTTP status and a JSON body.

A gRPC status from a service becomes the HTTP status below with the service's message; a
request that does not validate is 400; anything unexpected is 500 with no trace (logged here).
Body: ``{"error": {"code": "PERMISSION_DENIED", "message": "..."}}``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from services.common.shown import cleaned

_log = logging.getLogger(__name__)

HTTP_STATUS: Mapping[grpc.StatusCode, int] = MappingProxyType(
    {
        grpc.StatusCode.INVALID_ARGUMENT: 400,
        grpc.StatusCode.OUT_OF_RANGE: 400,
        grpc.StatusCode.UNAUTHENTICATED: 401,
        grpc.StatusCode.PERMISSION_DENIED: 403,
        grpc.StatusCode.NOT_FOUND: 404,
        grpc.StatusCode.ALREADY_EXISTS: 409,
        grpc.StatusCode.FAILED_PRECONDITION: 409,
        grpc.StatusCode.ABORTED: 409,
        grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
        grpc.StatusCode.UNIMPLEMENTED: 501,
        grpc.StatusCode.UNAVAILABLE: 503,
        grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    }
)


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    """What every error response carries."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (400, "invalid request"),
        (401, "not signed in, or a bad token"),
        (403, "the role may not do this, or a missing CSRF token"),
        (404, "no such thing"),
        (409, "not possible in the current state"),
        (413, "too large"),
        (415, "not a JPEG, PNG or TIFF image"),
        (422, "an archive image that cannot be decoded"),
        (429, "a limit was hit"),
        (500, "internal error"),
        (501, "not implemented"),
        (502, "a service answered with an unexpected status"),
        (503, "a service is unavailable"),
        (504, "a service took too long"),
    )
}
"""Declared on every API route, so the OpenAPI spec describes the errors it can return."""


class WebError(Exception):
    """A refusal of the web layer itself: ``status``, a code word and a message (cleaned as
    gRPC status messages are: one bounded line, no object repr; services/common/shown.py)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = cleaned(message)


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def _grpc_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, grpc.RpcError) and isinstance(exc, grpc.Call)
    code = exc.code()
    status = HTTP_STATUS.get(code, 502)
    message = exc.details() or code.name
    if status == 503:
        message = f"a service is unavailable ({message}); try again shortly"
    return JSONResponse(error_body(code.name, message), status_code=status)


def _web_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, WebError)
    return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status)


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


def _invalid(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return JSONResponse(error_body("INVALID_ARGUMENT", "; ".join(problems)), status_code=400)


def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    _log.exception("unhandled %s", type(exc).__name__)
    return JSONResponse(
        error_body("INTERNAL", f"internal error ({type(exc).__name__}); see the server log"),
        status_code=500,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Every error leaves as JSON with its status; no trace reaches a browser."""
    app.add_exception_handler(grpc.RpcError, _grpc_error)
    app.add_exception_handler(WebError, _web_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(Exception, _unexpected)

"""One error type and one JSON shape: {"error": {"code", "message", "detail"?}}."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.routing import compile_path

log = logging.getLogger("huashu")


class JSONBytesResponse(JSONResponse):
    """JSON rendered by orjson (enums, dataclass dicts and non-ASCII text, fast). A
    JSONResponse, so that OpenAPI shows each route's response model, not ``string``."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class ApiError(Exception):
    """An error a client can act on; ``code`` is stable, ``message`` is for people."""

    def __init__(
        self, status: int, code: str, message: str, detail: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.headers = headers
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail
        self.headers = headers

    def body(self) -> dict:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            error["detail"] = self.detail
        return {"error": error}


class ErrorBody(BaseModel):
    code: str
    message: str
    detail: Any = None


class ErrorResponse(BaseModel):
    error: ErrorBody


# For the OpenAPI document: what each status means, in the one error shape. Routes list the
# ones they can answer (``errors(...)``); EDGE and KEYED are what every request or keyed one may get.
_ERROR_DESCRIPTIONS = {
    400: "Host not served here (invalid_host) or a malformed request",
    401: "Missing, unknown or revoked API key (unauthorized)",
    403: "The key's role may not do this (forbidden)",
    404: "No such reply, rule or path (unknown_reply, unknown_rule, not_found)",
    408: "The body did not arrive in time (body_timeout)",
    409: "Conflict: the id is taken, or the edit is stale (a newer version is stored)",
    413: "Body, Content-Length or text too large (body_too_large, text_too_long)",
    415: "Unknown file format",
    422: "Invalid input: schema, control characters, empty text (invalid_request, control_character, …)",
    429: "Too many requests for this key (rate_limited); Retry-After says when to retry",
    431: "Too many request headers (too_many_headers)",
    503: "The database cannot be reached (database_unavailable); Retry-After says when to retry",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route or router: these statuses, each in the one error shape."""
    return {
        status: {"model": ErrorResponse, "description": _ERROR_DESCRIPTIONS[status]} for status in statuses
    }


# What the edge (app/guard.py) may answer to any request, before a route sees it.
EDGE = errors(400, 408, 413, 422, 431)
# ... and what a route behind an API key may answer: the key check reads the database.
KEYED = {**EDGE, **errors(401, 403, 429, 503)}
# Agents' routes: every live key may call them, so never 403.
AGENT_KEYED = {status: value for status, value in KEYED.items() if status != 403}


def allowed_methods(request: Request) -> list[str]:
    """The methods the routes at this request's path answer (for a 405's ``Allow``). A path
    that names a route literally (``/v1/replies/preview``) is that route's alone, not also a
    ``{reply_id}``'s."""
    matching: dict[int, set[str]] = {}
    for route in iter_route_contexts(request.app.routes):
        if not route.methods or route.path is None:
            continue
        pattern, _, convertors = compile_path(route.path)
        if pattern.match(request.url.path):
            matching.setdefault(len(convertors), set()).update(route.methods)
    return sorted(matching[min(matching)]) if matching else []


# Errors that say the database cannot be reached (or is locked), not that a query was wrong:
# connection refused or lost, a pool timeout, SQLite's "database is locked".
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
)


def database_down(exc: BaseException) -> bool:
    if isinstance(exc, DATABASE_ERRORS):
        return True
    # The context's own psycopg connections (psycopg is imported only where it is used).
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)


class DatabaseOutage:
    """One log line when the database goes away and one when it is back, however many
    requests and sync polls meet it meanwhile (never a traceback per poll)."""

    def __init__(self) -> None:
        self.down_since: float | None = None

    def failed(self, exc: BaseException, what: str = "database") -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
            # The exception's class only: its text may carry the URL or the query's parameters.
            log.error("%s unavailable (%s); answering 503 database_unavailable", what, type(exc).__name__)

    def recovered(self) -> None:
        if self.down_since is not None:
            log.warning("database available again after %.1f s", time.monotonic() - self.down_since)
            self.down_since = None


OUTAGE = DatabaseOutage()  # per process: every worker says it once


def database_unavailable(exc: BaseException) -> ApiError:
    OUTAGE.failed(exc)
    return ApiError(
        503,
        "database_unavailable",
        "the database cannot be reached; try again shortly",
        headers={"Retry-After": "5"},
    )


_STATUS_CODES = {
    400: "bad_request",
    408: "timeout",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    429: "rate_limited",
}


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONBytesResponse:
        return JSONBytesResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    async def unavailable(request: Request, exc: Exception) -> JSONBytesResponse:
        down = database_unavailable(exc)
        return JSONBytesResponse(down.body(), status_code=503, headers=down.headers)

    for kind in DATABASE_ERRORS:
        app.add_exception_handler(kind, unavailable)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONBytesResponse:
        # The one error shape even for bugs; no exception text, which may hold user input or SQL.
        error = ApiError(500, "internal_error", "unexpected server error; it has been logged")
        return JSONBytesResponse(error.body(), status_code=500)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONBytesResponse:
        detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        error = ApiError(422, "invalid_request", "the request body does not match the schema", detail)
        return JSONBytesResponse(error.body(), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONBytesResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        error = ApiError(exc.status_code, code, str(exc.detail))
        headers = getattr(exc, "headers", None)
        allowed = allowed_methods(request) if exc.status_code == 405 else []
        if allowed:
            # Starlette names only the first route's methods; every route at the path counts.
            # (A mount, such as the studio's files, names its own.)
            headers = {**(headers or {}), "Allow": ", ".join(allowed)}
        return JSONBytesResponse(error.body(), status_code=exc.status_code, headers=headers)

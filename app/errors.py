"""One error type and one JSON shape: {"error": {"code", "message", "detail"?}}."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response


class JSONBytesResponse(Response):
    """JSON rendered by orjson (enums, dataclass dicts and non-ASCII text, fast)."""

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


# For the OpenAPI document: every route lists these.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "Bad request",
        401: "Missing or unknown API key",
        403: "The key's role may not do this",
        413: "Text or body too large",
        422: "Invalid or empty input",
        429: "Too many requests for this key",
    }.items()
}

_STATUS_CODES = {
    400: "bad_request",
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
        return JSONBytesResponse(
            error.body(), status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )

"""The edge: what every request passes before a route sees it (issue 17).

``RequestGuard`` (ASGI, wired once in ``app.main``) checks, in this order and before reading
a byte of the body: the ``Host`` header, the number of headers, control characters in the
path and query, a declared ``Content-Length`` over the limit, and — for a request to ``/v1/``
that carries a body — the API key. Only then is the body read, counted as it streams (a
chunked body has no length), within ``body_timeout_s``, and a JSON body is refused if any
string in it holds a control character. Every refusal is in the one error shape; one that
leaves part of a body unread also closes the connection, so the unread bytes are never
taken for the next request.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import ApiError, database_down, database_unavailable

# C0 controls but tab, newline and carriage return, DEL, C1 controls, and lone surrogates:
# PostgreSQL refuses NUL, no encoder takes a lone surrogate, and no buyer, agent or editor
# means any of them.
_BAD_CHARACTER = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# Paths outside /v1/ need no key; the socket's key comes with the handshake, not a body.
_KEYLESS = ("/v1/ws",)


def first_bad_character(value: Any, where: str = "") -> tuple[str, str] | None:
    """``(where, character)`` of the first control character or lone surrogate in ``value``
    (a string, or the lists and mappings of parsed JSON, keys included), or None."""
    if isinstance(value, str):
        found = _BAD_CHARACTER.search(value)
        return None if found is None else (where, found.group())
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{where}.{key}" if where else str(key)
            found_in = first_bad_character(key, inner) or first_bad_character(item, inner)
            if found_in is not None:
                return found_in
    elif isinstance(value, list):
        for position, item in enumerate(value):
            found_in = first_bad_character(item, f"{where}[{position}]")
            if found_in is not None:
                return found_in
    return None


def control_character_error(where: str, character: str) -> ApiError:
    return ApiError(
        422,
        "control_character",
        f"{where or 'the request'} holds U+{ord(character):04X}: control characters (other than tab "
        "and line breaks) and lone surrogates are not accepted",
        {"loc": where, "codepoint": f"U+{ord(character):04X}"},
    )


def host_allowed(host: str, allowed: list[str]) -> bool:
    """``host`` (a ``Host`` header, port and all) matches one of ``allowed``: a name, ``*``,
    or ``*.example.com`` for its subdomains."""
    name = host.strip().lower()
    if name.startswith("["):  # IPv6: [::1]:8000
        name = name[1 : name.find("]")] if "]" in name else name
    else:
        name = name.rsplit(":", 1)[0] if name.count(":") == 1 else name
    for pattern in allowed:
        pattern = pattern.lower()
        if pattern == "*" or name == pattern or (pattern.startswith("*.") and name.endswith(pattern[1:])):
            return True
    return False


class _Refused(Exception):
    def __init__(self, error: ApiError, close: bool) -> None:
        self.error = error
        self.close = close


class RequestGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int,
        larger: dict[str, int] | None = None,
        allowed_hosts: list[str],
        max_headers: int,
        body_timeout_s: float,
    ) -> None:
        self.app = app
        self.limit = limit
        self.larger = larger or {}  # path → its own limit; such bodies are streamed to the route
        self.allowed_hosts = allowed_hosts
        self.max_headers = max_headers
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        try:
            self._check_request_line(scope)
        except _Refused as refused:
            await self._refuse(scope, send, refused)
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        if (b"expect", b"100-continue") in scope["headers"]:
            receive, send = _close_unless_read(receive, send)
        try:
            receive = await self._checked_body(scope, receive)
        except _Refused as refused:
            await self._refuse(scope, send, refused)
            return
        await self.app(scope, receive, send)

    def _check_request_line(self, scope: Scope) -> None:
        headers = scope["headers"]
        if len(headers) > self.max_headers:
            raise _Refused(
                ApiError(431, "too_many_headers", f"a request may carry at most {self.max_headers} headers"),
                close=True,
            )
        if "*" not in self.allowed_hosts:
            host = next((v for k, v in headers if k == b"host"), b"").decode("latin-1")
            if not host_allowed(host, self.allowed_hosts):
                # Never answered with a redirect or a link to it: a Host is the client's word.
                raise _Refused(
                    ApiError(400, "invalid_host", "this Host is not served here (see ALLOWED_HOSTS)"),
                    close=False,
                )
        found = first_bad_character(scope["path"], "path")
        if found is None and scope.get("query_string"):
            from urllib.parse import parse_qsl

            # Every pair, a repeated name's each value too (a list parameter takes them all).
            for name, value in parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True):
                found = first_bad_character(name, "query") or first_bad_character(value, f"query.{name}")
                if found is not None:
                    break
        if found is not None:
            raise _Refused(control_character_error(*found), close=False)

    async def _checked_body(self, scope: Scope, receive: Receive) -> Receive:
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        chunked = b"transfer-encoding" in headers
        if not chunked and (length is None or length == b"0"):
            return receive
        path: str = scope["path"]
        limit = self.larger.get(path, self.limit)
        if length is not None and length.isdigit() and int(length) > limit:
            raise _Refused(_too_large(limit), close=True)
        # A refused key with a body of known, bounded length keeps the connection: the server
        # skips that many bytes. An unbounded (chunked) one is not waited for.
        await self._check_key(scope, headers, close=chunked)
        if path in self.larger:
            return self._streamed(receive, limit)
        body = await self._read(receive, limit)
        if body:
            # Any body that parses as JSON, whatever its Content-Type says: FastAPI takes
            # "application/*+json" and any case of it as JSON too.
            parsed = _parsed(body)
            if parsed is _NOT_UTF8 and _json_media(headers.get(b"content-type")):
                raise _Refused(_not_utf8(), False)
            found = first_bad_character(parsed)
            if found is not None:
                raise _Refused(
                    control_character_error(f"body.{found[0]}" if found[0] else "body", found[1]), False
                )
        return _replay(body, receive)

    async def _check_key(self, scope: Scope, headers: dict[bytes, bytes], close: bool) -> None:
        """A body to /v1/ is read only for a known key: a caller without one is refused
        before the server takes in a byte of what it sends."""
        path: str = scope["path"]
        keys = getattr(scope["app"].state, "keys", None) if "app" in scope else None
        if keys is None or not path.startswith("/v1/") or path in _KEYLESS:
            return
        scheme, _, key = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise _Refused(
                ApiError(401, "unauthorized", "send the API key as 'Authorization: Bearer KEY'"), close
            )
        try:
            principal = await run_in_threadpool(keys.check, key.strip())
        except Exception as exc:
            if not database_down(exc):
                raise
            raise _Refused(database_unavailable(exc), close) from None
        if principal is None:
            raise _Refused(ApiError(401, "unauthorized", "unknown or revoked API key"), close)

    async def _read(self, receive: Receive, limit: int) -> bytes:
        """The whole body, counted as it streams, within ``body_timeout_s``."""
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.body_timeout_s):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise _Refused(ApiError(400, "disconnected", "the client went away"), close=True)
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        raise _Refused(_too_large(limit), close=True)
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError:
            raise _Refused(_too_slow(self.body_timeout_s), close=True) from None

    def _streamed(self, receive: Receive, limit: int) -> Receive:
        """For a route that reads its (large) body itself: counted, and each piece must come
        within ``body_timeout_s`` of the last."""
        size = 0

        async def counted() -> Message:
            nonlocal size
            try:
                message = await asyncio.wait_for(receive(), self.body_timeout_s)
            except TimeoutError:
                raise _with_close(_too_slow(self.body_timeout_s)) from None
            size += len(message.get("body", b""))
            if size > limit:
                raise _with_close(_too_large(limit))
            return message

        return counted

    @staticmethod
    async def _refuse(scope: Scope, send: Send, refused: _Refused) -> None:
        if scope["type"] == "websocket":
            # Before the handshake is accepted: the server answers it with a plain 403.
            await send({"type": "websocket.close", "code": 1008})
            return
        error = refused.error
        body = orjson.dumps(error.body())
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        headers += [(k.lower().encode(), v.encode()) for k, v in (error.headers or {}).items()]
        if refused.close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


_NOT_UTF8 = object()


def _parsed(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:  # what orjson refuses but the route's parser takes: lone surrogates, UTF-16
        return json.loads(body)
    except UnicodeDecodeError:
        return _NOT_UTF8
    except ValueError:
        return None  # not JSON: the route answers invalid_request


def _json_media(content_type: bytes | None) -> bool:
    """Whether a route reads a body of this type as JSON (FastAPI's rule: none given,
    application/json, or application/…+json, in any case)."""
    if content_type is None:
        return True
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


def _not_utf8() -> ApiError:
    detail = [{"loc": ["body"], "msg": "the body is not UTF-8 JSON", "type": "json_invalid"}]
    return ApiError(422, "invalid_request", "the request body is not valid JSON (UTF-8)", detail)


def _close_unless_read(receive: Receive, send: Send) -> tuple[Receive, Send]:
    """For a client that waits for "100 Continue" before its body (curl does, past 1 KB): an
    answer given before the body was asked for (a refused key, a 403) closes the connection.
    The server sends the 100 only when the body is first read, so that client never sends the
    body, and on a kept connection its next request would be read as the awaited body."""
    asked = False

    async def reading() -> Message:
        nonlocal asked
        asked = True
        return await receive()

    async def answering(message: Message) -> None:
        if message["type"] == "http.response.start" and not asked:
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
            message = {**message, "headers": [*headers, (b"connection", b"close")]}
        await send(message)

    return reading, answering


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the app the body already read, then waits on the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "body_too_large", f"request bodies are limited to {limit} bytes")


def _too_slow(timeout: float) -> ApiError:
    return ApiError(408, "body_timeout", f"the body did not arrive within {timeout:g} s")


def _with_close(error: ApiError) -> ApiError:
    error.headers = {**(error.headers or {}), "Connection": "close"}
    return error

"""uvicorn's HTTP and WebSocket protocols with the limits a hostile client needs (issue 17).

``huashu serve`` runs these. httptools takes headers of any size and waits for them for ever,
and a WebSocket client that reads nothing holds its answers in the server's memory; so:

- a request's line and headers are limited to ``MAX_HEADER_BYTES`` (431) and must arrive
  within ``HEADER_TIMEOUT_S`` of the connection or of the previous response (408); a new
  connection that sends nothing is closed after that too;
- a WebSocket answer the client does not take in within ``WS_SEND_TIMEOUT_S`` closes the
  connection at once (its unsent answers are dropped).

The header count, body size and body time are checked by ``app.guard`` (any server).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_impl import WebSocketProtocol

from app.config import get_settings
from app.errors import ApiError

_REASONS = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


class _HeadTooLarge(Exception):
    """Raised from the parser's callbacks: httptools stops and uvicorn answers a 400, which
    ``send_400_response`` turns into this 431."""


class GuardedHttpTools(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self._max_header_bytes = settings.max_header_bytes
        self._header_timeout_s = settings.header_timeout_s
        self._header_bytes = 0
        self._head_bytes = 0  # the same, as the parser counts it
        self._head_too_large = False
        self._in_headers = True  # until the parser has the whole head of the request
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        if (
            self._in_headers
            and self._header_bytes > self._max_header_bytes
            and not self.transport.is_closing()
        ):
            self._refuse(
                431,
                "headers_too_large",
                f"a request's line and headers are limited to {self._max_header_bytes} bytes",
            )

    # The parser's own count: a whole request that arrives in one read has its headers
    # parsed (and the counter above reset) before data_received can look.
    def on_url(self, url: bytes) -> None:
        self._head_bytes += len(url)
        self._check_head()
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value) + 4  # ": " and CRLF
        self._check_head()
        super().on_header(name, value)

    def _check_head(self) -> None:
        if self._head_bytes > self._max_header_bytes:
            self._head_too_large = True
            raise _HeadTooLarge

    def send_400_response(self, msg: str) -> None:
        """A request httptools cannot parse (or one stopped by ``_HeadTooLarge``): the one
        error shape, never uvicorn's plain text."""
        if self._head_too_large:
            self._refuse(
                431,
                "headers_too_large",
                f"a request's line and headers are limited to {self._max_header_bytes} bytes",
            )
        else:
            self._refuse(400, "invalid_http", "the request is not valid HTTP/1.1")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        self._in_headers = True
        if self._header_timer is None:  # armed at the connection or the last response already
            self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._header_bytes = 0
        self._cancel_header_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_headers = True  # what comes next is the next request's head

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The keep-alive timeout closes an idle connection; the header timer, one that
        # has started the next request and not finished its head.
        self._header_bytes = 0

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self._header_timeout_s, self._headers_timed_out)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_timed_out(self) -> None:
        self._header_timer = None
        if not self._in_headers or self.transport.is_closing():
            return
        if self._header_bytes == 0:  # nothing sent at all: no answer owed
            self.transport.close()
            return
        self._refuse(
            408, "header_timeout", f"the request's headers did not arrive within {self._header_timeout_s:g} s"
        )

    def _refuse(self, status: int, code: str, message: str) -> None:
        """Answer in the one error shape and close: the rest of the request is never read."""
        self._cancel_header_timer()
        body = orjson.dumps(ApiError(status, code, message).body())
        head = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\n" % (status, _REASONS[status])
        head += b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body)
        self.transport.write(head + body)
        self.transport.close()
        self.logger.warning("refused a request: %s", code)


class GuardedWebSocket(WebSocketProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._send_timeout_s = get_settings().ws_send_timeout_s

    async def asgi_send(self, message: Any) -> None:
        if message["type"] != "websocket.send":
            await super().asgi_send(message)
            return
        try:
            await asyncio.wait_for(super().asgi_send(message), self._send_timeout_s)
        except TimeoutError:
            # The client has stopped reading: its unread answers fill the buffers. A close
            # frame would queue behind them, so the connection is dropped.
            self.logger.warning(
                "closed a WebSocket whose client took no answer for %g s", self._send_timeout_s
            )
            self.transport.abort()
            raise ClientDisconnected from None

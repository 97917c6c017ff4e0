"""The WebSocket protocol for agents' browser extensions.

Every frame gets exactly one answer. A bad frame (not JSON, binary, unknown type,
missing field, too large) is answered with an error frame and the connection stays open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.websockets import WebSocketState

from app.assistant import Assistant
from app.auth import KeyChecker, Principal, Role, allows
from app.config import DEFAULT_MAX_SOCKETS_PER_KEY
from app.errors import DATABASE_ERRORS, ApiError, database_unavailable
from app.guard import control_character_error, first_bad_character
from app.metrics import WS_FRAMES, WS_LATENCY, WS_OPEN, child
from app.schemas import (
    FRAME_TYPES,
    BuyerMessageFrame,
    ClientFrame,
    DraftFrame,
    FeedbackFrame,
    PingFrame,
    classification_body,
    lint_body,
    suggestions_body,
)

CLOSE_BAD_KEY = 4401
CLOSE_WRONG_ROLE = 4403
CLOSE_WRONG_ORIGIN = 4403
# Like HTTP 429: this key already holds MAX_SOCKETS_PER_KEY sockets on this worker. Not 4401 or
# 4403, which the extension takes as final: it retries this one with its back-off.
CLOSE_TOO_MANY_SOCKETS = 4429
# A client that keeps its key out of the URL offers the subprotocols "huashu" and "bearer.KEY".
SUBPROTOCOL = "huashu"
BEARER_PREFIX = "bearer."
CLOSE_TRY_LATER = 1013  # RFC 6455 "try again later": the database is down
_frames: TypeAdapter = TypeAdapter(ClientFrame)

router = APIRouter()
log = logging.getLogger("huashu")


class OpenSockets:
    """The agent sockets open on this worker, each with its key. Every ``interval`` seconds one
    query asks the database which of their keys are still live, and the sockets of a revoked
    key are closed with 4401: a revocation made anywhere (another worker, the CLI) reaches
    every open socket within the key cache's TTL, for one indexed query per interval.

    Each key may hold at most ``per_key`` of them: ``add`` says False beyond it. A socket's
    slot is freed by ``discard``, which the socket's handler calls however it ends, and which
    the revocation check calls as it closes one."""

    def __init__(self, keys: KeyChecker, interval: float, per_key: int = DEFAULT_MAX_SOCKETS_PER_KEY) -> None:
        self._keys = keys
        self.interval = interval
        self.per_key = per_key
        self._open: dict[int, tuple[WebSocket, int]] = {}  # id(socket) → (socket, key id)
        self._per_key: Counter[int] = Counter()
        self._failing = False

    def add(self, websocket: WebSocket, key_id: int) -> bool:
        """Counts the socket in, unless its key already holds ``per_key`` (then False)."""
        if self._per_key[key_id] >= self.per_key:
            return False
        self._open[id(websocket)] = (websocket, key_id)
        self._per_key[key_id] += 1
        return True

    def discard(self, websocket: WebSocket) -> None:
        gone = self._open.pop(id(websocket), None)
        if gone is not None:
            self._per_key[gone[1]] -= 1
            if not self._per_key[gone[1]]:
                del self._per_key[gone[1]]

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.check()

    async def check(self) -> None:
        if not self._open:
            return
        # Only the sockets whose keys are asked about: one opened during the query is not in
        # its answer, and closing it as revoked would be wrong (the extension stops retrying).
        asked = list(self._open.items())
        try:
            live = await asyncio.to_thread(self._keys.live, {key_id for _, (_, key_id) in asked})
        except SQLAlchemyError as exc:
            # Keep the sockets open through an outage; say so once, not every interval.
            if not self._failing:
                log.warning("cannot re-check open sockets' keys, the database is unavailable: %s", exc)
            self._failing = True
            return
        self._failing = False
        for number, (websocket, key_id) in asked:
            if key_id not in live and self._open.get(number, (None,))[0] is websocket:
                self.discard(websocket)
                # The socket may be closing on its own at this moment.
                with contextlib.suppress(RuntimeError, OSError):
                    await websocket.close(CLOSE_BAD_KEY, "API key revoked")


def _error(code: str, message: str, in_reply_to: Any = None, detail: Any = None) -> dict:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if in_reply_to is not None:
        frame["in_reply_to"] = in_reply_to
    if detail is not None:
        frame["detail"] = detail
    return frame


@router.websocket("/v1/ws")
async def agent_socket(websocket: WebSocket) -> None:
    state = websocket.app.state
    offered: list[str] = websocket.scope.get("subprotocols", [])
    # The key in a subprotocol ("bearer.hs_…") stays out of URLs and logs; ?token= is for old clients.
    in_header = next((p.removeprefix(BEARER_PREFIX) for p in offered if p.startswith(BEARER_PREFIX)), None)
    try:
        # In a thread, as REST's is (app/guard.py): a lookup must not hold up the other sockets.
        principal = await asyncio.to_thread(
            state.keys.check, in_header or websocket.query_params.get("token")
        )
    except DATABASE_ERRORS as exc:
        database_unavailable(exc)
        await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
        await websocket.close(CLOSE_TRY_LATER, "the database cannot be reached; try again shortly")
        return
    # Browsers cannot read a refused handshake's status, so accept and close with a code they can read.
    # The answer names "huashu" alone, never the key.
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    origin = websocket.headers.get("origin")
    settings = state.assistant.settings
    # Browsers always send an Origin; other clients (the CLI, load tests) send none.
    if origin is not None and origin not in (*settings.extension_origins, *settings.cors_origins):
        await websocket.close(CLOSE_WRONG_ORIGIN, "this origin may not use the agent socket")
        return
    if principal is None:
        await websocket.close(CLOSE_BAD_KEY, "unknown or revoked API key")
        return
    if not allows(principal.role, Role.AGENT):
        await websocket.close(CLOSE_WRONG_ROLE, "this key's role may not use the agent socket")
        return
    if not state.sockets.add(websocket, principal.key_id):
        limit = state.sockets.per_key
        # The one error shape first (a client can read its code), then the close code.
        with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
            await websocket.send_text(
                orjson.dumps(
                    _error(
                        "too_many_sockets",
                        f"this key already holds {limit} open sockets on this worker; close one",
                        detail={"limit": limit},
                    )
                ).decode()
            )
            await websocket.close(CLOSE_TOO_MANY_SOCKETS, "too many open sockets for this key")
        return
    # Counted in above: from here every way out (a close, an error, a send timeout) frees it.
    WS_OPEN.inc()
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            answer = await _answer(message, state.assistant, principal, state)
            try:
                await websocket.send_text(orjson.dumps(answer).decode())
            except RuntimeError:
                if websocket.application_state != WebSocketState.DISCONNECTED:
                    raise
                break  # closed meanwhile (key revoked): the client's close ends the loop
    except WebSocketDisconnect:
        pass  # gone, or closed by the server for not reading its answers (WS_SEND_TIMEOUT_S)
    finally:
        state.sockets.discard(websocket)
        WS_OPEN.dec()


async def _answer(message: Mapping[str, Any], assistant: Assistant, principal: Principal, state: Any) -> dict:
    started = time.perf_counter()
    text = message.get("text")
    if text is None:
        child(WS_FRAMES, "binary").inc()
        return _error("binary_not_supported", "send JSON text frames, not binary")
    if len(text.encode("utf-8")) > assistant.settings.max_frame_bytes:
        child(WS_FRAMES, "too_large").inc()
        return _error("frame_too_large", f"frames are limited to {assistant.settings.max_frame_bytes} bytes")
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        child(WS_FRAMES, "invalid_json").inc()
        return _error("invalid_json", f"frame is not valid JSON: {exc}")
    if not isinstance(raw, dict):
        return _error("invalid_frame", "a frame must be a JSON object with a 'type'")
    in_reply_to = raw.get("id") if isinstance(raw.get("id"), str | int) else None
    found = first_bad_character(raw)
    if found is not None:
        bad = control_character_error(*found)
        return _error(bad.code, bad.message, in_reply_to, bad.detail)
    if raw.get("type") not in FRAME_TYPES:
        child(WS_FRAMES, "unknown_type").inc()
        return _error("unknown_type", f"type must be one of {', '.join(FRAME_TYPES)}", in_reply_to)
    if not state.rate_limiter.allow(principal.key_id):
        return _error("rate_limited", "too many frames for this key; slow down", in_reply_to)
    try:
        frame = _frames.validate_python(raw)
    except ValidationError as exc:
        detail = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        return _error("invalid_frame", "frame fields do not match the protocol", in_reply_to, detail)
    try:
        answer = await _handle(frame, assistant, principal)
    except ApiError as exc:
        return _error(exc.code, exc.message, in_reply_to, exc.detail)
    except DATABASE_ERRORS as exc:
        down = database_unavailable(exc)
        return _error(down.code, down.message, in_reply_to)
    if in_reply_to is not None:
        answer["in_reply_to"] = in_reply_to
    child(WS_FRAMES, frame.type).inc()
    child(WS_LATENCY, frame.type).observe(time.perf_counter() - started)
    return answer


async def _handle(frame: Any, assistant: Assistant, principal: Principal) -> dict:
    if isinstance(frame, BuyerMessageFrame):
        classification, suggestions = await assistant.suggest(
            frame.text,
            conversation_id=frame.conversation_id,
            context=frame.context,
            shop_id=frame.shop_id,
            k=frame.k,
        )
        body = classification_body(classification)
        del body["tokens"]
        return {
            "type": "suggestions",
            "conversation_id": frame.conversation_id,
            **body,
            "suggestions": suggestions_body(suggestions),
        }
    if isinstance(frame, DraftFrame):
        result, nearest = assistant.lint(frame.text, profile=frame.profile, shop_id=frame.shop_id)
        return {"type": "lint", **lint_body(result, nearest)}
    if isinstance(frame, FeedbackFrame):
        await asyncio.to_thread(assistant.feedback, frame, key_id=principal.key_id)
        return {"type": "ack"}
    assert isinstance(frame, PingFrame)
    return {"type": "pong"}

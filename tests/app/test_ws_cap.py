"""MAX_SOCKETS_PER_KEY against the real server (`huashu serve`, one worker) and real clients
(`websockets`, and a raw socket that stops reading): one socket over the cap is answered with
the error frame `too_many_sockets` and closed with 4429, another key is unaffected, and a slot
is freed however its socket ends (a close, a dropped connection, a send timeout, a revocation)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.helpers import create_key, server_env, serving

CAP = 3
SEND_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def server(database_url, tmp_path_factory):
    env = server_env(
        database_url,
        tmp_path_factory,
        "cap",
        MAX_SOCKETS_PER_KEY=str(CAP),
        WS_SEND_TIMEOUT_S=str(SEND_TIMEOUT_S),
        RATE_LIMIT_PER_MINUTE="100000",
    )
    create_key(env, "agent", "cap-first")  # makes the schema before the server starts
    with serving(env, tmp_path_factory.mktemp("cap-log") / "server.log") as served:
        yield {"env": env, "ws": f"ws://127.0.0.1:{served.port}/v1/ws", "port": served.port}


def _url(server, key: str) -> str:
    return f"{server['ws']}?token={key}"


async def _ping(ws: ClientConnection) -> dict:
    await ws.send(json.dumps({"type": "ping"}))
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


async def _refusal(server, key: str) -> tuple[dict, int | None]:
    """What a socket over the cap gets: its one frame and the close code."""
    async with connect(_url(server, key)) as ws:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        return frame, closed.value.rcvd.code if closed.value.rcvd else None


async def _opens_within(server, key: str, seconds: float) -> ClientConnection:
    """A socket of ``key`` that answers a ping, tried until ``seconds`` have passed (the
    server frees a slot just after the socket's close, not before the client sees it)."""
    deadline = time.monotonic() + seconds
    while True:
        ws = await connect(_url(server, key))
        try:
            if await _ping(ws) == {"type": "pong"}:
                return ws
        except ConnectionClosed:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.1)


def test_the_socket_over_the_cap_is_refused_and_a_closed_one_frees_its_slot(server):
    key = create_key(server["env"], "agent", "cap-full")
    other = create_key(server["env"], "agent", "cap-other")

    async def scenario():
        held = [await connect(_url(server, key)) for _ in range(CAP)]
        for ws in held:
            assert await _ping(ws) == {"type": "pong"}
        frame, code = await _refusal(server, key)
        assert code == 4429
        assert frame["type"] == "error" and frame["code"] == "too_many_sockets"
        assert frame["detail"] == {"limit": CAP} and str(CAP) in frame["message"]
        # The one refused held no slot, and the key's sockets still answer.
        for ws in held:
            assert await _ping(ws) == {"type": "pong"}
        # Another key is unaffected: it gets its own CAP sockets meanwhile.
        others = [await connect(_url(server, other)) for _ in range(CAP)]
        for ws in others:
            assert await _ping(ws) == {"type": "pong"}
        # A normal close frees a slot: one more opens, and then the key is full again.
        await held.pop().close()
        held.append(await _opens_within(server, key, 5))
        assert (await _refusal(server, key))[1] == 4429
        # So does a connection dropped without a close frame.
        held.pop().transport.abort()
        held.append(await _opens_within(server, key, 5))
        assert (await _refusal(server, key))[1] == 4429
        for ws in held + others:
            await ws.close()
        # All closed: the key has its whole cap again.
        again = [await _opens_within(server, key, 5) for _ in range(CAP)]
        for ws in again:
            await ws.close()

    asyncio.run(scenario())


def _ws_frame(payload: bytes) -> bytes:
    """A masked client text frame (a raw socket's)."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        length = bytes([0x80 | size])
    elif size < 65536:
        length = b"\xfe" + size.to_bytes(2, "big")
    else:
        length = b"\xff" + size.to_bytes(8, "big")
    return b"\x81" + length + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _raw_socket_that_never_reads(server, key: str) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: a small window
    sock.settimeout(5)
    sock.connect(("127.0.0.1", server["port"]))
    nonce = base64.b64encode(os.urandom(16)).decode()
    head = (
        f"GET /v1/ws?token={key} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {nonce}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    sock.sendall(head.encode())
    handshake = b""
    while b"\r\n\r\n" not in handshake:
        handshake += sock.recv(1)
    assert handshake.startswith(b"HTTP/1.1 101")
    return sock


def test_a_socket_dropped_for_not_reading_frees_its_slot(server):
    key = create_key(server["env"], "agent", "cap-slow")

    async def scenario():
        held = [await connect(_url(server, key)) for _ in range(CAP - 1)]
        slow = await asyncio.to_thread(_raw_socket_that_never_reads, server, key)
        assert (await _refusal(server, key))[1] == 4429  # the slow one holds the last slot

        def flood() -> None:
            # Each draft is answered with hundreds of flags (tens of KB): answers pile up unread
            # until the server's send times out (WS_SEND_TIMEOUT_S) and it drops the connection.
            frame = _ws_frame(orjson.dumps({"type": "draft", "text": "最好的" * 600}))
            slow.settimeout(0.5)
            try:
                for _ in range(2000):
                    slow.sendall(frame)
            except OSError:
                pass  # the server stopped reading, or dropped us

        await asyncio.to_thread(flood)
        held.append(await _opens_within(server, key, SEND_TIMEOUT_S + 10))
        slow.close()
        for ws in held:
            await ws.close()

    asyncio.run(scenario())


def test_a_revoked_keys_sockets_free_their_slots():
    """The revocation check closes a revoked key's sockets and frees their slots at once
    (their handlers' own ``discard`` comes later and counts nothing twice)."""
    from app.api.ws import OpenSockets

    class Socket:
        closed: int | None = None

        async def close(self, code: int, reason: str) -> None:
            self.closed = code

    class Keys:
        revoked: set[int] = set()

        def live(self, key_ids: set[int]) -> set[int]:
            return key_ids - self.revoked

    keys = Keys()
    sockets = OpenSockets(keys, interval=1, per_key=2)  # type: ignore[arg-type]
    first, second, third, others = Socket(), Socket(), Socket(), [Socket(), Socket()]
    assert sockets.add(first, 1) and sockets.add(second, 1)  # type: ignore[arg-type]
    assert not sockets.add(third, 1)  # type: ignore[arg-type]
    assert all(sockets.add(ws, 2) for ws in others)  # type: ignore[arg-type]
    keys.revoked = {1}
    asyncio.run(sockets.check())
    assert (first.closed, second.closed) == (4401, 4401) and {ws.closed for ws in others} == {None}
    for ws in (first, second):
        sockets.discard(ws)  # type: ignore[arg-type]  # the handlers' finally, afterwards
    # Key 1's two slots are free (once, not twice: a third add is still refused) and key 2's
    # stay held.
    assert sockets.add(first, 1) and sockets.add(second, 1)  # type: ignore[arg-type]
    assert not sockets.add(third, 1)  # type: ignore[arg-type]
    assert not sockets.add(Socket(), 2)  # type: ignore[arg-type]


def test_the_setting_zero_means_the_default_and_a_negative_is_refused():
    from pydantic import ValidationError

    from app.config import DEFAULT_MAX_SOCKETS_PER_KEY, Settings

    assert Settings().max_sockets_per_key == DEFAULT_MAX_SOCKETS_PER_KEY == 64
    assert Settings(max_sockets_per_key=0).max_sockets_per_key == DEFAULT_MAX_SOCKETS_PER_KEY
    assert Settings(max_sockets_per_key=5).max_sockets_per_key == 5
    with pytest.raises(ValidationError, match="MAX_SOCKETS_PER_KEY"):
        Settings(max_sockets_per_key=-1)

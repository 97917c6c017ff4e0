"""The edge against the real server (`huashu serve`, uvicorn, in a subprocess), driven by raw
sockets as a hostile or careless client would (issue 17, findings 2 and 3): chunked bodies
counted as they stream and refused before the key is known, header limits, slow clients.

The edge does not depend on the back-end, so these run on SQLite only."""

from __future__ import annotations

import base64
import os
import re
import socket
import threading
import time

import httpx
import orjson
import pytest

from tests.helpers import bearer, closed_by_server, create_key, fresh_database, rss_mb, serving

TIMEOUT_S = 1.0  # the server's header, body and WebSocket send timeouts here
CHUNK = b"x" * 65536


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with fresh_database("sqlite", tmp_path_factory) as url:
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "CACHE_DIR": str(tmp_path_factory.mktemp("edge-cache")),
            "HEADER_TIMEOUT_S": str(TIMEOUT_S),
            "BODY_TIMEOUT_S": str(TIMEOUT_S),
            "WS_SEND_TIMEOUT_S": str(TIMEOUT_S),
            "KEEP_ALIVE_TIMEOUT_S": "2",
            "MAX_IMPORT_BYTES": str(1024 * 1024),
            "RATE_LIMIT_PER_MINUTE": "100000",
        }
        keys = {role: create_key(env, role, f"edge-{role}") for role in ("agent", "editor")}
        with serving(env, tmp_path_factory.mktemp("edge-log") / "server.log") as served:
            yield served, keys


def _connect(server, timeout: float = 5) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server[0].port), timeout=timeout)


def _head(host: str, method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP response (status, lower-cased headers, body); raises on EOF before it."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            raise ConnectionError(f"closed before a response: {data!r}")
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        piece = sock.recv(65536)
        if not piece:
            break
        body += piece
    return int(status_line.split()[1]), headers, body


def _error_code(body: bytes) -> str:
    return orjson.loads(body)["error"]["code"]


def _stream_chunked(server, path: str, headers: dict[str, str], total: int) -> tuple[int, str, int]:
    """Sends a chunked body of ``total`` bytes (as fast as the server takes it) while reading
    the response; returns (status, error code, bytes the server took before answering)."""
    sock = _connect(server)
    head = {"Transfer-Encoding": "chunked", "Content-Type": "application/json", **headers}
    sock.sendall(_head("127.0.0.1", "POST", path, head))
    answer: dict = {}
    sent = 0

    def read() -> None:
        try:
            answer["response"] = _read_response(sock)
            answer["at"] = sent
        except OSError as exc:
            answer["error"] = exc

    reader = threading.Thread(target=read)
    reader.start()
    try:
        while sent < total and reader.is_alive():
            sock.sendall(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
            sent += len(CHUNK)
    except OSError:
        pass  # the server answered and closed: the rest was never read
    reader.join(10)
    sock.close()
    status, _, body = answer["response"]
    return status, _error_code(body), answer["at"]


def test_a_chunked_body_without_a_key_is_refused_before_it_is_read(server):
    """The finding: four 50 MB chunked bodies with no key cost +325 MB before their 401."""
    before = rss_mb(server[0].pid)
    for headers in ({}, {"Authorization": "Bearer hs_not-a-key"}, {}, {"Authorization": "Basic x"}):
        status, code, taken = _stream_chunked(server, "/v1/suggest", headers, 50 * 1024 * 1024)
        assert (status, code) == (401, "unauthorized")
        assert taken < 8 * 1024 * 1024  # answered at once, not after the 50 MB
    assert rss_mb(server[0].pid) - before < 20
    assert httpx.get(f"{server[0].base}/healthz").status_code == 200


def test_a_chunked_body_over_the_limit_is_refused_as_it_streams(server):
    agent = bearer(server[1]["agent"])
    before = rss_mb(server[0].pid)
    for _ in range(4):
        status, code, taken = _stream_chunked(server, "/v1/suggest", agent, 50 * 1024 * 1024)
        assert (status, code) == (413, "body_too_large")
        assert taken < 8 * 1024 * 1024
    # The import's larger limit (1 MB here) is counted as it streams too.
    editor = bearer(server[1]["editor"])
    status, code, taken = _stream_chunked(server, "/v1/corpus/import", editor, 50 * 1024 * 1024)
    assert (status, code) == (413, "body_too_large") and taken < 8 * 1024 * 1024
    assert rss_mb(server[0].pid) - before < 20


def test_a_declared_length_over_the_limit_is_refused_unread(server):
    sock = _connect(server)
    head = {**bearer(server[1]["agent"]), "Content-Type": "application/json", "Content-Length": "10000000"}
    sock.sendall(_head("127.0.0.1", "POST", "/v1/suggest", head))
    status, headers, body = _read_response(sock)
    assert (status, _error_code(body), headers["connection"]) == (413, "body_too_large", "close")
    sock.close()


def test_a_chunked_body_within_the_limit_is_answered_on_a_kept_connection(server):
    sock = _connect(server)
    body = orjson.dumps({"text": "什么时候发货", "k": 2})
    head = {**bearer(server[1]["agent"]), "Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    for _ in range(2):  # the same connection answers the next request
        sock.sendall(_head("127.0.0.1", "POST", "/v1/suggest", head))
        sock.sendall(b"%x\r\n%s\r\n" % (5, body[:5]) + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body) - 5, body[5:]))
        status, _, answer = _read_response(sock)
        assert status == 200 and orjson.loads(answer)["intent"] == "logistics"
    sock.close()


def test_huge_or_countless_headers_are_refused(server):
    before = rss_mb(server[0].pid)
    for _ in range(20):  # the finding: twenty unfinished 8 MB headers cost +175 MB
        sock = _connect(server)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
        try:
            for _ in range(128):
                sock.sendall(CHUNK)
        except OSError:
            pass
        status, headers, body = _read_response(sock)
        assert (status, _error_code(body)) == (431, "headers_too_large")
        assert closed_by_server(sock, 5)
        sock.close()
    assert rss_mb(server[0].pid) - before < 20
    sock = _connect(server)
    many = {f"X-H{i}": "1" for i in range(150)}
    sock.sendall(_head("127.0.0.1", "GET", "/healthz", many))
    status, headers, body = _read_response(sock)
    assert (status, _error_code(body), headers["connection"]) == (431, "too_many_headers", "close")
    sock.close()


def test_half_sent_requests_and_idle_connections_are_closed(server):
    half = []
    for _ in range(50):
        sock = _connect(server)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        half.append(sock)
    idle = [_connect(server) for _ in range(10)]
    started = time.monotonic()
    for sock in half:
        status, _, body = _read_response(sock)
        assert (status, _error_code(body)) == (408, "header_timeout")
        assert closed_by_server(sock, 5)
        sock.close()
    for sock in idle:
        assert closed_by_server(sock, 5)
        sock.close()
    assert time.monotonic() - started < TIMEOUT_S + 5
    assert httpx.get(f"{server[0].base}/healthz").status_code == 200


def test_a_slow_body_is_refused(server):
    sock = _connect(server)
    head = {**bearer(server[1]["agent"]), "Content-Type": "application/json", "Content-Length": "100"}
    sock.sendall(_head("127.0.0.1", "POST", "/v1/suggest", head) + b'{"text": "')
    started = time.monotonic()
    status, headers, body = _read_response(sock)
    assert (status, _error_code(body), headers["connection"]) == (408, "body_timeout", "close")
    sock.close()
    assert TIMEOUT_S - 0.1 < time.monotonic() - started < TIMEOUT_S + 3
    # An import's body is streamed to its route: each piece must come in time too.
    sock = _connect(server)
    head = {**bearer(server[1]["editor"]), "Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    sock.sendall(_head("127.0.0.1", "POST", "/v1/corpus/import", head) + b"2\r\n{ \r\n")
    status, headers, body = _read_response(sock)
    assert (status, _error_code(body), headers["connection"]) == (408, "body_timeout", "close")
    sock.close()


def _ws_frame(payload: bytes) -> bytes:
    """A masked text frame, as a client sends."""
    mask = os.urandom(4)
    size = len(payload)
    length = bytes([0x80 | size]) if size < 126 else b"\xfe" + size.to_bytes(2, "big")
    if size >= 65536:
        length = b"\xff" + size.to_bytes(8, "big")
    return b"\x81" + length + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _open_websockets(server) -> float:
    text = httpx.get(f"{server[0].base}/metrics").text
    return float(re.search(r"^huashu_websockets_open (\S+)$", text, re.MULTILINE).group(1))


def test_a_websocket_client_that_never_reads_is_closed(server):
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: a small window
    sock.settimeout(5)
    sock.connect(("127.0.0.1", server[0].port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        _head(
            "127.0.0.1",
            "GET",
            f"/v1/ws?token={server[1]['agent']}",
            {
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Key": key,
                "Sec-WebSocket-Version": "13",
            },
        )
    )
    handshake = b""
    while b"\r\n\r\n" not in handshake:
        handshake += sock.recv(1)
    assert handshake.startswith(b"HTTP/1.1 101")
    assert _open_websockets(server) == 1
    # Each draft is answered with hundreds of flags (tens of KB): answers pile up unread.
    frame = _ws_frame(orjson.dumps({"type": "draft", "text": "最好的" * 600}))
    sock.settimeout(0.5)
    sent = 0
    try:
        for sent in range(1, 2000):  # noqa: B007 - counted for the message below
            sock.sendall(frame)
    except OSError:
        pass  # the server stopped reading (blocked on its answers), or dropped us
    deadline = time.monotonic() + TIMEOUT_S + 10
    while _open_websockets(server) != 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _open_websockets(server) == 0, f"still open after {sent} frames"
    assert closed_by_server(sock, 10)
    sock.close()
    assert httpx.get(f"{server[0].base}/healthz").status_code == 200

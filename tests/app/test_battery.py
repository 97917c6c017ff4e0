"""The bad-input battery (issue 17): what a hostile or careless client sends, against the real
server (``huashu serve`` in a subprocess, a fresh SQLite file, real keys), over raw sockets so
that nothing is tidied on the way.

Each case is a record in one of the tables below, run by one parametrized test per table. Every
case asserts the status (or WebSocket answer or close code) and the error code in the one error
shape, then that the connection is still usable where it should be (REST: the next request on
the same keep-alive connection is answered; WebSocket: the same socket answers a ping) or closed
where it should be, and finally that ``/healthz`` still answers on a new connection. The server's
timeouts are made small here (``TIMEOUT_S``), so the slow-client cases take about a second each.

The edge does not depend on the back-end (PostgreSQL's own NUL refusal is what the edge spares
it), so the battery runs on SQLite only.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import socket
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest

from app.schemas import ClassifyRequest
from tests.helpers import bearer, closed_by_server, fresh_database, serving

TIMEOUT_S = 1.0  # header, body and WebSocket send timeouts of the server under test
KEY_TTL_S = 1.0  # KEY_CACHE_TTL_S: a revoked key's sockets close within this (and a check)
MAX_FRAME = 8192  # MAX_FRAME_BYTES: a REST body or WebSocket frame
MAX_TEXT = 300  # MAX_TEXT_CHARS
MAX_HEADER_BYTES = 8192
RATE = 40  # RATE_LIMIT_PER_MINUTE: each case draws keys of its own, so only the burst meets it
SOCKETS_PER_KEY = 2  # MAX_SOCKETS_PER_KEY: likewise met only by the case that opens more
EXTENSION_ORIGIN = "chrome-extension://flapildekbehpedkkhmkhkhjefhhlmlo"
BIG = 10**20
I64 = 2**63
STALE_REPLY = "battery-stale"  # created, then edited once: version 1 is stale


# --------------------------------------------------------------------------------------------
# The server and its keys


@dataclass
class Target:
    port: int
    pid: int
    log: Any
    database_url: str
    pools: dict[str, Iterator[str]]
    key_ids: dict[str, int]

    def key(self, role: str | None) -> str | None:
        """A fresh key of ``role`` for one case (so cases never share a rate-limit bucket);
        "revoked": a revoked agent key; "unknown": well-formed, never issued."""
        if role is None:
            return None
        if role == "unknown":
            return "hs_" + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
        return next(self.pools[role])

    def revoke(self, key: str) -> None:
        from sqlmodel import Session

        from app import store

        database = store.connect(self.database_url)
        try:
            with Session(database) as session:
                store.revoke_api_key(session, key_id=self.key_ids[key])
        finally:
            database.dispose()


@pytest.fixture(scope="module")
def target(tmp_path_factory) -> Iterator[Target]:
    from sqlmodel import Session

    from app import auth, store

    with fresh_database("sqlite", tmp_path_factory) as url:
        database = store.connect(url)
        store.upgrade(database)
        pools: dict[str, list[str]] = {"agent": [], "editor": [], "admin": [], "revoked": []}
        key_ids: dict[str, int] = {}
        for role, count in (("agent", 160), ("editor", 60), ("admin", 10), ("revoked", 10)):
            for number in range(count):
                made, record = auth.create_key(
                    database,
                    name=f"battery-{role}-{number}",
                    role=auth.Role(role if role != "revoked" else "agent"),
                )
                assert record.id is not None
                pools[role].append(made)
                key_ids[made] = record.id
        with Session(database) as session:
            for revoked in pools["revoked"]:
                store.revoke_api_key(session, key_id=key_ids[revoked])
        database.dispose()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "CACHE_DIR": str(tmp_path_factory.mktemp("battery-cache")),
            "HEADER_TIMEOUT_S": str(TIMEOUT_S),
            "BODY_TIMEOUT_S": str(TIMEOUT_S),
            "WS_SEND_TIMEOUT_S": str(TIMEOUT_S),
            "KEEP_ALIVE_TIMEOUT_S": "5",
            "KEY_CACHE_TTL_S": str(KEY_TTL_S),
            "MAX_FRAME_BYTES": str(MAX_FRAME),
            "MAX_TEXT_CHARS": str(MAX_TEXT),
            "MAX_HEADER_BYTES": str(MAX_HEADER_BYTES),
            "MAX_HEADERS": "50",
            "RATE_LIMIT_PER_MINUTE": str(RATE),
            "MAX_SOCKETS_PER_KEY": str(SOCKETS_PER_KEY),
            "ALLOWED_HOSTS": '["127.0.0.1", "localhost"]',
        }
        log = tmp_path_factory.mktemp("battery-log") / "server.log"
        with serving(env, log) as served:
            editor = bearer(pools["editor"].pop())
            # A reply at version 2, made through the API, so that version 1 is a stale edit.
            made = httpx.post(
                f"{served.base}/v1/replies", json={**_REPLY_BODY, "id": STALE_REPLY}, headers=editor
            )
            assert made.status_code == 201, made.text
            edited = httpx.patch(
                f"{served.base}{REPLY}", json={"version": 1, "tags": ["battery"]}, headers=editor
            )
            assert edited.json()["version"] == 2, edited.text
            yield Target(served.port, served.pid, log, url, {r: iter(k) for r, k in pools.items()}, key_ids)


# --------------------------------------------------------------------------------------------
# A raw HTTP/1.1 client: one connection, requests written byte for byte


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    after: bytes = b""  # what came after it: a WebSocket's first frames, after its 101

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def code(self) -> str | None:
        """The error code of the one error shape; None for another body."""
        try:
            body = self.json
        except orjson.JSONDecodeError:
            return None
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            return body["error"].get("code")
        return None


def connect(target: Target, timeout: float = 10) -> socket.socket:
    return socket.create_connection(("127.0.0.1", target.port), timeout=timeout)


def read_response(sock: socket.socket, data: bytes = b"") -> Response:
    """The next final response (an interim "100 Continue" is skipped)."""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            raise ConnectionError(f"closed before a response: {data[:200]!r}")
        data += piece
    head, _, rest = data.partition(b"\r\n\r\n")
    if head.startswith(b"HTTP/1.1 100 "):
        return read_response(sock, rest)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        piece = sock.recv(65536)
        if not piece:
            break
        rest += piece
    return Response(int(status_line.split()[1]), headers, rest[:length], rest[length:])


def request_bytes(
    method: str,
    path: str,
    *,
    host: str | None = "127.0.0.1",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    chunked: bool = False,
    length: int | None = None,
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
        payload = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n"
    else:
        if body or length is not None:
            lines.append(f"Content-Length: {len(body) if length is None else length}")
        payload = body
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + payload


def healthz_on(sock: socket.socket) -> Response:
    sock.sendall(request_bytes("GET", "/healthz"))
    return read_response(sock)


def assert_healthy(target: Target) -> None:
    with connect(target) as sock:
        answer = healthz_on(sock)
    assert (answer.status, answer.json) == (200, {"status": "ok"})


# --------------------------------------------------------------------------------------------
# REST cases


def _json(value: Any) -> bytes:
    return orjson.dumps(value)


@dataclass(frozen=True)
class Http:
    name: str
    method: str
    path: str
    status: int
    code: str | None = None  # the error code; None: not an error
    body: Any = None  # dict/list → JSON; str or bytes: sent as they are
    key: str | None = "agent"  # the Bearer key's role: a Target.key role, or None for none
    headers: dict[str, str] = field(default_factory=dict)
    host: str | None = "127.0.0.1"
    chunked: bool = False
    length: int | None = None  # a declared Content-Length, when not the body's
    raw: bytes | Callable[[Target], bytes] | None = None  # the whole request, as sent
    kept: bool = True  # True: the same connection answers the next request; False: closed
    burst: int = 0  # > 0: send the same request up to this many times, until it is refused
    check: Callable[[Response, str], None] | None = None  # more assertions: (response, typed text)

    def encoded(self, target: Target) -> bytes:
        if callable(self.raw):
            return self.raw(target)
        if self.raw is not None:
            return self.raw
        headers = dict(self.headers)
        key = target.key(self.key)
        if key is not None:
            headers.setdefault("Authorization", f"Bearer {key}")
        body = self.body
        if isinstance(body, dict | list):
            body = _json(body)
        elif isinstance(body, str):
            body = body.encode("utf-8")
        if body is not None:
            headers.setdefault("Content-Type", "application/json")
        return request_bytes(
            self.method,
            self.path.format(port=target.port),
            host=self.host,
            headers=headers,
            body=body or b"",
            chunked=self.chunked,
            length=self.length,
        )


def _no_location(response: Response, _: str) -> None:
    assert "evil" not in response.headers.get("location", "")
    assert b"evil" not in response.body


def _retry_after(response: Response, _: str) -> None:
    assert int(response.headers["retry-after"]) >= 1
    assert response.json["error"]["detail"]["retry_after_s"] >= 1


def _intent(name: str) -> Callable[[Response, str], None]:
    def check(response: Response, _: str) -> None:
        assert response.json["intent"] == name

    return check


def _codepoint(codepoint: str) -> Callable[[Response, str], None]:
    def check(response: Response, _: str) -> None:
        assert response.json["error"]["detail"]["codepoint"] == codepoint

    return check


def _refused_item(code: str) -> Callable[[Response, str], None]:
    """An import refused whole, for an item refused with ``code``."""

    def check(response: Response, _: str) -> None:
        report = response.json["error"]["detail"]
        assert report["applied"] is False and report["created"] == []
        assert [item["code"] for item in report["refused"]] == [code]

    return check


def _allow(methods: str) -> Callable[[Response, str], None]:
    def check(response: Response, _: str) -> None:
        assert set(response.headers["allow"].replace(" ", "").split(",")) == set(methods.split(","))

    return check


def _slow_chunked(target: Target) -> bytes:
    """Headers and the first chunk of a body that never ends."""
    head = {"Authorization": f"Bearer {target.key('agent')}", "Content-Type": "application/json"}
    return (
        request_bytes("POST", SUGGEST, headers=head, chunked=True).removesuffix(b"0\r\n\r\n") + b"2\r\n{ \r\n"
    )


def _awaiting_continue(path: str, role: str | None) -> Callable[[Target], bytes]:
    """The head of a request whose client sends its body only after "100 Continue"."""

    def head(target: Target) -> bytes:
        key = target.key(role)
        headers = {"Content-Type": "application/json", "Expect": "100-continue"}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return request_bytes("POST", path, headers=headers, length=20)

    return head


SUGGEST, LINT, CLASSIFY, FEEDBACK = "/v1/suggest", "/v1/lint", "/v1/classify", "/v1/feedback"
_POST = b"POST /v1/suggest HTTP/1.1\r\nHost: 127.0.0.1\r\n"  # a raw request's first lines
REPLY = f"/v1/replies/{STALE_REPLY}"
_REPLY_BODY = {"text": "亲，您好，已为您备注", "intents": ["other"]}
_FORBIDS_EXTRA = ClassifyRequest.model_config.get("extra") == "forbid"
IMPORT = "/v1/corpus/import?dry_run=false"
_YAML = {"Content-Type": "application/yaml"}
_YAML_NUL = 'replies:\n  - id: nul-text\n    text: "\\u4eb2\\0"\n    intents: [other]\n'
_YAML_BIG = f"replies:\n  - id: big-version\n    version: {BIG}\n    text: 亲，好的\n    intents: [other]\n"
_BOUNDARY = "battery-boundary"


def _multipart(content: bytes) -> bytes:
    """A form with the file in the field "file", as the studio sends it."""
    return (
        (
            f"--{_BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="file"; filename="corpus.yaml"\r\n'
            "Content-Type: application/yaml\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{_BOUNDARY}--\r\n".encode()
    )


_HEAD_PAD = "x" * (MAX_HEADER_BYTES + 2000)

HTTP_CASES: list[Http] = [
    # NUL and other control characters, wherever a client can put them (issue 17 #1): 422.
    Http(
        "nul in text",
        "POST",
        SUGGEST,
        422,
        "control_character",
        {"text": "包邮吗\x00"},
        check=_codepoint("U+0000"),
    ),
    Http(
        "nul in conversation_id",
        "POST",
        SUGGEST,
        422,
        "control_character",
        {"text": "包邮吗", "conversation_id": "c\x00"},
    ),
    Http(
        "nul in classify conversation_id",
        "POST",
        CLASSIFY,
        422,
        "control_character",
        {"text": "包邮吗", "conversation_id": "\x00"},
    ),
    Http(
        "nul in feedback text",
        "POST",
        FEEDBACK,
        422,
        "control_character",
        {"reply_id": STALE_REPLY, "action": "edited", "final_text": "好的\x00亲"},
    ),
    Http(
        "nul in feedback reply_id",
        "POST",
        FEEDBACK,
        422,
        "control_character",
        {"reply_id": "a\x00b", "action": "used"},
    ),
    Http(
        "nul in a json key",
        "POST",
        SUGGEST,
        422,
        "control_character",
        {"text": "包邮吗", "context": {"cou\x00rier": "顺丰"}},
    ),
    Http(
        "escape char in lint text",
        "POST",
        LINT,
        422,
        "control_character",
        {"text": "可能\x1b[31m吧"},
        check=_codepoint("U+001B"),
    ),
    Http("C1 control (NEL)", "POST", SUGGEST, 422, "control_character", {"text": "包邮\x85吗"}),
    Http(
        "lone surrogate escape", "POST", SUGGEST, 422, "control_character", b'{"text": "\\ud800\xe5\x8c\x85"}'
    ),
    Http("raw NUL byte in a JSON string", "POST", SUGGEST, 422, "invalid_request", b'{"text": "a\x00b"}'),
    Http(
        "nul in reply text",
        "POST",
        "/v1/replies",
        422,
        "control_character",
        {**_REPLY_BODY, "id": "nul-reply", "text": "亲\x00"},
        key="editor",
    ),
    Http(
        "nul in PUT path id",
        "PUT",
        "/v1/replies/ab%00c",
        422,
        "control_character",
        {**_REPLY_BODY, "version": 1},
        key="editor",
    ),
    Http("nul in GET path id", "GET", "/v1/replies/ab%00c", 422, "control_character", key="editor"),
    Http("nul in query", "GET", "/v1/replies?q=%00", 422, "control_character", key="editor"),
    Http(
        "nul in a repeated query name",
        "GET",
        "/v1/replies?q=%00&q=ok",
        422,
        "control_character",
        key="editor",
    ),
    Http(
        "nul with a +json content type",
        "POST",
        SUGGEST,
        422,
        "control_character",
        {"text": "包邮\x00"},
        headers={"Content-Type": "application/merge-patch+json"},
    ),
    Http(
        "nul with an upper-case content type",
        "POST",
        SUGGEST,
        422,
        "control_character",
        {"text": "包邮\x00"},
        headers={"Content-Type": "Application/JSON; charset=UTF-8"},
    ),
    Http("tab and newline are fine", "POST", SUGGEST, 200, None, {"text": "包邮吗\n\t谢谢"}),
    # Huge integers (issue 17 #1): bounded in the schemas, so a 422 and never a database overflow.
    Http("offset 10^20", "GET", f"/v1/replies?offset={BIG}", 422, "invalid_request", key="editor"),
    Http("rules offset 2^63", "GET", f"/v1/lint-rules?offset={I64}", 422, "invalid_request", key="editor"),
    Http(
        "a rule pattern that backtracks exponentially",
        "POST",
        "/v1/lint-rules",
        422,
        "invalid_rule",
        {
            "id": "stalls-lint",
            "category": "rude",
            "severity": "warn",
            "suggestion": "亲，我帮您看看哦",
            "kind": "pattern",
            "phrases": ["(好+)+差"],
        },
        key="editor",
    ),
    Http(
        "a rule pattern whose repeated choice splits one text two ways",
        "POST",
        "/v1/lint-rules",
        422,
        "invalid_rule",
        {
            "id": "stalls-lint-too",
            "category": "rude",
            "severity": "warn",
            "suggestion": "亲，我帮您看看哦",
            "kind": "pattern",
            "phrases": ["(?:差|差差)+评"],
        },
        key="editor",
    ),
    Http("audit offset 2^63", "GET", f"/v1/audit?offset={I64}", 422, "invalid_request", key="editor"),
    Http("limit 10^20", "GET", f"/v1/replies?limit={BIG}", 422, "invalid_request", key="editor"),
    Http("negative offset", "GET", "/v1/replies?offset=-1", 422, "invalid_request", key="editor"),
    Http(
        "PUT version 10^20",
        "PUT",
        REPLY,
        422,
        "invalid_request",
        f'{{"text": "亲", "intents": ["other"], "version": {BIG}}}',
        key="editor",
    ),
    Http("PATCH version 2^63", "PATCH", REPLY, 422, "invalid_request", f'{{"version": {I64}}}', key="editor"),
    Http("DELETE version 10^20", "DELETE", f"{REPLY}?version={BIG}", 422, "invalid_request", key="editor"),
    Http(
        "rule DELETE version 2^63",
        "DELETE",
        f"/v1/lint-rules/none?version={I64}",
        422,
        "invalid_request",
        key="editor",
    ),
    Http("k 10^20", "POST", SUGGEST, 422, "invalid_request", f'{{"text": "包邮吗", "k": {BIG}}}'),
    Http("k 1e400", "POST", SUGGEST, 422, "invalid_request", '{"text": "包邮吗", "k": 1e400}'),
    Http(
        "audit since past UTC's end",
        "GET",
        "/v1/audit?since=9999-12-31T23:59:59-23:00",
        422,
        "invalid_request",
        key="editor",
    ),
    Http(
        "audit since before UTC's start",
        "GET",
        "/v1/audit?since=0001-01-01T00:00:00%2B23:00",
        422,
        "invalid_request",
        key="editor",
    ),
    # A corpus file is streamed to its route, past the edge's JSON check: its items are checked.
    Http(
        "import with NUL in a reply",
        "POST",
        IMPORT,
        422,
        "import_refused",
        _YAML_NUL,
        key="editor",
        headers=_YAML,
        check=_refused_item("control_character"),
    ),
    Http(
        "import with NUL in JSON",
        "POST",
        IMPORT,
        422,
        "import_refused",
        {
            "lint_rules": [
                {"id": "n", "category": "x", "severity": "warn", "suggestion": "\x00", "phrases": ["abc"]}
            ]
        },
        key="editor",
        check=_refused_item("control_character"),
    ),
    Http(
        "import version 10^20",
        "POST",
        IMPORT,
        422,
        "import_refused",
        _YAML_BIG,
        key="editor",
        headers=_YAML,
        check=_refused_item("invalid_request"),
    ),
    Http(
        "multipart import with NUL",
        "POST",
        IMPORT,
        422,
        "import_refused",
        _multipart(_YAML_NUL.encode()),
        key="editor",
        headers={"Content-Type": f"multipart/form-data; boundary={_BOUNDARY}"},
        check=_refused_item("control_character"),
    ),
    Http(
        "multipart without a boundary",
        "POST",
        IMPORT,
        422,
        "malformed_import",
        _multipart(b"replies: []"),
        key="editor",
        headers={"Content-Type": "multipart/form-data"},
    ),
    Http(
        "multipart cut short",
        "POST",
        IMPORT,
        422,
        "malformed_import",
        _multipart(b"replies: []")[:60],
        key="editor",
        headers={"Content-Type": f"multipart/form-data; boundary={_BOUNDARY}"},
    ),
    Http(
        "CSV import with NUL",
        "POST",
        IMPORT,
        422,
        "import_refused",
        "id,text,intents\nnul-csv,亲\x00好,other\n",
        key="editor",
        headers={"Content-Type": "text/csv"},
        check=_refused_item("control_character"),
    ),
    # Not JSON, or JSON of the wrong shape.
    Http("truncated JSON", "POST", SUGGEST, 422, "invalid_request", '{"text": '),
    Http("form body as JSON", "POST", SUGGEST, 422, "invalid_request", "text=hi"),
    Http("invalid UTF-8", "POST", SUGGEST, 422, "invalid_request", b'{"text": "\xff\xfe"}'),
    Http("JSON array body", "POST", SUGGEST, 422, "invalid_request", [1, 2]),
    Http(
        "empty JSON body",
        "POST",
        SUGGEST,
        422,
        "invalid_request",
        b"",
        length=0,
        headers={"Content-Type": "application/json"},
    ),
    Http("missing text", "POST", SUGGEST, 422, "invalid_request", {}),
    Http("text a number", "POST", SUGGEST, 422, "invalid_request", {"text": 5}),
    Http("text a list", "POST", LINT, 422, "invalid_request", {"text": ["可能吧"]}),
    Http("k a string", "POST", SUGGEST, 422, "invalid_request", {"text": "包邮吗", "k": "many"}),
    Http("context a list", "POST", SUGGEST, 422, "invalid_request", {"text": "包邮吗", "context": ["顺丰"]}),
    Http(
        "unknown feedback action",
        "POST",
        FEEDBACK,
        422,
        "invalid_request",
        {"reply_id": STALE_REPLY, "action": "liked"},
    ),
    Http(
        "unknown lint profile", "POST", LINT, 422, "invalid_request", {"text": "可能吧", "profile": "amazon"}
    ),
    Http(
        "unknown intent",
        "POST",
        "/v1/replies",
        422,
        "invalid_request",
        {**_REPLY_BODY, "id": "bad-intent", "intents": ["teleport"]},
        key="editor",
    ),
    # An unknown field is refused where the request model says so (and so the OpenAPI
    # document), else ignored; either way a typed answer.
    Http(
        "unknown field",
        "POST",
        CLASSIFY,
        422 if _FORBIDS_EXTRA else 200,
        "invalid_request" if _FORBIDS_EXTRA else None,
        {"text": "什么时候发货", "colour": "red"},
        check=None if _FORBIDS_EXTRA else _intent("logistics"),
    ),
    # Empty text is refused; an impatient buyer's ？？？ is a message (issue 17 #9).
    Http("empty text", "POST", SUGGEST, 422, "empty_text", {"text": ""}),
    Http("invisible text", "POST", SUGGEST, 422, "empty_text", {"text": "\u200b\u3000 \ufeff"}),
    Http("？？？ suggested", "POST", SUGGEST, 200, None, {"text": "？？？"}, check=_intent("other")),
    Http("？？？ classified", "POST", CLASSIFY, 200, None, {"text": "？？？"}, check=_intent("other")),
    Http("text over MAX_TEXT_CHARS", "POST", SUGGEST, 413, "text_too_long", {"text": "a" * (MAX_TEXT + 1)}),
    # Bodies over the limit, with and without a length (issue 17 #2); the key before the body.
    Http(
        "declared length over the limit",
        "POST",
        SUGGEST,
        413,
        "body_too_large",
        b"",
        length=MAX_FRAME * 100,
        kept=False,
    ),
    Http(
        "chunked body over the limit",
        "POST",
        SUGGEST,
        413,
        "body_too_large",
        {"text": "好" * MAX_FRAME},
        chunked=True,
        kept=False,
    ),
    Http(
        "chunked body within the limit",
        "POST",
        SUGGEST,
        200,
        None,
        {"text": "什么时候发货"},
        chunked=True,
        check=_intent("logistics"),
    ),
    Http(
        "chunked body without a key",
        "POST",
        SUGGEST,
        401,
        "unauthorized",
        {"text": "包邮吗"},
        key=None,
        chunked=True,
        kept=False,
    ),
    Http("sized body without a key", "POST", SUGGEST, 401, "unauthorized", {"text": "包邮吗"}, key=None),
    Http(
        "sized body over the limit without a key",
        "POST",
        SUGGEST,
        413,
        "body_too_large",
        b"",
        key=None,
        length=MAX_FRAME + 1,
        kept=False,
    ),
    # Slow clients (issue 17 #3): a body or headers that never finish.
    Http("slow body", "POST", SUGGEST, 408, "body_timeout", b'{"text": "', length=100, kept=False),
    Http("slow chunked body", "POST", SUGGEST, 408, "body_timeout", raw=_slow_chunked, kept=False),
    Http(
        "slow headers",
        "GET",
        "/healthz",
        408,
        "header_timeout",
        raw=b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: 1\r\n",
        kept=False,
    ),
    # Headers over the limits (issue 17 #3): 431 in the one shape, closed.
    Http(
        "header too large",
        "GET",
        "/healthz",
        431,
        "headers_too_large",
        key=None,
        headers={"X-Big": _HEAD_PAD},
        kept=False,
    ),
    Http(
        "too many headers",
        "GET",
        "/healthz",
        431,
        "too_many_headers",
        key=None,
        headers={f"X-H{i}": "1" for i in range(60)},
        kept=False,
    ),
    Http("garbage request line", "GET", "/", 400, "invalid_http", raw=b"HELLO THERE\r\n\r\n", kept=False),
    Http(
        "made-up method",
        "GET",
        "/",
        400,
        "invalid_http",
        raw=b"BREW /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        kept=False,
    ),
    Http("WebDAV method", "PROPFIND", "/healthz", 405, "method_not_allowed", key=None, check=_allow("GET")),
    Http(
        "non-numeric Content-Length",
        "POST",
        SUGGEST,
        400,
        "invalid_http",
        raw=_POST + b"Content-Length: ten\r\n\r\n",
        kept=False,
    ),
    Http(
        "Content-Length and chunked together",
        "POST",
        SUGGEST,
        400,
        "invalid_http",
        raw=_POST + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        kept=False,
    ),
    Http(
        "two Content-Lengths",
        "POST",
        SUGGEST,
        400,
        "invalid_http",
        raw=_POST + b"Content-Length: 2\r\nContent-Length: 4\r\n\r\n{}",
        kept=False,
    ),
    # A client that waits for "100 Continue" and is refused first never sends its body.
    Http(
        "100-continue with a key",
        "POST",
        SUGGEST,
        200,
        None,
        {"text": "什么时候发货"},
        headers={"Expect": "100-continue"},
        check=_intent("logistics"),
    ),
    Http(
        "100-continue without a key",
        "POST",
        SUGGEST,
        401,
        "unauthorized",
        raw=_awaiting_continue(SUGGEST, None),
        kept=False,
    ),
    Http(
        "100-continue, an agent to the import",
        "POST",
        IMPORT,
        403,
        "forbidden",
        raw=_awaiting_continue(IMPORT, "agent"),
        kept=False,
    ),
    Http(
        "100-continue over the limit",
        "POST",
        SUGGEST,
        413,
        "body_too_large",
        raw=_POST + b"Content-Length: 1000000\r\nExpect: 100-continue\r\n\r\n",
        kept=False,
    ),
    # Host (issue 17 #9): only the names served; never a redirect to another.
    Http("evil Host", "GET", "/healthz", 400, "invalid_host", key=None, host="evil.example"),
    Http(
        "trailing-slash POST, evil Host",
        "POST",
        SUGGEST + "/",
        400,
        "invalid_host",
        {"text": "包邮吗"},
        host="evil.example",
        check=_no_location,
    ),
    Http(
        "trailing-slash POST, good Host",
        "POST",
        SUGGEST + "/",
        404,
        "not_found",
        {"text": "包邮吗"},
        check=_no_location,
    ),
    Http("no Host", "GET", "/healthz", 400, "invalid_host", key=None, host=None),
    Http(
        "Host with a served name as prefix",
        "GET",
        "/healthz",
        400,
        "invalid_host",
        key=None,
        host="127.0.0.1.evil.example",
    ),
    Http(
        "Host with userinfo", "GET", "/healthz", 400, "invalid_host", key=None, host="evil.example@127.0.0.1"
    ),
    Http("served Host with a port", "GET", "/healthz", 200, None, key=None, host="localhost:1"),
    # Keys and roles (issue 17 #9: 401, 403, 429 with Retry-After).
    Http("no key", "POST", LINT, 401, "unauthorized", {"text": "可能吧"}, key=None),
    Http(
        "Basic scheme",
        "POST",
        LINT,
        401,
        "unauthorized",
        {"text": "可能吧"},
        key=None,
        headers={"Authorization": "Basic eDp5"},
    ),
    Http("unknown key", "POST", LINT, 401, "unauthorized", {"text": "可能吧"}, key="unknown"),
    Http("revoked key", "POST", LINT, 401, "unauthorized", {"text": "可能吧"}, key="revoked"),
    Http("key in the query only", "GET", "/v1/replies?token=hs_nope", 401, "unauthorized", key=None),
    Http("revoked key, no body", "GET", "/v1/replies", 401, "unauthorized", key="revoked"),
    Http("agent lists replies", "GET", "/v1/replies", 403, "forbidden"),
    Http(
        "agent creates a reply", "POST", "/v1/replies", 403, "forbidden", {**_REPLY_BODY, "id": "agent-made"}
    ),
    Http("editor lists keys", "GET", "/v1/keys", 403, "forbidden", key="editor"),
    Http("admin lists replies", "GET", "/v1/replies?limit=1", 200, None, key="admin"),
    Http(
        "rate limited",
        "POST",
        LINT,
        429,
        "rate_limited",
        {"text": "好的"},
        burst=RATE + 20,
        check=_retry_after,
    ),
    # Edits of an older version (409 stale_edit), taken ids, unknown ids, wrong methods.
    Http("stale PUT", "PUT", REPLY, 409, "stale_edit", {**_REPLY_BODY, "version": 1}, key="editor"),
    Http("stale PATCH", "PATCH", REPLY, 409, "stale_edit", {"version": 1, "tags": ["x"]}, key="editor"),
    Http("stale DELETE", "DELETE", f"{REPLY}?version=1", 409, "stale_edit", key="editor"),
    Http(
        "taken id",
        "POST",
        "/v1/replies",
        409,
        "reply_exists",
        {**_REPLY_BODY, "id": STALE_REPLY},
        key="editor",
    ),
    Http("unknown reply", "GET", "/v1/replies/no-such-reply", 404, "unknown_reply", key="editor"),
    Http(
        "feedback on an unknown reply",
        "POST",
        FEEDBACK,
        404,
        "unknown_reply",
        {"reply_id": "no-such-reply", "action": "used"},
    ),
    Http("wrong method", "DELETE", SUGGEST, 405, "method_not_allowed", check=_allow("POST")),
    Http("unknown path", "GET", "/v1/nothing-here", 404, "not_found"),
]


@pytest.mark.parametrize("case", HTTP_CASES, ids=lambda case: case.name)
def test_rest(target: Target, case: Http) -> None:
    sent = case.encoded(target)
    with connect(target) as sock:
        answers: list[Response] = []
        while not answers or (len(answers) < case.burst and answers[-1].status == 200):
            # Refused and closed while the rest was being sent: the answer is waiting.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(sent)
            answers.append(read_response(sock))
        answer = answers[-1]
        if case.burst:  # a full bucket takes RATE at once before the first refusal
            assert len(answers) > RATE and all(a.status == 200 for a in answers[:-1])
        assert answer.status == case.status, answer.body[:500]
        assert answer.headers["content-type"].startswith("application/json"), answer.headers
        assert answer.code == case.code, answer.body[:500]
        if case.code is not None:
            assert answer.json["error"]["message"]
        if case.check is not None:
            case.check(answer, "")
        if case.kept:
            assert answer.headers.get("connection") != "close"
            assert healthz_on(sock).status == 200  # the same connection answers the next request
        else:
            assert answer.headers.get("connection") == "close"
            assert closed_by_server(sock)
    assert_healthy(target)


# --------------------------------------------------------------------------------------------
# A raw WebSocket client (RFC 6455): masked frames out, the server's frames in


class RawSocket:
    TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA

    def __init__(self, sock: socket.socket, subprotocol: str | None, buffered: bytes) -> None:
        self.sock = sock
        self.subprotocol = subprotocol
        self._buffer = buffered

    def send(self, payload: bytes | str, opcode: int | None = None) -> None:
        data = payload.encode("utf-8") if isinstance(payload, str) else payload
        if opcode is None:
            opcode = self.TEXT if isinstance(payload, str) else self.BINARY
        size = len(data)
        if size < 126:
            length = bytes([0x80 | size])
        elif size < 65536:
            length = bytes([0x80 | 126]) + struct.pack("!H", size)
        else:
            length = bytes([0x80 | 127]) + struct.pack("!Q", size)
        mask = os.urandom(4)
        masked = _mask(data, mask)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # closed: recv() says how
            self.sock.sendall(bytes([0x80 | opcode]) + length + mask + masked)

    def send_json(self, frame: Any) -> None:
        self.send(orjson.dumps(frame).decode())

    def _take(self, count: int) -> bytes:
        while len(self._buffer) < count:
            piece = self.sock.recv(65536)
            if not piece:
                raise ConnectionError("closed without a close frame")
            self._buffer += piece
        taken, self._buffer = self._buffer[:count], self._buffer[count:]
        return taken

    def recv(self) -> tuple[int, bytes]:
        first, second = self._take(2)
        size = second & 0x7F
        if size == 126:
            size = struct.unpack("!H", self._take(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", self._take(8))[0]
        return first & 0x0F, self._take(size)

    def answer(self) -> dict:
        """The next text frame, as JSON; a close frame raises ``Closed``."""
        while True:
            opcode, payload = self.recv()
            if opcode == self.TEXT:
                return orjson.loads(payload)
            if opcode == self.CLOSE:
                raise Closed(struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005)

    def close_code(self) -> int:
        """The code of the server's close frame (waiting for it); answers before it are skipped."""
        try:
            while True:
                self.answer()
        except Closed as closed:
            return closed.code


class Closed(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _mask(data: bytes, mask: bytes) -> bytes:
    key = (mask * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(len(data), "big")


class HandshakeRefused(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def open_socket(
    target: Target,
    *,
    key: str | None,
    via: str = "subprotocol",
    origin: str | None = None,
    host: str = "127.0.0.1",
) -> RawSocket:
    sock = connect(target)
    nonce = base64.b64encode(os.urandom(16)).decode()
    headers = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": nonce,
        "Sec-WebSocket-Version": "13",
    }
    path = "/v1/ws"
    if key is not None and via == "query":
        path += f"?token={key}"
    elif key is not None:
        headers["Sec-WebSocket-Protocol"] = f"huashu, bearer.{key}"
    if origin is not None:
        headers["Origin"] = origin
    sock.sendall(request_bytes("GET", path, host=host, headers=headers))
    response = read_response(sock)
    if response.status != 101:
        sock.close()
        raise HandshakeRefused(response)
    accept = base64.b64encode(
        hashlib.sha1((nonce + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
    )
    assert response.headers["sec-websocket-accept"] == accept.decode()
    return RawSocket(sock, response.headers.get("sec-websocket-protocol"), response.after)


def assert_pong(ws: RawSocket) -> None:
    ws.send_json({"type": "ping", "id": "after"})
    assert ws.answer() == {"type": "pong", "in_reply_to": "after"}


# --------------------------------------------------------------------------------------------
# WebSocket frames: each bad frame gets an error frame and the socket answers the next one


@dataclass(frozen=True)
class Frame:
    name: str
    frame: Any  # dict → JSON text frame; str: a text frame as is; bytes: a binary frame
    code: str | None  # the error frame's code; None: answered, of type ``answer``
    answer: str = "error"
    check: Callable[[dict], None] | None = None


def _frame_intent(name: str) -> Callable[[dict], None]:
    def check(answer: dict) -> None:
        assert answer["intent"] == name

    return check


FRAME_CASES: list[Frame] = [
    Frame("not JSON", "not json", "invalid_json"),
    Frame("binary", b"\x00\x01\x02", "binary_not_supported"),
    Frame("JSON array", "[1, 2]", "invalid_frame"),
    Frame("JSON string", '"ping"', "invalid_frame"),
    Frame("unknown type", {"type": "shout", "id": "u1"}, "unknown_type"),
    Frame("no type", {"text": "包邮吗"}, "unknown_type"),
    Frame("type not a string", {"type": ["ping"]}, "unknown_type"),
    Frame("buyer message without conversation", {"type": "buyer_message", "text": "包邮吗"}, "invalid_frame"),
    Frame("draft without text", {"type": "draft"}, "invalid_frame"),
    Frame("text a number", {"type": "draft", "text": 7}, "invalid_frame"),
    Frame(
        "k a string",
        {"type": "buyer_message", "conversation_id": "c", "text": "包邮吗", "k": "x"},
        "invalid_frame",
    ),
    Frame(
        "k 10^20",
        f'{{"type": "buyer_message", "conversation_id": "c", "text": "包邮吗", "k": {BIG}}}',
        "invalid_frame",
    ),
    Frame(
        "k 1e400",
        '{"type": "buyer_message", "conversation_id": "c", "text": "包邮吗", "k": 1e400}',
        "invalid_json",
    ),
    Frame("unknown profile", {"type": "draft", "text": "可能吧", "profile": "amazon"}, "invalid_frame"),
    Frame(
        "bad feedback action",
        {"type": "feedback", "reply_id": STALE_REPLY, "action": "liked"},
        "invalid_frame",
    ),
    Frame(
        "feedback on an unknown reply",
        {"type": "feedback", "reply_id": "nope", "action": "used"},
        "unknown_reply",
    ),
    Frame("nul in text", {"type": "draft", "text": "可能\x00吧", "id": 3}, "control_character"),
    Frame(
        "nul in conversation_id",
        {"type": "buyer_message", "conversation_id": "c\x00", "text": "包邮吗"},
        "control_character",
    ),
    Frame(
        "nul in feedback text",
        {"type": "feedback", "reply_id": STALE_REPLY, "action": "edited", "final_text": "\x00"},
        "control_character",
    ),
    Frame("nul in a key", {"type": "ping", "\x00": 1}, "control_character"),
    Frame("escape char in draft", {"type": "draft", "text": "\x1b[2J可能吧"}, "control_character"),
    Frame("lone surrogate escape", '{"type": "draft", "text": "\\udc00"}', "invalid_json"),
    Frame("deeply nested JSON", '{"type": "draft", "text": ' + "[" * 2000 + "]" * 2000 + "}", "invalid_json"),
    Frame("empty text", {"type": "draft", "text": ""}, "empty_text"),
    Frame(
        "invisible text",
        {"type": "buyer_message", "conversation_id": "c", "text": "\u200b\u3000"},
        "empty_text",
    ),
    Frame("text over MAX_TEXT_CHARS", {"type": "draft", "text": "a" * (MAX_TEXT + 1)}, "text_too_long"),
    Frame("frame over MAX_FRAME_BYTES", {"type": "draft", "text": "好" * MAX_FRAME}, "frame_too_large"),
    Frame(
        "？？？ answered",
        {"type": "buyer_message", "conversation_id": "q", "text": "？？？"},
        None,
        "suggestions",
        _frame_intent("other"),
    ),
    Frame("unknown field ignored", {"type": "ping", "colour": "red"}, None, "pong"),
]


@pytest.mark.parametrize("case", FRAME_CASES, ids=lambda case: case.name)
def test_websocket_frame(target: Target, case: Frame) -> None:
    ws = open_socket(target, key=target.key("agent"))
    with ws.sock:
        frame = case.frame
        if isinstance(frame, dict):
            ws.send_json(frame)
        else:
            ws.send(frame)
        answer = ws.answer()
        assert answer["type"] == case.answer, answer
        if case.code is not None:
            assert answer["code"] == case.code and answer["message"], answer
            if isinstance(frame, dict) and "id" in frame:
                assert answer["in_reply_to"] == frame["id"]
        if case.check is not None:
            case.check(answer)
        assert_pong(ws)  # the same socket answers a good frame
    assert_healthy(target)


# --------------------------------------------------------------------------------------------
# WebSocket connections: keys, origins, hosts, and what closes a socket


@dataclass(frozen=True)
class Connection:
    name: str
    key: str | None = "agent"
    via: str = "subprotocol"  # "subprotocol" (bearer.KEY) or "query" (?token=)
    origin: str | None = None
    host: str = "127.0.0.1"
    close: int | None = None  # the close code expected; None: the socket works
    refused: int | None = None  # the handshake's HTTP status, when it is refused
    then: Callable[[RawSocket, Target, str | None], int | None] | None = None  # what the case does


def _revoke_while_open(ws: RawSocket, target: Target, key: str | None) -> int | None:
    assert_pong(ws)
    assert key is not None
    target.revoke(key)
    ws.sock.settimeout(KEY_TTL_S * 3 + 5)
    started = time.monotonic()
    code = ws.close_code()
    assert time.monotonic() - started < KEY_TTL_S * 3 + 2
    return code


def _too_big_for_the_protocol(ws: RawSocket, target: Target, key: str | None) -> int | None:
    # Over the server's ws_max_size (4 MB): refused from the frame's header, before its payload
    # (which is not sent: the server stops reading, and sending it all would block).
    ws.sock.sendall(bytes([0x80 | RawSocket.TEXT, 0x80 | 127]) + struct.pack("!Q", 4 * 1024 * 1024 + 16))
    ws.sock.sendall(os.urandom(4) + b"x" * 1024)
    return ws.close_code()


def _invalid_utf8(ws: RawSocket, target: Target, key: str | None) -> int | None:
    ws.send(b'{"type": "ping", "x": "\xff"}', opcode=RawSocket.TEXT)
    return ws.close_code()


def _frames_over_the_rate(ws: RawSocket, target: Target, key: str | None) -> int | None:
    answers = []
    for number in range(RATE + 20):
        ws.send_json({"type": "ping", "id": number})
        answers.append(ws.answer())
        if answers[-1]["type"] == "error":
            break
    # A full bucket takes RATE frames at once; then the frame is refused and the socket stays.
    assert len(answers) > RATE and all(a["type"] == "pong" for a in answers[:-1])
    assert answers[-1]["code"] == "rate_limited" and answers[-1]["in_reply_to"] == len(answers) - 1
    ws.send_json({"type": "ping", "id": "still open"})  # answered, if only to say: later
    assert ws.answer()["in_reply_to"] == "still open"
    return None


def _sockets_over_the_cap(ws: RawSocket, target: Target, key: str | None) -> int | None:
    held = [open_socket(target, key=key) for _ in range(SOCKETS_PER_KEY - 1)]
    over = open_socket(target, key=key)
    with over.sock:
        answer = over.answer()  # the one error shape, then the close code
        assert answer["code"] == "too_many_sockets" and answer["detail"] == {"limit": SOCKETS_PER_KEY}
        code = over.close_code()
    for other in (ws, *held):  # the held ones still answer
        assert_pong(other)
    for other in held:
        other.sock.close()
    return code


def _control_ping(ws: RawSocket, target: Target, key: str | None) -> int | None:
    ws.send(b"hello", opcode=RawSocket.PING)
    assert ws.recv() == (RawSocket.PONG, b"hello")
    assert_pong(ws)
    return None


CONNECTION_CASES: list[Connection] = [
    Connection("key in bearer subprotocol"),
    Connection("key in ?token=", via="query"),
    Connection("extension origin", origin=EXTENSION_ORIGIN),
    Connection("editor key", key="editor"),
    Connection("no key", key=None, close=4401),
    Connection("unknown key", key="unknown", close=4401),
    Connection("unknown key in ?token=", key="unknown", via="query", close=4401),
    Connection("revoked key", key="revoked", close=4401),
    Connection("revoked while open", close=4401, then=_revoke_while_open),
    Connection("bad origin", origin="https://evil.example", close=4403),
    Connection("null origin", origin="null", close=4403),
    Connection("bad host", host="evil.example", refused=403),
    Connection("frame over the protocol limit", close=1009, then=_too_big_for_the_protocol),
    Connection("invalid UTF-8 text frame", close=1007, then=_invalid_utf8),
    Connection("frames over the rate", then=_frames_over_the_rate),
    Connection("control ping", then=_control_ping),
    Connection("sockets over the per-key cap", close=4429, then=_sockets_over_the_cap),
]


@pytest.mark.parametrize("case", CONNECTION_CASES, ids=lambda case: case.name)
def test_websocket_connection(target: Target, case: Connection) -> None:
    key = target.key(case.key)
    try:
        ws = open_socket(target, key=key, via=case.via, origin=case.origin, host=case.host)
    except HandshakeRefused as refused:
        assert refused.response.status == case.refused
        assert_healthy(target)
        return
    assert case.refused is None, "the handshake was accepted"
    with ws.sock:
        if case.via == "subprotocol" and key is not None:
            assert ws.subprotocol == "huashu"  # the answer names the protocol, never the key
        if case.then is not None:
            assert case.then(ws, target, key) == case.close
        elif case.close is not None:
            assert ws.close_code() == case.close
        else:
            ws.send_json({"type": "draft", "text": "可能吧", "id": "d"})
            assert ws.answer()["ok"] is False
            assert_pong(ws)
    assert_healthy(target)


# --------------------------------------------------------------------------------------------
# Look-alike and invisible characters in drafts (issue 17 #8): still flagged, and the flag's span
# is over what was typed (the trick character inside it), on REST and WebSocket alike


@dataclass(frozen=True)
class Draft:
    name: str
    text: str
    rule: str  # the rule that must flag it
    trick: str  # the characters that must lie inside the flag's span


DRAFT_CASES: list[Draft] = [
    Draft("Cyrillic х in vх", "加我v\u0445聊吧", "off-platform-im", "\u0445"),
    Draft("fullwidth ｖｘ", "加我\uff56\uff58聊", "off-platform-im", "\uff56\uff58"),
    Draft("zero-width space in 微信", "加微\u200b信聊吧", "off-platform-contact", "\u200b"),
    Draft("zero-width joiner in 微信", "加我微\u200d信", "off-platform-contact", "\u200d"),
    Draft("BOM in 微信", "加我微\ufeff信", "off-platform-contact", "\ufeff"),
    Draft("zero-width non-joiner in 可能吧", "可能\u200c吧", "uncertain-guess", "\u200c"),
    Draft("word joiners in 可能吧", "可\u2060能\u2060吧", "uncertain-guess", "\u2060"),
    Draft("combining acute in 可能吧", "可\u0301能吧", "uncertain-guess", "\u0301"),
    Draft("combining grapheme joiner in 加微信", "加\u034f微信", "off-platform-contact", "\u034f"),
    Draft("bidi override around 可能吧", "亲\u202e可能吧\u202c", "uncertain-guess", "可能吧"),
    Draft("bidi isolate around 可能吧", "\u2066可能吧\u2069", "uncertain-guess", "可能吧"),
    Draft("bidi override inside 最好的", "这是最\u202e好的", "absolute-claim", "\u202e"),
    Draft("zero-width in qq", "加我q\u200bq", "off-platform-contact", "\u200b"),
]


def _flag_over_trick(flags: list[dict], case: Draft) -> None:
    hits = [f for f in flags if f["rule_id"] == case.rule]
    assert hits, f"{case.text!r} not flagged by {case.rule}: {flags}"
    flag = hits[0]
    typed = case.text[flag["start"] : flag["end"]]
    assert case.trick in typed, (typed, flag)
    assert flag["match"] == typed  # the match is what was typed, not the folded text


@pytest.mark.parametrize("over", ["rest", "ws"])
@pytest.mark.parametrize("case", DRAFT_CASES, ids=lambda case: case.name)
def test_lookalike_draft(target: Target, case: Draft, over: str) -> None:
    if over == "rest":
        with connect(target) as sock:
            sock.sendall(Http("", "POST", LINT, 200, body={"text": case.text}).encoded(target))
            answer = read_response(sock)
            assert answer.status == 200, answer.body
            assert answer.json["ok"] is False
            _flag_over_trick(answer.json["flags"], case)
            assert healthz_on(sock).status == 200
    else:
        ws = open_socket(target, key=target.key("agent"))
        with ws.sock:
            ws.send_json({"type": "draft", "text": case.text, "id": "d"})
            answer = ws.answer()
            assert answer["type"] == "lint" and answer["ok"] is False, answer
            _flag_over_trick(answer["flags"], case)
            assert_pong(ws)
    assert_healthy(target)


# --------------------------------------------------------------------------------------------
# After the whole battery (it runs last in this module): no key in the log, no traceback.


def test_the_log_holds_no_key_and_no_traceback(target: Target) -> None:
    logged = target.log.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in logged
    assert "hs_" not in logged.replace("hs_…", ""), [line for line in logged.splitlines() if "hs_" in line][
        :3
    ]
    assert_healthy(target)


def test_the_battery_is_big_enough() -> None:
    tables: list[list[Any]] = [HTTP_CASES, FRAME_CASES, CONNECTION_CASES, DRAFT_CASES]
    assert len(HTTP_CASES) + len(FRAME_CASES) + len(CONNECTION_CASES) + 2 * len(DRAFT_CASES) >= 60
    for table in tables:  # each case's name is its test id: one name, one case
        names = [case.name for case in table]
        assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)

"""Keys on the agent socket, against the real server (uvicorn in a subprocess, two workers) and
the `websockets` client: a revoked key's open sockets are closed with 4401 within
KEY_CACHE_TTL_S, on every worker."""

import asyncio
import json
import re
import subprocess
import sys
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bench.service_bench import Server
from tests.helpers import ROOT, create_key, server_env

TTL_S = 2.0


@pytest.fixture(scope="module")
def server(database_url, tmp_path_factory):
    env = server_env(database_url, tmp_path_factory, "server", KEY_CACHE_TTL_S=str(TTL_S))
    create_key(env, "agent", "keys-test-first")  # makes the schema before two workers start
    log = tmp_path_factory.mktemp("log") / "server.log"
    # Both workers' logs, at info level with the access log on: everything uvicorn would say.
    with Server(env, workers=2, args=("--log-level", "info", "--access-log"), log=log) as process:
        yield {"env": env, "ws": f"ws://127.0.0.1:{process.port}/v1/ws", "log": log, "base": process.base}


def cli(env, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def key_id(env, name: str) -> int:
    (line,) = [line for line in cli(env, "keys", "list").splitlines() if line.endswith("\t" + name)]
    return int(line.split("\t")[0])


async def ping(ws) -> dict:
    await ws.send(json.dumps({"type": "ping"}))
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


def test_revoking_a_key_closes_its_open_sockets_with_4401_within_the_ttl(server):
    doomed = create_key(server["env"], "agent", "keys-test-doomed")
    kept = create_key(server["env"], "agent", "keys-test-kept")

    async def scenario():
        # Enough sockets that both workers almost surely hold some of each key's.
        doomed_sockets = [await connect(f"{server['ws']}?token={doomed}") for _ in range(6)]
        kept_sockets = [await connect(f"{server['ws']}?token={kept}") for _ in range(6)]
        for ws in doomed_sockets + kept_sockets:
            assert await ping(ws) == {"type": "pong"}
        await asyncio.to_thread(
            cli, server["env"], "keys", "revoke", str(key_id(server["env"], "keys-test-doomed"))
        )
        revoked_at = time.monotonic()

        async def closed_code(ws) -> tuple[int | None, float]:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), TTL_S + 5)
            return closed.value.rcvd.code if closed.value.rcvd else None, time.monotonic() - revoked_at

        ends = await asyncio.gather(*(closed_code(ws) for ws in doomed_sockets))
        assert {code for code, _ in ends} == {4401}
        assert max(elapsed for _, elapsed in ends) <= TTL_S
        # The other key's sockets, idle past the TTL, still answer.
        await asyncio.sleep(TTL_S - max(elapsed for _, elapsed in ends) + 0.5)
        for ws in kept_sockets:
            assert await ping(ws) == {"type": "pong"}
            await ws.close()
        # And the revoked key cannot open a new one.
        async with connect(f"{server['ws']}?token={doomed}") as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd.code == 4401

    asyncio.run(scenario())


def test_the_key_in_a_subprotocol_and_only_huashu_answered(server):
    key = create_key(server["env"], "agent", "keys-test-subprotocol")

    async def scenario():
        async with connect(server["ws"], subprotocols=["huashu", f"bearer.{key}"]) as ws:
            assert ws.subprotocol == "huashu"
            assert ws.response.headers.get_all("Sec-WebSocket-Protocol") == ["huashu"]
            assert await ping(ws) == {"type": "pong"}
        # A client offering only the key gets no subprotocol back, and is served.
        async with connect(server["ws"], subprotocols=[f"bearer.{key}"]) as ws:
            assert ws.subprotocol is None and "Sec-WebSocket-Protocol" not in ws.response.headers
            assert await ping(ws) == {"type": "pong"}
        async with connect(server["ws"], subprotocols=["huashu", "bearer.hs_wrong"]) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd.code == 4401

    asyncio.run(scenario())


def test_no_key_in_the_log(server):
    """A key sent in the query (?token=, on the socket and on REST with the access log on) and
    in the subprotocol never appears in the server's log; runs last, over the other tests' log."""
    key = create_key(server["env"], "agent", "keys-test-logged")

    async def scenario():
        async with connect(f"{server['ws']}?token={key}") as ws:
            assert await ping(ws) == {"type": "pong"}
        async with connect(server["ws"], subprotocols=["huashu", f"bearer.{key}"]) as ws:
            assert await ping(ws) == {"type": "pong"}

    asyncio.run(scenario())
    import httpx

    assert httpx.get(f"{server['base']}/healthz", params={"token": key}).status_code == 200
    assert httpx.get(f"{server['base']}/nowhere/{key}").status_code == 404
    time.sleep(0.5)
    log = server["log"].read_text()
    # uvicorn's lines are there, without the key.
    assert "WebSocket /v1/ws?token=[redacted]" in log and "/healthz?token=[redacted]" in log
    assert "/nowhere/hs_[redacted]" in log
    assert key not in log and key[3:] not in log
    assert not re.search(r"hs_[A-Za-z0-9_-]{4,}", log)


def test_a_socket_opened_while_keys_are_checked_is_not_closed_as_revoked():
    """The check asks the database about the open sockets' keys; a socket that opens during
    that query is not in its answer, and must not be taken for revoked (it was, in the battery:
    a fresh socket closed with 4401, which the extension takes as a refused key)."""
    from app.api.ws import OpenSockets

    class Socket:
        closed: int | None = None

        async def close(self, code: int, reason: str) -> None:
            self.closed = code

    old, new = Socket(), Socket()

    class Keys:
        def live(self, key_ids: set[int]) -> set[int]:
            sockets.add(new, 2)  # opens while the database is asked about key 1
            return key_ids - {1}  # key 1 was revoked meanwhile

    sockets = OpenSockets(Keys(), interval=1)  # type: ignore[arg-type]
    sockets.add(old, 1)
    asyncio.run(sockets.check())
    assert (old.closed, new.closed) == (4401, None)

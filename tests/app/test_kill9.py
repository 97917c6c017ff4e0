"""kill -9 of the real server (a subprocess) during bulk creates and during an import, then a
restart on the same database: every write that was answered is there, nothing is half-written,
and /readyz is ready. On SQLite and PostgreSQL."""

import os
import signal
import threading
import time

import httpx
import pytest

from bench.service_bench import Server
from tests.helpers import bearer, create_key, fresh_database


@pytest.fixture(params=["sqlite", "postgresql"])
def env(request, tmp_path, tmp_path_factory):
    # A database of its own per test, so what is counted is this test's writes alone.
    with fresh_database(request.param, tmp_path_factory) as url:
        yield {**os.environ, "DATABASE_URL": url, "CACHE_DIR": str(tmp_path / "cache")}


def reply(reply_id: str, n: int) -> dict:
    return {
        "id": reply_id,
        "intents": ["logistics"],
        "text": f"亲，这是第{n}号补发的快递单，我们今天就为您寄出哦～",
        "triggers": [f"第{n}号快递什么时候寄"],
        "tags": ["kill9"],
    }


def kill_9(server: Server) -> None:
    os.kill(server.process.pid, signal.SIGKILL)  # one worker: uvicorn serves in this very process
    server.process.wait()


def check_after_restart(env, key: str, prefix: str, then_write: str) -> dict[str, dict]:
    """Restart on the same database; every stored reply under ``prefix``, by id (less
    ``then_write``, a reply created after the check to show writes work again)."""
    with Server(env) as server:
        assert httpx.get(f"{server.base}/readyz").json()["status"] == "ready"
        with httpx.Client(base_url=server.base, headers=bearer(key), timeout=30) as client:
            stored: dict[str, dict] = {}
            offset = 0
            while True:
                page = client.get("/v1/replies", params={"tag": "kill9", "limit": 500, "offset": offset})
                assert page.status_code == 200, page.text
                items = page.json()
                stored.update({r["id"]: r for r in items if r["id"].startswith(prefix)})
                if len(items) < 500:
                    break
                offset += 500
            # The restarted server takes writes again.
            after = client.post("/v1/replies", json=reply(then_write, 0))
            assert after.status_code == 201, after.text
    return stored


def test_kill_9_during_bulk_creates_loses_no_answered_write(env):
    key = create_key(env, "editor", "kill9-creates")
    answered: dict[str, dict] = {}
    stop = threading.Event()

    def writer(worker: int, base: str) -> None:
        with httpx.Client(base_url=base, headers=bearer(key), timeout=30) as client:
            for n in range(worker * 10_000, worker * 10_000 + 10_000):
                if stop.is_set():
                    return
                body = reply(f"bulk-{n}", n)
                try:
                    answer = client.post("/v1/replies", json=body)
                except httpx.HTTPError:
                    return  # the server died under this request: not answered
                assert answer.status_code == 201, answer.text
                answered[body["id"]] = body

    with Server(env) as server:
        threads = [threading.Thread(target=writer, args=(w, server.base)) for w in range(4)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while len(answered) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        kill_9(server)  # with four requests in flight
        stop.set()
        for thread in threads:
            thread.join()
    assert len(answered) >= 40
    stored = check_after_restart(env, key, "bulk-", "after-bulk")
    assert set(answered) <= set(stored)  # every answered create is there
    for reply_id, row in stored.items():  # and each stored one whole, answered or not
        sent = reply(reply_id, int(reply_id.removeprefix("bulk-")))
        assert {k: row[k] for k in sent} == sent
        assert row["version"] == 1 and row["status"] == "approved"


def test_kill_9_during_an_import_leaves_all_or_nothing(env):
    key = create_key(env, "editor", "kill9-import")
    size = 20000  # bulk writes do 10,000 in ~3 s: seconds of work, so the kill lands in the middle
    document = {"replies": [reply(f"imp-{n}", n) for n in range(size)], "lint_rules": []}
    outcome: dict[str, object] = {}

    def send(base: str) -> None:
        try:
            outcome["answer"] = httpx.post(
                f"{base}/v1/corpus/import",
                params={"dry_run": "false"},
                json=document,
                headers=bearer(key),
                timeout=120,
            )
        except httpx.HTTPError as exc:
            outcome["error"] = exc

    with Server(env) as server:
        sender = threading.Thread(target=send, args=(server.base,))
        sender.start()
        time.sleep(1.5)
        answered_before_kill = "answer" in outcome
        kill_9(server)
        sender.join()
    assert not answered_before_kill, "the import finished before the kill: make it larger"
    assert "error" in outcome  # the client saw the connection die, no answer
    stored = check_after_restart(env, key, "imp-", "after-import-1")
    # All or nothing: killed before its commit, not one of its replies; killed between the commit
    # and the answer (bulk writes make that window real), every one of them, whole.
    assert len(stored) in (0, size), len(stored)
    assert all(reply["version"] == 1 for reply in stored.values())

    # The same import, let finish this time, is whole.
    with Server(env) as server:
        answer = httpx.post(
            f"{server.base}/v1/corpus/import",
            params={"dry_run": "false"},
            json=document,
            headers=bearer(key),
            timeout=300,
        )
        assert answer.status_code == 200, answer.text
    stored = check_after_restart(env, key, "imp-", "after-import-2")
    assert len(stored) == size

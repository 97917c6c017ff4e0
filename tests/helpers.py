"""Helpers the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from classifiers import Engine, Intent, Reply

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"  # the development data, beside the checkout
SHARED_DATA = SHARED / "dev_buyer_messages.jsonl"
DATA = Path(__file__).with_name("data")  # the tests' own files
# A reply only shop-7's agents may be offered.
SHOP_7_REPLY = Reply(
    id="shop-7-only",
    intents=(Intent.LOGISTICS,),
    text="亲，本店今天发货哦",
    triggers=("今天发货吗",),
    shop_id="shop-7",
)


def dev_messages() -> dict[str, str]:
    if not SHARED_DATA.exists():
        pytest.skip(f"development data not found: put shared/data/ beside the checkout ({SHARED_DATA})")
    rows = (json.loads(line) for line in SHARED_DATA.read_text(encoding="utf-8").splitlines() if line.strip())
    return {row["id"]: row["text"] for row in rows}


@contextmanager
def fresh_database(kind: str, tmp_path_factory) -> Iterator[str]:
    """The URL of a new, empty database: a SQLite file, or a database of its own on the
    PostgreSQL server (HUASHU_TEST_POSTGRES_URL), so runs sharing one server cannot disturb
    each other."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'huashu.db'}"
        return
    server_url = os.environ.get("HUASHU_TEST_POSTGRES_URL")
    if not server_url:
        pytest.skip("HUASHU_TEST_POSTGRES_URL not set (run scripts/start-postgres.sh)")
    from app.store import temporary_database

    with temporary_database(server_url, "huashu_test") as url:
        yield url


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def approve_directly(database, engine: Engine, reply, actor: str = "editor") -> None:
    """Store ``reply`` as approved straight in the database, as another worker's editor would."""
    from app import editing

    editing.write_reply(database, engine, reply, status="approved", actor=actor)


def server_env(database_url: str, tmp_path_factory, name: str, **settings: str) -> dict[str, str]:
    """The environment for a test server: this process's, the test database, a fresh cache
    folder, and ``settings`` (env var → value) on top."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "CACHE_DIR": str(tmp_path_factory.mktemp(f"{name}-cache")),
        **settings,
    }


def create_key(env: dict[str, str], role: str, name: str) -> str:
    """A new API key made by the real CLI against ``env``'s database, as an admin would."""
    created = subprocess.run(
        [sys.executable, "-m", "app.cli", "keys", "create", "--role", role, "--name", name],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return created.stdout.strip().splitlines()[-1]


def free_port() -> int:
    """A free local port: from HUASHU_TEST_PORTS ("18200-18249") when set, so that runs
    sharing a machine keep to their own ports; else any the system gives."""
    import socket

    span = os.environ.get("HUASHU_TEST_PORTS")
    candidates = range(int(span.split("-")[0]), int(span.split("-")[1]) + 1) if span else [0]
    for port in candidates:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError(f"no free port in {span}")


@dataclass
class Served:
    port: int
    pid: int
    log: Path  # the server's stderr

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def serving(env: dict[str, str], log: Path) -> Iterator[Served]:
    """``huashu serve`` (one process, the real uvicorn) on a free port, its log in ``log``;
    yielded once /readyz answers ready."""
    import time

    import httpx

    port = free_port()
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--log-level", "warning"]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=sink, stderr=sink)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {log.read_text()[-3000:]}")
            time.sleep(0.05)
        yield Served(port, process.pid, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def rss_mb(pid: int) -> float:
    """The resident memory of process ``pid``, in MB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


# Real headless Chromium, as the browser tests drive it (Playwright for Python).
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def require_chromium() -> None:
    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium not installed (.ci/run installs it with apt-get install -y chromium)")


@contextmanager
def running_server(env: dict[str, str]) -> Iterator:
    """The real server (``huashu serve``) on ``env``'s database, on ``HUASHU_TEST_PORT`` when
    that is set (a developer's own port range on a shared machine), else on any free port."""
    from bench import service_bench

    with pytest.MonkeyPatch.context() as patch:
        if os.environ.get("HUASHU_TEST_PORT"):
            patch.setattr(service_bench, "_free_port", lambda: int(os.environ["HUASHU_TEST_PORT"]))
        server = service_bench.Server(env)
    with server:
        yield server


def closed_by_server(sock: socket.socket, within: float = 5) -> bool:
    """Whether the server closes ``sock`` within ``within`` seconds (EOF or reset)."""
    sock.settimeout(within)
    try:
        while sock.recv(65536):
            pass
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    return True

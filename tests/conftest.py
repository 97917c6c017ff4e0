from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from classifiers import Engine, Intent, Reply

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data" / "dev_buyer_messages.jsonl"
# A reply only shop-7's agents may be offered.
SHOP_7_REPLY = Reply(
    id="shop-7-only",
    intents=(Intent.LOGISTICS,),
    text="亲，本店今天发货哦",
    triggers=("今天发货吗",),
    shop_id="shop-7",
)


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine.load()


def dev_messages() -> dict[str, str]:
    if not SHARED_DATA.exists():
        pytest.skip(f"development data not found at {SHARED_DATA}")
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


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory):
    """Each service test runs on the embedded SQLite file and on a real PostgreSQL server
    (`.ci/run` starts one with scripts/start-postgres.sh)."""
    with fresh_database(request.param, tmp_path_factory) as url:
        yield url


@pytest.fixture(scope="session")
def settings(database_url, tmp_path_factory):
    from app.config import Settings

    return Settings(
        database_url=database_url,
        cache_dir=tmp_path_factory.mktemp("cache"),
        key_cache_ttl_s=0,
        max_text_chars=500,
        max_frame_bytes=8192,
    )


@pytest.fixture(scope="session")
def client(settings):
    from fastapi.testclient import TestClient

    from app.main import create_app

    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def keys(client, settings) -> dict[str, str]:
    """One live key per role, plus a revoked one."""
    from app import auth, store

    database = store.connect(settings.database_url)
    made = {
        role: auth.create_key(database, name=f"test-{role}", role=auth.Role(role))[0] for role in auth.Role
    }
    revoked, record = auth.create_key(database, name="test-revoked", role=auth.Role.AGENT)
    from sqlmodel import Session

    with Session(database) as session:
        store.revoke_api_key(session, key_id=record.id)
    made["revoked"] = revoked
    database.dispose()
    return made


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def approve_directly(database, engine: Engine, reply, actor: str = "editor") -> None:
    """Store ``reply`` as approved straight in the database, as another worker's editor would."""
    from app import editing

    editing.write_reply(database, engine, reply, status="approved", actor=actor)

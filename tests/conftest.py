from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from classifiers import Engine

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data" / "dev_buyer_messages.jsonl"


@pytest.fixture(scope="session")
def engine(tmp_path_factory) -> Engine:
    return Engine.load(cache_dir=tmp_path_factory.mktemp("jieba"))


def dev_messages() -> dict[str, str]:
    if not SHARED_DATA.exists():
        pytest.skip(f"development data not found at {SHARED_DATA}")
    rows = (json.loads(line) for line in SHARED_DATA.read_text(encoding="utf-8").splitlines() if line.strip())
    return {row["id"]: row["text"] for row in rows}


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory):
    """Each service test runs on the embedded SQLite file and on a real PostgreSQL server
    (HUASHU_TEST_POSTGRES_URL; `.ci/run` starts one with scripts/start-postgres.sh)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'huashu.db'}"
        return
    server_url = os.environ.get("HUASHU_TEST_POSTGRES_URL")
    if not server_url:
        pytest.skip("HUASHU_TEST_POSTGRES_URL not set (run scripts/start-postgres.sh)")
    # A database of its own per test run, so runs sharing one server cannot disturb each other.
    from sqlalchemy import create_engine, make_url, text

    name = f"huashu_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


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

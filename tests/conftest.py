"""Fixtures: the engine, a database on each back-end, a running app and keys for it."""

from __future__ import annotations

import os

import pytest

from classifiers import Engine
from tests.helpers import fresh_database

# The host TestClient sends, beside the local names served by default (ALLOWED_HOSTS); the
# servers the tests start inherit it.
os.environ.setdefault("ALLOWED_HOSTS", '["localhost", "127.0.0.1", "::1", "testserver"]')


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine.load()


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

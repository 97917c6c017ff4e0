"""Alembic owns the schema: databases made before migrations are upgraded in place, and the
migrations describe exactly the tables the code defines."""

from __future__ import annotations

import os
import shutil

import pytest
import sqlalchemy
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import Session, SQLModel, func, select

from app import store
from tests.helpers import DATA, bearer

HEAD = ScriptDirectory.from_config(store.migrations_config()).get_current_head()


def _schema_diff(database) -> list:
    with database.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)


def _revision(database) -> str | None:
    with database.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _counts(database) -> dict[str, int]:
    tables = (store.ReplyRow, store.LintRuleRow, store.ApiKey, store.FeedbackEvent, store.AuditLog,
              store.ConversationRow)  # fmt: skip
    with Session(database) as session:
        return {t.__tablename__: session.exec(select(func.count()).select_from(t)).one() for t in tables}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path_factory):
    from tests.helpers import fresh_database

    with fresh_database(request.param, tmp_path_factory) as url:
        database = store.connect(url)
        yield database
        database.dispose()


def test_the_migrations_match_the_tables(empty_database):
    """What `alembic check` asks: an upgraded database differs in nothing from the models."""
    store.upgrade(empty_database)
    assert _revision(empty_database) == HEAD
    assert _schema_diff(empty_database) == []


def test_downgrade_to_nothing_and_back(empty_database):
    store.upgrade(empty_database)
    with empty_database.begin() as connection:
        command.downgrade(store.migrations_config(connection), "base")
    assert set(sqlalchemy.inspect(empty_database).get_table_names()) <= {"alembic_version"}
    store.upgrade(empty_database)
    assert _schema_diff(empty_database) == []


def test_a_database_made_by_create_all_is_adopted_with_its_rows(empty_database):
    """The code before migrations made its schema with create_all; such a database (on either
    back-end) is stamped at the baseline and upgraded, every row kept."""
    SQLModel.metadata.create_all(empty_database)
    with Session(empty_database) as session:
        assert store.seed_corpus(session)
    # The tables later revisions add were not there before migrations.
    SQLModel.metadata.drop_all(
        empty_database, tables=[store.CorpusHistory.__table__, store.SuggestionEvent.__table__]
    )  # type: ignore[attr-defined]
    with empty_database.begin() as connection:  # nor the indexes revision 0003 adds
        for index in ("ix_feedback_event_conversation_id", "ix_feedback_event_created_at"):
            connection.execute(sqlalchemy.text(f"DROP INDEX {index}"))
    before = _counts(empty_database)
    assert store.prepare(empty_database) is False  # upgraded, not seeded again
    assert _counts(empty_database) == before
    assert _revision(empty_database) == HEAD and _schema_diff(empty_database) == []


def test_a_file_from_the_previous_release_is_upgraded_in_place(tmp_path):
    """tests/data/pre_migrations.db was made by the code before migrations (an edited reply,
    a key, a feedback event, a conversation); after the upgrade the service serves it."""
    from fastapi.testclient import TestClient

    from app.config import Settings
    from app.main import create_app

    path = tmp_path / "huashu.db"
    shutil.copy(DATA / "pre_migrations.db", path)
    database = store.connect(f"sqlite:///{path}")
    before = _counts(database)
    assert _revision(database) is None and before["api_key"] == 1 and before["feedback_event"] == 1
    settings = Settings(database_url=f"sqlite:///{path}", cache_dir=tmp_path / "cache", key_cache_ttl_s=0)
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").json()["status"] == "ready"
        key = (DATA / "pre_migrations.key").read_text().strip()
        answer = client.post("/v1/suggest", json={"text": "退款什么时候到账", "k": 5}, headers=bearer(key))
        assert answer.status_code == 200
        assert "亲，退款进度我帮您查一下哦" in [s["text"] for s in answer.json()["suggestions"]]
    assert _counts(database) == before
    assert _revision(database) == HEAD and _schema_diff(database) == []
    database.dispose()


def test_the_db_command_upgrades_and_names_the_database(tmp_path):
    import os
    import subprocess
    import sys

    from tests.helpers import ROOT

    url = f"sqlite:///{tmp_path / 'cli.db'}"

    def db(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = {**os.environ, "DATABASE_URL": url}
        return subprocess.run([sys.executable, "-m", "app.cli", "db", *args], env=env, cwd=ROOT,
                              capture_output=True, text=True, check=check)  # fmt: skip

    # Reading a database that is not there refuses, and creates nothing.
    missing = db("current", check=False)
    assert missing.returncode == 2 and "no database" in missing.stderr
    assert not (tmp_path / "cli.db").exists()
    assert db("upgrade").stdout.strip() == f"{url}: schema at revision {HEAD}"
    assert db("current").stdout.strip() == f"{url}: schema at revision {HEAD}"
    assert _schema_diff(store.connect(url)) == []


def test_a_new_sqlite_file_is_readable_by_its_owner_only(tmp_path):
    path = tmp_path / "data" / "huashu.db"
    database = store.connect(f"sqlite:///{path}")
    store.prepare(database)
    database.dispose()
    for made in [path, *path.parent.glob("huashu.db-*")]:
        assert made.stat().st_mode & 0o777 == 0o600, made


def test_an_existing_sqlite_file_keeps_its_permissions(tmp_path):
    path = tmp_path / "shared.db"
    path.touch(mode=0o640)
    store.connect(f"sqlite:///{path}").dispose()
    assert path.stat().st_mode & 0o777 == 0o640 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask

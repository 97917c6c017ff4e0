"""All database access: tables and keyword-only functions. SQLite or PostgreSQL via SQLModel."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import orjson
from sqlalchemy import JSON, Column, event, func, inspect, make_url, or_, text, true, update
from sqlalchemy import false as sql_false
from sqlalchemy import select as sql_select
from sqlalchemy.engine import Connection
from sqlalchemy.engine import Engine as DatabaseEngine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlmodel import Field, Session, SQLModel, col, create_engine, select

from classifiers import LintRule, Reply
from classifiers.corpus import load_lint_rules, load_replies, reply_from_dict, rule_from_dict
from classifiers.index import ReplyAnalysis


def _now() -> datetime:
    return datetime.now(UTC)


class ReplyRow(SQLModel, table=True):
    __tablename__ = "reply"
    id: str = Field(primary_key=True, max_length=120)
    status: str = Field(default="approved", index=True)  # draft | approved | retired
    version: int = 1
    shop_id: str | None = Field(default=None, index=True, max_length=120)
    text: str
    intents: list[str] = Field(sa_column=Column(JSON, nullable=False))
    triggers: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    slots: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # The triggers' analysis, stored so indexes are rebuilt without re-running jieba;
    # ``analyzer`` says which dictionary/normalizer made it (stale ones are recomputed).
    analysis: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    analyzer: str | None = Field(default=None, max_length=32)
    updated_at: datetime = Field(default_factory=_now)
    # ``corpus_state.replies_version`` as of the row's last change: a worker reads only the
    # rows past the version its index holds, not the whole corpus.
    changed_in: int = Field(default=0, index=True)


class CorpusState(SQLModel, table=True):
    """One row: a counter bumped by every corpus change, polled by every worker, and one
    bumped only when replies change, which names the saved reply index."""

    __tablename__ = "corpus_state"
    id: int = Field(default=1, primary_key=True)
    version: int = 0
    replies_version: int = 0


class ConversationRow(SQLModel, table=True):
    """The last buyer message's intent scores per conversation, shared by all workers."""

    __tablename__ = "conversation"
    id: str = Field(primary_key=True, max_length=200)
    scores: list[float] = Field(sa_column=Column(JSON, nullable=False))
    updated_at: float = Field(index=True)  # unix time


class LintRuleRow(SQLModel, table=True):
    __tablename__ = "lint_rule"
    id: str = Field(primary_key=True, max_length=120)
    category: str
    severity: str
    suggestion: str
    kind: str = "phrase"
    phrases: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    not_before: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    not_after: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    enabled: bool = True
    version: int = 1
    updated_at: datetime = Field(default_factory=_now)


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    role: str  # agent | editor | admin
    key_hash: str = Field(
        unique=True, index=True, max_length=64
    )  # SHA-256 hex; the key itself is never stored
    prefix: str = Field(max_length=12)  # first characters, to tell keys apart in listings
    created_at: datetime = Field(default_factory=_now)
    revoked_at: datetime | None = None


class FeedbackEvent(SQLModel, table=True):
    __tablename__ = "feedback_event"
    id: int | None = Field(default=None, primary_key=True)
    reply_id: str = Field(index=True, max_length=120)
    intent: str
    action: str  # shown | used | edited | dismissed
    conversation_id: str | None = Field(default=None, index=True, max_length=200)
    final_text: str | None = None
    key_id: int | None = None
    created_at: datetime = Field(default_factory=_now, index=True)


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"
    id: int | None = Field(default=None, primary_key=True)
    actor: str
    action: str
    target: str
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=_now)


class CorpusHistory(SQLModel, table=True):
    """Every stored version of each reply and lint rule, with who saved it and when: the
    row itself holds only the newest, the audit line only that something changed."""

    __tablename__ = "corpus_history"
    id: int | None = Field(default=None, primary_key=True)
    entity: str = Field(max_length=20)  # reply | lint_rule
    entity_id: str = Field(index=True, max_length=120)
    version: int
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    actor: str
    created_at: datetime = Field(default_factory=_now)


class SuggestionEvent(SQLModel, table=True):
    """One buyer message the service answered: its best-scored intent (``other`` when none
    scored) and whether it abstained (answered as ``other``, not confident enough), shop,
    conversation, text and the replies offered, for the editors' analytics. Written in
    batches off the hot path (``app.events``)."""

    __tablename__ = "suggestion_event"
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: str | None = Field(default=None, index=True, max_length=200)
    shop_id: str | None = Field(default=None, max_length=120)
    intent: str = Field(max_length=40)
    abstained: bool = Field(default=False, sa_column_kwargs={"server_default": sql_false()})
    text: str
    reply_ids: list[str] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=_now, index=True)


def connect(url: str) -> DatabaseEngine:
    """An engine for ``url``; a SQLite file's folder is created if missing."""
    # orjson decodes the JSON columns several times faster than json (100k replies at start).
    json_options = {"json_serializer": lambda o: orjson.dumps(o).decode(), "json_deserializer": orjson.loads}
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        # The file holds key hashes and buyers' messages: readable by its owner only. SQLite
        # gives its -wal and -shm files the same permissions.
        with contextlib.suppress(FileExistsError):  # another worker made it first
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        database = create_engine(url, connect_args={"check_same_thread": False}, **json_options)
        event.listen(database, "connect", _sqlite_pragmas)
        return database
    return create_engine(url, pool_pre_ping=True, **json_options)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # WAL lets several workers read while one writes; NORMAL syncs at checkpoints rather
    # than every commit (a crash can lose the last moments of context, never corrupt).
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def checkpoint(database: DatabaseEngine) -> None:
    """Copy SQLite's write-ahead log into the database file (the step that syncs to disk).

    The conversation context writes on the event loop with automatic checkpoints off, so
    that no fsync ever stalls it; the sync thread calls this instead, off the loop.
    PASSIVE: it never waits for readers and is cheap when there is nothing to copy.
    """
    if database.dialect.name == "sqlite":
        with database.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


def prepare(database: DatabaseEngine, attempts: int = 5) -> bool:
    """Upgrade the schema and seed an empty corpus; returns whether it seeded.

    Workers started together race to do this: on SQLite the loser's DDL or insert fails,
    and its retry finds the work done.
    """
    for attempt in range(attempts):
        try:
            upgrade(database)
            with Session(database) as session:
                return seed_corpus(session)
        except (OperationalError, IntegrityError, ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    return False


@contextmanager
def temporary_database(server_url: str, prefix: str) -> Iterator[str]:
    """A new, empty database on a PostgreSQL server, dropped afterwards (tests, benchmarks):
    runs sharing one server cannot disturb each other."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


MIGRATIONS = Path(__file__).with_name("migrations")
# The revision that describes the schema of databases made before migrations existed.
_BASELINE = "0001"


def migrations_config(connection: Connection | None = None) -> Any:
    """Alembic's configuration for ``app/migrations``, bound to ``connection`` if given."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(database: DatabaseEngine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` with the Alembic migrations, in one transaction.

    A database made before migrations existed (tables but no ``alembic_version``) is first
    given the columns later releases of that code added, and stamped at the baseline.
    On PostgreSQL an advisory lock makes workers starting together upgrade one at a time.
    """
    from alembic import command

    with database.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(7220626)"))  # any fixed number
        config = migrations_config(connection)
        tables = set(inspect(connection).get_table_names())
        if "reply" in tables and "alembic_version" not in tables:
            _add_columns_of_later_releases(connection)
            command.stamp(config, _BASELINE)
        command.upgrade(config, revision)


def _add_columns_of_later_releases(connection: Connection) -> None:
    added = {
        "reply": (
            ("analysis", "JSON"),
            ("analyzer", "VARCHAR(32)"),
            ("changed_in", "INTEGER NOT NULL DEFAULT 0"),
        ),
        "corpus_state": (("replies_version", "INTEGER NOT NULL DEFAULT 0"),),
    }
    for table, columns in added.items():
        existing = {column["name"] for column in inspect(connection).get_columns(table)}
        for name, sql_type in columns:
            if name not in existing:
                connection.execute(text(f"ALTER TABLE {table} ADD COLUMN {name} {sql_type}"))
    connection.execute(text("CREATE INDEX IF NOT EXISTS ix_reply_changed_in ON reply (changed_in)"))


def seed_corpus(
    session: Session, *, replies: Iterable[Reply] | None = None, rules: Iterable[LintRule] | None = None
) -> bool:
    """Load ``scripts_corpus/`` into empty tables (first start). Returns whether it seeded."""
    if session.exec(select(func.count()).select_from(ReplyRow)).one():
        return False
    for reply in load_replies() if replies is None else replies:
        row = ReplyRow(
            id=reply.id,
            shop_id=reply.shop_id,
            text=reply.text,
            intents=[str(i) for i in reply.intents],
            triggers=list(reply.triggers),
            tags=list(reply.tags),
            slots=dict(reply.slots),
        )
        session.add(row)
        session.add(_history(ReplyRow, row.id, 1, row.model_dump(), "system"))
    if not session.exec(select(func.count()).select_from(LintRuleRow)).one():
        for rule in load_lint_rules() if rules is None else rules:
            values = _rule_values(rule, enabled=True)
            session.add(LintRuleRow(id=rule.id, **values))
            session.add(_history(LintRuleRow, rule.id, 1, values, "system"))
    session.add(AuditLog(actor="system", action="seed_corpus", target="reply,lint_rule"))
    bump_corpus_version(session, replies_changed=True)
    session.commit()
    return True


def bump_corpus_version(session: Session, *, replies_changed: bool) -> int:
    """Count one more corpus change, in the caller's transaction; returns the replies'
    version after it.

    The update locks the one state row until the caller commits, so changes commit in
    the order of their versions: a worker that sees replies version V can read every
    reply changed in V or before.
    """
    step = int(replies_changed)
    updated = session.exec(
        update(CorpusState)
        .where(col(CorpusState.id) == 1)
        .values(version=CorpusState.version + 1, replies_version=CorpusState.replies_version + step)
    )
    if not updated.rowcount:
        session.add(CorpusState(id=1, version=1, replies_version=step))
        session.flush()
    return session.exec(select(CorpusState.replies_version).where(CorpusState.id == 1)).one()


def corpus_versions(session: Session) -> tuple[int, int]:
    """The corpus version and the replies' version: the one-row read every worker polls."""
    state = select(CorpusState.version, CorpusState.replies_version).where(CorpusState.id == 1)
    return session.exec(state).first() or (0, 0)


def corpus_version(session: Session) -> int:
    """The corpus version: it moves with every reply or lint-rule change."""
    return corpus_versions(session)[0]


class RepliesFingerprint(NamedTuple):
    """What identifies the approved replies' current content: the replies' own version
    counter, and the count, version sum and last update of approved replies (a restored
    backup or a re-created database differs in these even at the same counter)."""

    replies_version: int
    approved: int
    version_sum: int
    last_update: str


def corpus_fingerprint(session: Session) -> tuple[int, RepliesFingerprint]:
    """The corpus version and the approved replies' fingerprint. A lint-rule change moves
    the first, not the second."""
    approved = select(
        func.count(), func.coalesce(func.sum(ReplyRow.version), 0), func.max(ReplyRow.updated_at)
    ).where(ReplyRow.status == "approved")
    count, versions, last = session.exec(approved).one()
    version, replies_version = corpus_versions(session)
    return version, RepliesFingerprint(replies_version, count, int(versions), str(last))


@dataclass(frozen=True)
class Corpus:
    version: int
    replies: list[Reply]
    analyses: dict[str, ReplyAnalysis]  # only those made by the current analyzer
    rules: list[LintRule]


_REPLY_COLUMNS: tuple[Any, ...] = (
    ReplyRow.id, ReplyRow.intents, ReplyRow.text, ReplyRow.triggers, ReplyRow.tags,
    ReplyRow.slots, ReplyRow.shop_id, ReplyRow.analysis, ReplyRow.analyzer,
)  # fmt: skip


def _reply_and_analysis(row: Any, analyzer: str) -> tuple[Reply, ReplyAnalysis | None]:
    """A reply from ``_REPLY_COLUMNS``, with its stored analysis if ``analyzer`` made it."""
    reply_id, intents, text_, triggers, tags, slots, shop_id, analysis, made_by = row
    reply = reply_from_dict(
        {
            "id": reply_id,
            "intents": intents,
            "text": text_,
            "triggers": triggers,
            "tags": tags,
            "slots": slots,
            "shop_id": shop_id,
        }
    )
    return reply, ReplyAnalysis.from_json(analysis) if analysis is not None and made_by == analyzer else None


def load_corpus(session: Session, *, analyzer: str) -> Corpus:
    """The approved replies and enabled lint rules, with the version they belong to."""
    version = corpus_version(session)
    rows = session.exec(
        select(*_REPLY_COLUMNS).where(col(ReplyRow.status) == "approved").order_by(col(ReplyRow.id))
    )
    replies: list[Reply] = []
    analyses: dict[str, ReplyAnalysis] = {}
    for row in rows:
        reply, analysis = _reply_and_analysis(row, analyzer)
        replies.append(reply)
        if analysis is not None:
            analyses[reply.id] = analysis
    return Corpus(version, replies, analyses, enabled_lint_rules(session))


@dataclass(frozen=True)
class ReplyChanges:
    replies_version: int  # the replies' version these changes bring an index to
    # reply id → the approved reply and its stored analysis (None: stale or missing), or
    # None when the reply is no longer approved
    changed: dict[str, tuple[Reply, ReplyAnalysis | None] | None]


def reply_changes(session: Session, *, after: int, analyzer: str, limit: int) -> ReplyChanges | None:
    """The replies changed since replies version ``after``; None when more than ``limit``
    changed or the version went back (another database, or a restored one)."""
    replies_version = corpus_versions(session)[1]
    if replies_version < after:
        return None
    statement = (
        select(ReplyRow.status, ReplyRow.changed_in, *_REPLY_COLUMNS)
        .where(col(ReplyRow.changed_in) > after)
        .order_by(col(ReplyRow.changed_in))
        .limit(limit + 1)
    )
    rows = session.exec(statement).all()
    if len(rows) > limit:
        return None
    changed: dict[str, tuple[Reply, ReplyAnalysis | None] | None] = {}
    for status, changed_in, *columns in rows:
        # Read after the state row: rows committed since carry a later version; take it.
        replies_version = max(replies_version, changed_in)
        changed[columns[0]] = _reply_and_analysis(columns, analyzer) if status == "approved" else None
    return ReplyChanges(replies_version, changed)


def save_analyses(session: Session, analyses: Mapping[str, ReplyAnalysis], *, analyzer: str) -> None:
    """Store analyses made at start-up, so the next start (or worker) skips them."""
    if analyses:
        session.exec(
            update(ReplyRow),
            params=[{"id": i, "analysis": a.to_json(), "analyzer": analyzer} for i, a in analyses.items()],
        )
        session.commit()


def enabled_lint_rules(session: Session) -> list[LintRule]:
    rows = session.exec(select(LintRuleRow).where(LintRuleRow.enabled == True).order_by(LintRuleRow.id))  # noqa: E712
    return [rule_from_dict(row.model_dump()) for row in rows.all()]


def reply_intents(session: Session, *, reply_id: str) -> list[str] | None:
    row = session.get(ReplyRow, reply_id)
    return None if row is None else list(row.intents)


def add_api_key(session: Session, *, name: str, role: str, key_hash: str, prefix: str) -> ApiKey:
    key = ApiKey(name=name, role=role, key_hash=key_hash, prefix=prefix)
    session.add(key)
    session.add(
        AuditLog(actor="cli", action="create_key", target=name, detail={"role": role, "prefix": prefix})
    )
    session.commit()
    session.refresh(key)
    return key


def find_api_key(session: Session, *, key_hash: str) -> ApiKey | None:
    return session.exec(select(ApiKey).where(ApiKey.key_hash == key_hash)).first()


def list_api_keys(session: Session) -> list[ApiKey]:
    return list(session.exec(select(ApiKey).order_by(col(ApiKey.id))).all())


def revoke_api_key(session: Session, *, key_id: int) -> ApiKey | None:
    key = session.get(ApiKey, key_id)
    if key is None:
        return None
    if key.revoked_at is None:
        key.revoked_at = _now()
        session.add(AuditLog(actor="cli", action="revoke_key", target=key.name, detail={"id": key_id}))
        session.commit()
        session.refresh(key)
    return key


def add_feedback(
    session: Session,
    *,
    reply_id: str,
    intent: str,
    action: str,
    conversation_id: str | None,
    final_text: str | None,
    key_id: int | None,
) -> None:
    session.add(
        FeedbackEvent(
            reply_id=reply_id,
            intent=intent,
            action=action,
            conversation_id=conversation_id,
            final_text=final_text,
            key_id=key_id,
        )
    )
    session.commit()


def feedback_counts_through(session: Session, *, last_id: int) -> dict[tuple[str, str], dict[str, int]]:
    """Counts of all feedback events up to ``last_id``, grouped in the database."""
    statement = (
        select(FeedbackEvent.reply_id, FeedbackEvent.intent, FeedbackEvent.action, func.count())
        .where(col(FeedbackEvent.id) <= last_id)
        .group_by(FeedbackEvent.reply_id, FeedbackEvent.intent, FeedbackEvent.action)
    )
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for reply_id, intent, action, count in session.exec(statement).all():
        counts.setdefault((reply_id, intent), {})[action] = count
    return counts


def last_feedback_id(session: Session) -> int:
    return session.exec(select(func.max(FeedbackEvent.id))).one() or 0


def feedback_events(
    session: Session, *, after_id: int, also: Iterable[int] = ()
) -> list[tuple[int, str, str, str]]:
    """(id, reply_id, intent, action) of the events after ``after_id`` and of the ids in
    ``also``, in id order."""
    condition = col(FeedbackEvent.id) > after_id
    also = list(also)
    if also:
        condition = or_(condition, col(FeedbackEvent.id).in_(also))
    statement = (
        select(FeedbackEvent.id, FeedbackEvent.reply_id, FeedbackEvent.intent, FeedbackEvent.action)
        .where(condition)
        .order_by(col(FeedbackEvent.id))
    )
    return [(int(i or 0), r, n, a) for i, r, n, a in session.exec(statement).all()]


_conversation = SQLModel.metadata.tables["conversation"]


def forget_conversations(connection: Connection, *, before: float) -> int:
    return connection.execute(_conversation.delete().where(_conversation.c.updated_at < before)).rowcount


def ping(session: Session) -> None:
    session.exec(select(1)).one()


# Editors' changes. Each one bumps the corpus version in its own transaction, so every
# worker rebuilds from a consistent corpus; each is audited with the editor's key name.


def reply_row(session: Session, *, reply_id: str) -> ReplyRow | None:
    return session.get(ReplyRow, reply_id)


def list_reply_rows(
    session: Session, *, status: str | None, limit: int, offset: int, shop_id: str | None = None
) -> list[ReplyRow]:
    statement = select(ReplyRow).order_by(ReplyRow.id).offset(offset).limit(limit)
    if status is not None:
        statement = statement.where(ReplyRow.status == status)
    if shop_id is not None:
        statement = statement.where(ReplyRow.shop_id == shop_id)
    return list(session.exec(statement).all())


def _reply_values(reply: Reply, analysis: ReplyAnalysis, analyzer: str, status: str) -> dict[str, Any]:
    return {
        "status": status,
        "shop_id": reply.shop_id,
        "text": reply.text,
        "intents": [str(i) for i in reply.intents],
        "triggers": list(reply.triggers),
        "tags": list(reply.tags),
        "slots": dict(reply.slots),
        "analysis": analysis.to_json(),
        "analyzer": analyzer,
        "updated_at": _now(),
    }


class IdTaken(Exception):
    """An insert's id belongs to a row already (retired replies and disabled rules too)."""


@contextmanager
def corpus_change(session: Session, *, replies_changed: bool) -> Iterator[int]:
    """One editor's change, in one transaction: takes the corpus lock (see
    ``bump_corpus_version``) and yields the replies' version of this change; commits when
    the block ends, rolls back if it raises. The caller checks the corpus under the lock
    (a reply against the rules, a rule against the replies), so such checks run one at a
    time, then writes."""
    try:
        yield bump_corpus_version(session, replies_changed=replies_changed)
        session.commit()
    except BaseException:
        session.rollback()
        raise


# What a version of each is, in its history: the editor's fields, not the derived ones.
_NOT_HISTORY = {"id", "version", "analysis", "analyzer", "updated_at", "changed_in"}


def _history(
    model: type[ReplyRow] | type[LintRuleRow],
    row_id: str,
    version: int,
    values: Mapping[str, Any],
    actor: str,
) -> CorpusHistory:
    data = {name: value for name, value in values.items() if name not in _NOT_HISTORY}
    return CorpusHistory(
        entity=model.__tablename__, entity_id=row_id, version=version, data=data, actor=actor
    )


def _insert(session: Session, row: ReplyRow | LintRuleRow, audit: AuditLog) -> None:
    session.add(row)
    session.add(audit)
    try:
        session.flush()
    except IntegrityError as exc:
        raise IdTaken(row.id) from exc
    session.add(_history(type(row), row.id, row.version, row.model_dump(), audit.actor))


def _update(
    session: Session,
    model: type[ReplyRow] | type[LintRuleRow],
    row_id: str,
    *,
    expected_version: int,
    values: dict[str, Any],
    audit: AuditLog,
) -> bool:
    """Whether the row was at ``expected_version`` and is now updated (inside a
    ``corpus_change``). The version check is in the UPDATE itself, so of two editors saving
    the same version exactly one wins and the other learns its edit is stale."""
    statement = (
        update(model)
        .where(col(model.id) == row_id, col(model.version) == expected_version)
        .values(version=model.version + 1, **values)
    )
    if not session.exec(statement).rowcount:
        return False
    session.add(audit)
    session.add(_history(model, row_id, expected_version + 1, values, audit.actor))
    return True


def insert_reply(
    session: Session,
    *,
    reply: Reply,
    analysis: ReplyAnalysis,
    analyzer: str,
    status: str,
    actor: str,
    changed_in: int,
) -> None:
    """Add a reply at version 1 (inside a ``corpus_change``); ``IdTaken`` if the id exists."""
    _insert(
        session,
        ReplyRow(
            id=reply.id, version=1, changed_in=changed_in, **_reply_values(reply, analysis, analyzer, status)
        ),
        AuditLog(actor=actor, action="create_reply", target=reply.id, detail={"status": status}),
    )


def update_reply(
    session: Session,
    *,
    reply: Reply,
    analysis: ReplyAnalysis,
    analyzer: str,
    status: str,
    expected_version: int,
    actor: str,
    changed_in: int,
) -> bool:
    return _update(
        session,
        ReplyRow,
        reply.id,
        expected_version=expected_version,
        values={**_reply_values(reply, analysis, analyzer, status), "changed_in": changed_in},
        audit=AuditLog(
            actor=actor,
            action="update_reply",
            target=reply.id,
            detail={"status": status, "from": expected_version},
        ),
    )


def lint_rule_row(session: Session, *, rule_id: str) -> LintRuleRow | None:
    return session.get(LintRuleRow, rule_id)


def list_lint_rule_rows(
    session: Session, *, enabled: bool | None, limit: int, offset: int
) -> list[LintRuleRow]:
    statement = select(LintRuleRow).order_by(LintRuleRow.id).offset(offset).limit(limit)
    if enabled is not None:
        statement = statement.where(LintRuleRow.enabled == enabled)
    return list(session.exec(statement).all())


def _rule_values(rule: LintRule, enabled: bool) -> dict[str, Any]:
    return {
        "category": rule.category,
        "severity": str(rule.severity),
        "suggestion": rule.suggestion,
        "kind": rule.kind,
        "phrases": list(rule.phrases),
        "not_before": list(rule.not_before),
        "not_after": list(rule.not_after),
        "enabled": enabled,
        "updated_at": _now(),
    }


def insert_lint_rule(session: Session, *, rule: LintRule, enabled: bool, actor: str) -> None:
    """Add a rule at version 1 (inside a ``corpus_change``); ``IdTaken`` if the id exists."""
    _insert(
        session,
        LintRuleRow(id=rule.id, version=1, **_rule_values(rule, enabled)),
        AuditLog(actor=actor, action="create_lint_rule", target=rule.id, detail={"enabled": enabled}),
    )


def update_lint_rule(
    session: Session, *, rule: LintRule, enabled: bool, expected_version: int, actor: str
) -> bool:
    return _update(
        session,
        LintRuleRow,
        rule.id,
        expected_version=expected_version,
        values=_rule_values(rule, enabled),
        audit=AuditLog(
            actor=actor,
            action="update_lint_rule",
            target=rule.id,
            detail={"enabled": enabled, "from": expected_version},
        ),
    )


def approved_reply_texts(session: Session) -> Iterator[tuple[str, str]]:
    """(id, text) of every approved reply, streamed."""
    statement = select(ReplyRow.id, ReplyRow.text).where(ReplyRow.status == "approved").order_by(ReplyRow.id)
    yield from session.exec(statement.execution_options(yield_per=1000))


# The studio: history, audit, suggestion events and what the analytics read.


def history(session: Session, *, entity: str, entity_id: str) -> list[CorpusHistory]:
    """Every stored version of one reply (``entity="reply"``) or rule (``"lint_rule"``), oldest first."""
    statement = (
        select(CorpusHistory)
        .where(col(CorpusHistory.entity) == entity, col(CorpusHistory.entity_id) == entity_id)
        .order_by(col(CorpusHistory.version), col(CorpusHistory.id))
    )
    return list(session.exec(statement).all())


def audit_entries(
    session: Session,
    *,
    since: datetime | None,
    actor: str | None,
    entity: str | None,
    limit: int,
    offset: int,
) -> list[AuditLog]:
    """Audit lines, newest first; ``entity`` is the id of what was changed."""
    statement = select(AuditLog).order_by(col(AuditLog.id).desc()).offset(offset).limit(limit)
    if since is not None:
        statement = statement.where(col(AuditLog.created_at) >= since)
    if actor is not None:
        statement = statement.where(col(AuditLog.actor) == actor)
    if entity is not None:
        statement = statement.where(col(AuditLog.target) == entity)
    return list(session.exec(statement).all())


def all_reply_rows(session: Session, *, status: str | None, shop_id: str | None) -> list[ReplyRow]:
    """Replies in id order (for searches the database cannot do: JSON lists, folded text)."""
    statement = select(ReplyRow).order_by(col(ReplyRow.id))
    if status is not None:
        statement = statement.where(col(ReplyRow.status) == status)
    if shop_id is not None:
        statement = statement.where(col(ReplyRow.shop_id) == shop_id)
    return list(session.exec(statement).all())


def all_lint_rule_rows(session: Session) -> list[LintRuleRow]:
    return list(session.exec(select(LintRuleRow).order_by(col(LintRuleRow.id))).all())


def add_suggestion_events(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """One batch of answered messages, in one statement (``app.events`` batches them)."""
    if rows:
        connection.execute(_suggestion_event.insert(), rows)


_suggestion_event = SQLModel.metadata.tables["suggestion_event"]
_feedback_event = SQLModel.metadata.tables["feedback_event"]


class Window(NamedTuple):
    """What the analytics read: ``since`` ≤ created_at < ``until``, one shop or all, and the
    offset from UTC at which calendar days are counted."""

    since: datetime
    until: datetime
    shop_id: str | None
    utc_offset_minutes: int


def _events_in(window: Window) -> list[Any]:
    conditions = [
        _suggestion_event.c.created_at >= window.since,
        _suggestion_event.c.created_at < window.until,
    ]
    if window.shop_id is not None:
        conditions.append(_suggestion_event.c.shop_id == window.shop_id)
    return conditions


def _feedback_in(window: Window, *, until: datetime | None = None) -> list[Any]:
    """A feedback event has no shop: it is the shop's when its conversation is."""
    conditions = [
        _feedback_event.c.created_at >= window.since,
        _feedback_event.c.created_at < (until or window.until),
    ]
    if window.shop_id is not None:
        shop_conversations = (
            select(_suggestion_event.c.conversation_id)
            .where(_suggestion_event.c.shop_id == window.shop_id)
            .where(_suggestion_event.c.conversation_id.is_not(None))
        )
        conditions.append(_feedback_event.c.conversation_id.in_(shop_conversations))
    return conditions


def offer_counts(session: Session, *, window: Window) -> dict[str, int]:
    """How many buyer messages each reply was suggested for, counted in the database (the
    JSON list of offered ids unnested: json_each on SQLite, json_array_elements_text on
    PostgreSQL)."""
    ids = _suggestion_event.c.reply_ids
    if session.get_bind().dialect.name == "postgresql":
        offered = func.json_array_elements_text(ids).table_valued("value")
    else:
        offered = func.json_each(ids).table_valued("value")
    statement = (
        select(offered.c.value, func.count())
        .select_from(_suggestion_event)
        .join(offered, true())
        .where(*_events_in(window))
        .group_by(offered.c.value)
    )
    return {str(reply_id): count for reply_id, count in session.exec(statement).all()}


def feedback_action_counts(session: Session, *, window: Window) -> dict[tuple[str, str], int]:
    """(reply_id, action) → how many, in the window."""
    statement = (
        select(_feedback_event.c.reply_id, _feedback_event.c.action, func.count())
        .where(*_feedback_in(window))
        .group_by(_feedback_event.c.reply_id, _feedback_event.c.action)
    )
    return {(r, a): n for r, a, n in session.exec(statement).all()}


def edited_final_texts(
    session: Session, *, window: Window, reply_ids: list[str], limit: int
) -> list[tuple[str, str]]:
    """(reply_id, final_text) of the edits of these replies that carry the text sent, newest first."""
    if not reply_ids:
        return []
    statement = (
        select(_feedback_event.c.reply_id, _feedback_event.c.final_text)
        .where(*_feedback_in(window), _feedback_event.c.action == "edited")
        .where(_feedback_event.c.final_text.is_not(None), _feedback_event.c.reply_id.in_(reply_ids))
        .order_by(_feedback_event.c.id.desc())
        .limit(limit)
    )
    return [(r, t) for r, t in session.exec(statement).all()]


class OfferedMessage(NamedTuple):
    conversation_id: str | None
    intent: str
    abstained: bool
    text: str
    reply_ids: list[str]
    created_at: datetime


def offered_messages(session: Session, *, window: Window) -> Iterator[OfferedMessage]:
    """The answered buyer messages of the window, oldest first, streamed."""
    table = _suggestion_event.c
    statement = (
        sql_select(
            table.conversation_id,
            table.intent,
            table.abstained,
            table.text,
            table.reply_ids,
            table.created_at,
        )
        .where(*_events_in(window))
        .order_by(table.created_at, table.id)
        .execution_options(yield_per=2000)
    )
    for row in session.connection().execute(statement):
        yield OfferedMessage(*row)


def uses_by_conversation(
    session: Session, *, window: Window, until: datetime
) -> dict[str, list[tuple[datetime, str]]]:
    """conversation → [(when, reply_id)] of the ``used`` / ``edited`` feedback from the window's
    start to ``until``, oldest first."""
    table = _feedback_event.c
    statement = (
        select(table.conversation_id, table.created_at, table.reply_id)
        .where(*_feedback_in(window, until=until), table.action.in_(("used", "edited")))
        .where(table.conversation_id.is_not(None))
        .order_by(table.created_at)
    )
    uses: dict[str, list[tuple[datetime, str]]] = {}
    for conversation_id, created_at, reply_id in session.exec(statement):
        uses.setdefault(conversation_id, []).append((created_at, reply_id))
    return uses


def reply_rows_by_id(session: Session, *, ids: Iterable[str]) -> dict[str, ReplyRow]:
    """The rows of these ids that exist (read in chunks: an import names thousands)."""
    ids = list(ids)
    found: dict[str, ReplyRow] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found.update(
            (row.id, row) for row in session.exec(select(ReplyRow).where(col(ReplyRow.id).in_(chunk)))
        )
    return found


def add_audit(session: Session, *, actor: str, action: str, target: str, detail: dict[str, Any]) -> None:
    session.add(AuditLog(actor=actor, action=action, target=target, detail=detail))

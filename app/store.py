"""All database access: tables and keyword-only functions. SQLite or PostgreSQL via SQLModel."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Column, func
from sqlalchemy.engine import Engine as DatabaseEngine
from sqlmodel import Field, Session, SQLModel, create_engine, select

from classifiers import LintRule, Reply
from classifiers.corpus import load_lint_rules, load_replies, reply_from_dict, rule_from_dict


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
    updated_at: datetime = Field(default_factory=_now)


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
    conversation_id: str | None = Field(default=None, max_length=200)
    final_text: str | None = None
    key_id: int | None = None
    created_at: datetime = Field(default_factory=_now)


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"
    id: int | None = Field(default=None, primary_key=True)
    actor: str
    action: str
    target: str
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=_now)


def connect(url: str) -> DatabaseEngine:
    """An engine for ``url``; a SQLite file's folder is created if missing."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return create_engine(url, connect_args={"check_same_thread": False})
    return create_engine(url, pool_pre_ping=True)


def create_schema(database: DatabaseEngine) -> None:
    SQLModel.metadata.create_all(database)


def seed_corpus(
    session: Session, *, replies: Iterable[Reply] | None = None, rules: Iterable[LintRule] | None = None
) -> bool:
    """Load ``scripts_corpus/`` into empty tables (first start). Returns whether it seeded."""
    if session.exec(select(func.count()).select_from(ReplyRow)).one():
        return False
    for reply in load_replies() if replies is None else replies:
        session.add(
            ReplyRow(
                id=reply.id,
                shop_id=reply.shop_id,
                text=reply.text,
                intents=[str(i) for i in reply.intents],
                triggers=list(reply.triggers),
                tags=list(reply.tags),
                slots=dict(reply.slots),
            )
        )
    if not session.exec(select(func.count()).select_from(LintRuleRow)).one():
        for rule in load_lint_rules() if rules is None else rules:
            session.add(
                LintRuleRow(
                    id=rule.id,
                    category=rule.category,
                    severity=str(rule.severity),
                    suggestion=rule.suggestion,
                    kind=rule.kind,
                    phrases=list(rule.phrases),
                    not_before=list(rule.not_before),
                    not_after=list(rule.not_after),
                )
            )
    session.add(AuditLog(actor="system", action="seed_corpus", target="reply,lint_rule"))
    session.commit()
    return True


def approved_replies(session: Session) -> list[Reply]:
    rows = session.exec(select(ReplyRow).where(ReplyRow.status == "approved").order_by(ReplyRow.id)).all()
    return [
        reply_from_dict(
            {
                "id": row.id,
                "intents": row.intents,
                "text": row.text,
                "triggers": row.triggers,
                "tags": row.tags,
                "slots": row.slots,
                "shop_id": row.shop_id,
            }
        )
        for row in rows
    ]


def enabled_lint_rules(session: Session) -> list[LintRule]:
    rows = session.exec(select(LintRuleRow).where(LintRuleRow.enabled == True).order_by(LintRuleRow.id))  # noqa: E712
    return [
        rule_from_dict(
            {
                "id": row.id,
                "category": row.category,
                "severity": row.severity,
                "suggestion": row.suggestion,
                "kind": row.kind,
                "phrases": row.phrases,
                "not_before": row.not_before,
                "not_after": row.not_after,
            }
        )
        for row in rows.all()
    ]


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
    return list(session.exec(select(ApiKey).order_by(ApiKey.id)).all())


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


def feedback_counts(session: Session) -> dict[tuple[str, str], dict[str, int]]:
    """(reply_id, intent) → {action: count}, for the ranking boost."""
    statement = select(
        FeedbackEvent.reply_id, FeedbackEvent.intent, FeedbackEvent.action, func.count()
    ).group_by(FeedbackEvent.reply_id, FeedbackEvent.intent, FeedbackEvent.action)
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for reply_id, intent, action, count in session.exec(statement).all():
        counts.setdefault((reply_id, intent), {})[action] = count
    return counts


def ping(session: Session) -> None:
    session.exec(select(1)).one()

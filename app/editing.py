"""Script editors' changes to the corpus: the approved replies and the banned-phrasing rules.

Every change is validated, analysed, checked against the corpus under the corpus lock (an
approved reply must pass the blocking rules; an enabled blocking rule must not block an
approved reply), stored with its audit line and a new corpus version, and applied on this
worker before the editor gets an answer; the other workers apply it at their next sync poll.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from sqlalchemy.engine import Engine as DatabaseEngine
from sqlmodel import Session

from app import store
from app.errors import ApiError
from app.schemas import (
    LintRuleCreate,
    LintRuleIn,
    LintRulePatch,
    LintRuleUpdate,
    ReplyCreate,
    ReplyIn,
    ReplyPatch,
    ReplyUpdate,
)
from classifiers import Engine, LintRule, Reply
from classifiers.corpus import rule_from_dict
from classifiers.engine import analyzer_version
from classifiers.lint import Linter, rule_problems
from classifiers.normalize import normalized_text
from classifiers.types import Severity

# At most this many reply ids are named when a rule would block approved replies.
NAMED_REPLIES = 20


def reply_out(row: store.ReplyRow) -> dict:
    return row.model_dump(exclude={"analysis", "analyzer", "updated_at", "changed_in"})


def rule_out(row: store.LintRuleRow) -> dict:
    return row.model_dump(exclude={"updated_at"})


@dataclass(frozen=True)
class Kind:
    """What differs between editing replies and editing rules."""

    name: str  # for messages: "reply", "lint rule"
    entity: str  # the table, as the history names it
    unknown: str  # the 404 code
    exists: str  # the 409 code for a taken id
    body: type[ReplyIn] | type[LintRuleIn]
    retired: dict[str, Any]  # the fields that retire one: it stays, unused
    row: Callable[..., Any]  # store getter: (session, id) → row or None
    out: Callable[[Any], dict]


REPLIES = Kind(
    "reply", "reply", "unknown_reply", "reply_exists", ReplyIn, {"status": "retired"},
    lambda session, id_: store.reply_row(session, reply_id=id_), reply_out,
)  # fmt: skip
RULES = Kind(
    "lint rule", "lint_rule", "unknown_rule", "rule_exists", LintRuleIn, {"enabled": False},
    lambda session, id_: store.lint_rule_row(session, rule_id=id_), rule_out,
)  # fmt: skip


def reply_from_body(reply_id: str, body: ReplyIn) -> Reply:
    return Reply(
        id=reply_id,
        intents=tuple(body.intents),
        text=body.text,
        triggers=tuple(body.triggers),
        tags=tuple(body.tags),
        slots=dict(body.slots),
        shop_id=body.shop_id,
    )


def rule_from_body(rule_id: str, body: LintRuleIn) -> LintRule:
    """The rule, refused (422) if it cannot match."""
    rule = rule_from_dict({"id": rule_id, **body.model_dump()})
    problems = rule_problems(rule)
    if problems:
        raise ApiError(422, "invalid_rule", "the rule cannot be used as written", problems)
    return rule


def check_reply_passes_rules(session: Session, reply: Reply, status: str) -> None:
    """Approved replies are what agents send: hold them to the agents' blocking rules, as the
    database has them under the corpus lock (this worker's linter may not have a rule
    another worker added a moment ago, and a rule being added now is checked after)."""
    if status != "approved":
        return
    blocking_rules = [r for r in store.enabled_lint_rules(session) if r.severity is Severity.BLOCK]
    blocking = [asdict(flag) for flag in Linter(blocking_rules).lint(reply.text).flags]
    if blocking:
        raise ApiError(422, "reply_fails_lint", "an approved reply may not contain banned phrasing", blocking)


def check_rule_blocks_no_reply(session: Session, rule: LintRule, enabled: bool) -> None:
    """Agents send approved replies as they are: an enabled blocking rule must not block one
    of them, as the database has them under the corpus lock."""
    if not enabled or rule.severity is not Severity.BLOCK:
        return
    linter = Linter([rule])
    blocked = [reply_id for reply_id, text in store.approved_reply_texts(session) if not linter.lint(text).ok]
    if blocked:
        raise ApiError(
            422,
            "rule_blocks_approved_replies",
            f"this rule would block {len(blocked)} approved replies; reword them first, or make it warn",
            {"count": len(blocked), "replies": blocked[:NAMED_REPLIES]},
        )


def write_reply(
    database: DatabaseEngine,
    engine: Engine,
    reply: Reply,
    *,
    status: str,
    actor: str,
    expected_version: int | None = None,
) -> bool:
    """Store ``reply`` (new when ``expected_version`` is None), checked under the corpus lock.
    False when the edit is stale; ``store.IdTaken`` when a new reply's id is taken."""
    analysis = engine.analyze_reply(reply)
    values: dict[str, Any] = {
        "reply": reply,
        "analysis": analysis,
        "analyzer": analyzer_version(),
        "status": status,
        "actor": actor,
    }
    return _locked_write(
        database,
        replies_changed=True,
        check=lambda session: check_reply_passes_rules(session, reply, status),
        insert=lambda session, version: store.insert_reply(session, **values, changed_in=version),
        update=None if expected_version is None else lambda session, version: store.update_reply(
            session, **values, expected_version=expected_version, changed_in=version
        ),
    )  # fmt: skip


def write_rule(
    database: DatabaseEngine,
    rule: LintRule,
    *,
    enabled: bool,
    actor: str,
    expected_version: int | None = None,
) -> bool:
    """Store ``rule`` (new when ``expected_version`` is None), checked under the corpus lock.
    False when the edit is stale; ``store.IdTaken`` when a new rule's id is taken."""
    return _locked_write(
        database,
        replies_changed=False,
        check=lambda session: check_rule_blocks_no_reply(session, rule, enabled),
        insert=lambda session, _: store.insert_lint_rule(session, rule=rule, enabled=enabled, actor=actor),
        update=None if expected_version is None else lambda session, _: store.update_lint_rule(
            session, rule=rule, enabled=enabled, expected_version=expected_version, actor=actor
        ),
    )  # fmt: skip


def _locked_write(
    database: DatabaseEngine,
    *,
    replies_changed: bool,
    check: Callable[[Session], None],
    insert: Callable[[Session, int], None],
    update: Callable[[Session, int], bool] | None,
) -> bool:
    """One change in one transaction under the corpus lock: ``insert`` (after ``check``), or
    ``update`` when given (then ``check``); False, and nothing written, when it is stale."""
    with (
        Session(database) as session,
        store.corpus_change(session, replies_changed=replies_changed) as version,
    ):
        if update is None:
            check(session)
            insert(session, version)
            return True
        # A stale edit is refused before any check: the editor must see the newer version first.
        if not update(session, version):
            session.rollback()  # nothing of this change may land
            return False
        check(session)
        return True


class CorpusEditor:
    """What the editor routes call: each method validates, writes and answers the row."""

    def __init__(self, database: DatabaseEngine, engine: Callable[[], Engine], refresh: Callable) -> None:
        """``engine`` gives the serving engine (for analysing a reply); ``refresh`` is awaited
        after a write so this worker serves the change before the editor is answered."""
        self._database = database
        self._engine = engine
        self._refresh = refresh

    # Reads
    def rules(self, *, enabled: bool | None, limit: int, offset: int) -> list[dict]:
        with Session(self._database) as session:
            rows = store.list_lint_rule_rows(session, enabled=enabled, limit=limit, offset=offset)
            return [rule_out(row) for row in rows]

    def search(
        self,
        *,
        query: str | None,
        status: str | None,
        shop_id: str | None,
        intent: str | None,
        tag: str | None,
        limit: int,
        offset: int,
    ) -> list[dict]:
        """Replies whose id, text, triggers or tags contain ``query`` as folded text (Simplified
        or Traditional, any width finds both), of that intent and tag, in id order."""
        if query is None and intent is None and tag is None:
            with Session(self._database) as session:
                rows = store.list_reply_rows(
                    session, status=status, shop_id=shop_id, limit=limit, offset=offset
                )
                return [reply_out(row) for row in rows]
        folded = normalized_text(query) if query else None
        found: list[dict] = []
        with Session(self._database) as session:
            for row in store.all_reply_rows(session, status=status, shop_id=shop_id):
                if intent is not None and intent not in row.intents:
                    continue
                if tag is not None and tag not in row.tags:
                    continue
                if folded:
                    haystack = "\n".join([row.id, row.text, *row.triggers, *row.tags])
                    if folded not in normalized_text(haystack):
                        continue
                found.append(reply_out(row))
        return found[offset : offset + limit]

    def history(self, kind: Kind, entity_id: str) -> list[dict]:
        """Every stored version, oldest first; 404 for an unknown id."""
        self.get(kind, entity_id)
        with Session(self._database) as session:
            return [
                row.model_dump() for row in store.history(session, entity=kind.entity, entity_id=entity_id)
            ]

    def audit(self, **filters: Any) -> list[dict]:
        with Session(self._database) as session:
            return [row.model_dump() for row in store.audit_entries(session, **filters)]

    def get(self, kind: Kind, entity_id: str) -> dict:
        """The current row, or 404."""
        with Session(self._database) as session:
            row = kind.row(session, entity_id)
            if row is None:
                raise ApiError(404, kind.unknown, f"no {kind.name} with id {entity_id!r}")
            return kind.out(row)

    # Writes: each answers the row as stored
    async def create(self, kind: Kind, body: ReplyCreate | LintRuleCreate, *, actor: str) -> dict:
        return await self._save(kind, body.id, body, None, actor)

    async def update(
        self, kind: Kind, entity_id: str, body: ReplyUpdate | LintRuleUpdate, *, actor: str
    ) -> dict:
        """``body.version`` must be the one the editor started from, or the edit is refused (409)."""
        return await self._save(kind, entity_id, body, body.version, actor)

    async def patch(
        self, kind: Kind, entity_id: str, body: ReplyPatch | LintRulePatch, *, actor: str
    ) -> dict:
        """Change only the fields given; ``body.version`` as for ``update``."""
        current = self.get(kind, entity_id)
        merged = {**current, **body.model_dump(exclude_unset=True, exclude={"version"})}
        try:
            full = kind.body.model_validate(merged)
        except ValidationError as exc:
            detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
            raise ApiError(422, "invalid_request", f"the patched {kind.name} is not valid", detail) from None
        return await self._save(kind, entity_id, full, body.version, actor)

    async def retire(self, kind: Kind, entity_id: str, version: int, *, actor: str) -> dict:
        """A retired reply or disabled rule stays in the database and the audit log, unused."""
        current = kind.body.model_validate({**self.get(kind, entity_id), **kind.retired})
        return await self._save(kind, entity_id, current, version, actor)

    async def _save(
        self, kind: Kind, entity_id: str, body: ReplyIn | LintRuleIn, version: int | None, actor: str
    ) -> dict:
        return await self._write(
            kind, entity_id, version, self._writer(kind, entity_id, body, version, actor)
        )

    def _writer(
        self, kind: Kind, entity_id: str, body: ReplyIn | LintRuleIn, version: int | None, actor: str
    ) -> Callable[[], bool]:
        """The blocking write, validated here, on the event loop (a 422 costs no thread)."""
        if isinstance(body, ReplyIn):
            reply = reply_from_body(entity_id, body)
            return partial(
                write_reply, self._database, self._engine(), reply,
                status=body.status, actor=actor, expected_version=version,
            )  # fmt: skip
        rule = rule_from_body(entity_id, body)
        return partial(
            write_rule, self._database, rule, enabled=body.enabled, actor=actor, expected_version=version
        )

    async def _write(
        self, kind: Kind, entity_id: str, version: int | None, write: Callable[[], bool]
    ) -> dict:
        try:
            saved = await run_in_threadpool(write)
        except store.IdTaken:
            raise ApiError(
                409, kind.exists, f"a {kind.name} with id {entity_id!r} exists; edit it instead"
            ) from None
        current = self.get(kind, entity_id)
        if not saved:  # 409 for an edit of an older version; the current one comes along
            raise ApiError(
                409,
                "stale_edit",
                f"{kind.name} {entity_id!r} is at version {current['version']}, not {version}; "
                "reload and edit again",
                {"current": current},
            )
        await self._refresh()
        return current

"""Script editors' changes to the corpus: the approved replies and the banned-phrasing rules.

Every change is validated, analysed, checked against the corpus under the corpus lock (an
approved reply must pass the blocking rules; an enabled blocking rule must not block an
approved reply), stored with its audit line and a new corpus version, and applied on this
worker before the editor gets an answer; the other workers apply it at their next sync poll.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC
from functools import partial
from typing import Any

from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from sqlalchemy.engine import Engine as DatabaseEngine
from sqlmodel import Session

from app import corpus_io, store
from app.errors import ApiError
from app.guard import control_character_error, first_bad_character
from app.schemas import (
    MAX_SUGGESTIONS,
    LintRuleCreate,
    LintRuleIn,
    LintRulePatch,
    LintRuleUpdate,
    PreviewRequest,
    ReplyCreate,
    ReplyIn,
    ReplyPatch,
    ReplyUpdate,
    RuleImpactRequest,
    lint_body,
    suggestions_body,
    visible,
)
from classifiers import Engine, LintRule, Reply
from classifiers.corpus import rule_from_dict
from classifiers.engine import analyzer_version
from classifiers.lint import Linter, rule_problems
from classifiers.normalize import normalized_text
from classifiers.rank import rank_replies
from classifiers.types import Severity

# At most this many reply ids are named when a rule would block approved replies.
NAMED_REPLIES = 20
# At most this many flagged replies (with their flags) answer a rule's impact.
IMPACT_REPLIES = 100
# A stored version is a database integer (the routes bound theirs alike: app.api.editors).
MAX_VERSION = 2**31 - 1


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


def _same_id(kind: Kind, entity_id: str, body_id: str | None) -> None:
    if body_id is not None and body_id != entity_id:
        raise ApiError(
            422, "id_mismatch", f"the body names {kind.name} {body_id!r} but the path {entity_id!r}"
        )


def rule_from_body(rule_id: str, body: LintRuleIn) -> LintRule:
    """The rule, refused (422) if it cannot match."""
    rule = rule_from_dict({**body.model_dump(exclude={"id"}), "id": rule_id})
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

    def rule_impact(self, body: RuleImpactRequest) -> dict:
        """The approved replies ``body`` (a rule as edited, not yet saved) would flag, as the
        database has them: what saving it as a blocking rule would be refused for."""
        linter = Linter([rule_from_body(body.id, body)])
        count, flagged = 0, list[dict]()
        with Session(self._database) as session:
            for reply_id, text in store.approved_reply_texts(session):
                result = linter.lint(text)
                if not result.flags:
                    continue
                count += 1
                if len(flagged) < IMPACT_REPLIES:
                    flagged.append({"reply_id": reply_id, "text": text, "flags": lint_body(result)["flags"]})
        blocks = body.enabled and body.severity == "block"
        return {"blocks": blocks, "count": count, "replies": flagged}

    def history(self, kind: Kind, entity_id: str) -> list[dict]:
        """Every stored version, oldest first; 404 for an unknown id."""
        self.get(kind, entity_id)
        with Session(self._database) as session:
            return [
                row.model_dump() for row in store.history(session, entity=kind.entity, entity_id=entity_id)
            ]

    def audit(self, **filters: Any) -> list[dict]:
        since = filters.get("since")
        if since is not None and since.tzinfo is not None:
            try:  # the database compares in UTC: 9999-12-31T23:59-23:00 has no UTC time
                filters["since"] = since.astimezone(UTC)
            except OverflowError:
                detail = [{"loc": ["query", "since"], "msg": "out of range in UTC", "type": "value_error"}]
                raise ApiError(422, "invalid_request", "since is out of range", detail) from None
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
        _same_id(kind, entity_id, body.id)
        return await self._save(kind, entity_id, body, body.version, actor)

    async def patch(
        self, kind: Kind, entity_id: str, body: ReplyPatch | LintRulePatch, *, actor: str
    ) -> dict:
        """Change only the fields given; ``body.version`` as for ``update``."""
        _same_id(kind, entity_id, body.id)
        current = self.get(kind, entity_id)
        merged = {**current, **body.model_dump(exclude_unset=True, exclude={"version", "id"})}
        try:
            full = kind.body.model_validate(merged)
        except ValidationError as exc:
            detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
            raise ApiError(422, "invalid_request", f"the patched {kind.name} is not valid", detail) from None
        return await self._save(kind, entity_id, full, body.version, actor)

    async def import_corpus(self, document: corpus_io.Document, *, dry_run: bool, actor: str) -> dict:
        """See ``import_corpus``; a real run is served by this worker before it answers."""
        report = await run_in_threadpool(
            import_corpus, self._database, self._engine(), document, dry_run=dry_run, actor=actor
        )
        if report["applied"]:
            await self._refresh()
        return report

    def export(self) -> tuple[list[dict], list[dict]]:
        return export_corpus(self._database)

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


# Import and export: the whole corpus as one file (``app.corpus_io`` reads and writes it).
_REPLY_DIFFED = ("status", "shop_id", "intents", "text", "triggers", "tags", "slots")
_RULE_DIFFED = ("enabled", "category", "severity", "kind", "phrases", "not_before", "not_after", "suggestion")


def export_corpus(database: DatabaseEngine) -> tuple[list[dict], list[dict]]:
    """Every reply (any status) and rule (enabled or not), in id order, as the API shows them."""
    with Session(database) as session:
        replies = [reply_out(row) for row in store.all_reply_rows(session, status=None, shop_id=None)]
        rules = [rule_out(row) for row in store.all_lint_rule_rows(session)]
    return replies, rules


@dataclass
class _Entry:
    """One valid item of an import, and what it would do."""

    item: corpus_io.Item
    id: str
    body: ReplyIn | LintRuleIn
    version: int | None  # the version the file says it was edited from, if it says
    current: dict | None = None
    diff: dict[str, dict[str, Any]] | None = None


def _refusal(
    item: corpus_io.Item, code: str, reason: str, detail: Any = None, id_: str | None = None
) -> dict:
    fields = item.fields if isinstance(item.fields, dict) else {}
    return {
        "kind": item.kind,
        "id": id_ or str(fields.get("id", "?")),
        "line": item.line,
        "code": code,
        "reason": reason,
        "detail": detail,
    }


def _validated(
    items: list[corpus_io.Item], model: type[ReplyCreate] | type[LintRuleCreate], refused: list[dict]
) -> list[_Entry]:
    entries: list[_Entry] = []
    first_line: dict[str, int | None] = {}
    for item in items:
        if not isinstance(item.fields, dict):
            refused.append(_refusal(item, "invalid_item", "each item must be a mapping of fields"))
            continue
        fields = dict(item.fields)
        # A file is not a JSON body, so the edge did not look into it (issue 17: PostgreSQL
        # refuses NUL, and no editor means a control character).
        found = first_bad_character(fields)
        if found is not None:
            bad = control_character_error(*found)
            refused.append(_refusal(item, bad.code, bad.message, bad.detail))
            continue
        version = fields.pop("version", None)
        if version is not None and (
            not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= MAX_VERSION
        ):
            refused.append(
                _refusal(item, "invalid_request", f"version must be a whole number from 1 to {MAX_VERSION}")
            )
            continue
        try:
            body = model.model_validate(fields)
        except ValidationError as exc:
            detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
            refused.append(_refusal(item, "invalid_request", "the item does not match the schema", detail))
            continue
        if body.id in first_line:
            refused.append(
                _refusal(
                    item,
                    "duplicate_id",
                    f"the id is used already, at line {first_line[body.id]}",
                    {"first_line": first_line[body.id]},
                )
            )
            continue
        first_line[body.id] = item.line
        entries.append(_Entry(item, body.id, body, version))
    return entries


def _item(entry: _Entry) -> dict:
    return {"kind": entry.item.kind, "id": entry.id, "line": entry.item.line}


def _plan(session: Session, document: corpus_io.Document) -> tuple[dict, list[_Entry], list[_Entry]]:
    """What the import would do to the database as it is now: the report, and the replies
    and rules to write."""
    refused: list[dict] = []
    replies = _validated(document.replies, ReplyCreate, refused)
    rules = _validated(document.rules, LintRuleCreate, refused)
    for rule_entry in list(rules):
        try:
            rule_from_body(rule_entry.id, rule_entry.body)  # type: ignore[arg-type]
        except ApiError as exc:
            refused.append(_refusal(rule_entry.item, exc.code, exc.message, exc.detail, rule_entry.id))
            rules.remove(rule_entry)
    current_replies = store.reply_rows_by_id(session, ids=[e.id for e in replies])
    current_rules = {row.id: row for row in store.all_lint_rule_rows(session)}
    report: dict[str, Any] = {"created": [], "changed": [], "retired": [], "unchanged": 0, "refused": refused}
    writes: dict[str, list[_Entry]] = {"reply": [], "lint_rule": []}
    tables: tuple[tuple[list[_Entry], dict[str, Any], Callable[[Any], dict], tuple[str, ...]], ...] = (
        (replies, current_replies, reply_out, _REPLY_DIFFED),
        (rules, current_rules, rule_out, _RULE_DIFFED),
    )
    for entries, rows, out, fields in tables:
        for entry in entries:
            row = rows.get(entry.id)
            entry.current = None if row is None else out(row)
            if (
                entry.current is not None
                and entry.version is not None
                and entry.version != entry.current["version"]
            ):
                refused.append(
                    _refusal(
                        entry.item,
                        "stale_edit",
                        f"the file was edited from version {entry.version}; "
                        f"the database has {entry.current['version']}",
                        {"current": entry.current},
                        entry.id,
                    )
                )
                continue
            new = entry.body.model_dump()
            if entry.current is None:
                report["created"].append(_item(entry))
                writes[entry.item.kind].append(entry)
                continue
            entry.diff = {
                name: {"from": entry.current[name], "to": new[name]}
                for name in fields
                if _comparable(entry.current[name]) != _comparable(new[name])
            }
            if not entry.diff:
                report["unchanged"] += 1
                continue
            writes[entry.item.kind].append(entry)
            retires = ("status" in entry.diff and new["status"] == "retired") or (
                "enabled" in entry.diff and not new["enabled"]
            )
            report["retired" if retires else "changed"].append({**_item(entry), "diff": entry.diff})
    _lint_gate(session, writes["reply"], writes["lint_rule"], refused)
    # A refused item is only refused, not also created or changed.
    gone = {(r["kind"], r["id"], r["line"]) for r in refused}
    for name in ("created", "changed", "retired"):
        report[name] = [i for i in report[name] if (i["kind"], i["id"], i["line"]) not in gone]
    return report, writes["reply"], writes["lint_rule"]


def _comparable(value: Any) -> Any:
    return [str(v) for v in value] if isinstance(value, list | tuple) else value


def _lint_gate(session: Session, replies: list[_Entry], rules: list[_Entry], refused: list[dict]) -> None:
    """The corpus after the import must hold no approved reply that an enabled blocking rule
    blocks. The imported blocking rules are checked first, against the approved replies as
    they would be; then the imported replies against the rules as they would be, less the
    rules just refused (the rule is the problem there, not the reply)."""
    imported_replies = {e.id: e.body for e in replies}
    refused_rules: set[str] = set()
    new_blocking = [
        (e, Linter([rule_from_body(e.id, e.body)]))  # type: ignore[arg-type]
        for e in rules
        if e.body.enabled and e.body.severity == "block"  # type: ignore[union-attr]
    ]
    if new_blocking:
        texts = [(i, t) for i, t in store.approved_reply_texts(session) if i not in imported_replies]
        texts += [(i, b.text) for i, b in imported_replies.items() if b.status == "approved"]  # type: ignore[union-attr]
        for entry, rule_linter in new_blocking:
            blocked = [reply_id for reply_id, text in texts if not rule_linter.lint(text).ok]
            if blocked:
                refused_rules.add(entry.id)
                refused.append(
                    _refusal(
                        entry.item,
                        "rule_blocks_approved_replies",
                        f"this rule would block {len(blocked)} approved replies; "
                        "reword them first, or make it warn",
                        {"count": len(blocked), "replies": blocked[:NAMED_REPLIES]},
                        entry.id,
                    )
                )
    imported_rules = {e.id: e for e in rules}
    final_rules = [r for r in store.enabled_lint_rules(session) if r.id not in imported_rules]
    final_rules += [
        rule_from_body(e.id, e.body)  # type: ignore[arg-type]
        for e in rules
        if e.body.enabled and e.id not in refused_rules  # type: ignore[union-attr]
    ]
    linter = Linter([r for r in final_rules if r.severity is Severity.BLOCK])
    for entry in replies:
        body = entry.body
        assert isinstance(body, ReplyIn)
        if body.status == "approved":
            flags = [asdict(flag) for flag in linter.lint(body.text).flags]
            if flags:
                refused.append(
                    _refusal(
                        entry.item,
                        "reply_fails_lint",
                        "an approved reply may not contain banned phrasing",
                        flags,
                        entry.id,
                    )
                )


def import_corpus(
    database: DatabaseEngine, engine: Engine, document: corpus_io.Document, *, dry_run: bool, actor: str
) -> dict:
    """What the import does (``dry_run``: would do; nothing is written). A real run applies
    all of it in one transaction under the corpus lock, or nothing: 422 ``import_refused``
    with the report when any item is refused, 409 ``stale_edit`` when a reply or rule
    changed since the file was exported."""
    if dry_run:
        with Session(database) as session:
            report, _, _ = _plan(session, document)
            session.rollback()
        return {"dry_run": True, "applied": False, **report}
    # The analyses are made before the lock is taken: the lock is held for the writes only.
    with Session(database) as session:
        planned, replies, _ = _plan(session, document)
    if planned["refused"]:
        raise ApiError(
            422,
            "import_refused",
            "nothing was imported: some items are refused",
            {"dry_run": False, "applied": False, **planned},
        )
    analyses = {e.id: engine.analyze_reply(reply_from_body(e.id, e.body)) for e in replies}  # type: ignore[arg-type]
    with Session(database) as session, store.corpus_change(session, replies_changed=bool(replies)) as version:
        report, replies, rules = _plan(session, document)  # again, under the lock: what is there now
        if report["refused"]:
            raise ApiError(
                422,
                "import_refused",
                "nothing was imported: some items are refused",
                {"dry_run": False, "applied": False, **report},
            )
        writes = []
        for entry in replies:
            body = entry.body
            assert isinstance(body, ReplyIn)
            reply = reply_from_body(entry.id, body)
            analysis = analyses.get(entry.id) or engine.analyze_reply(reply)
            expected = None if entry.current is None else entry.current["version"]
            writes.append(store.ReplyWrite(reply, analysis, body.status, expected))
        # All the replies in a few statements: one round trip per reply took 23–34 s for
        # 10,000 on PostgreSQL.
        stale = store.write_replies(
            session, writes=writes, analyzer=analyzer_version(), actor=actor, changed_in=version
        )
        if stale:
            raise _stale_import(next(e for e in replies if e.id == stale[0]))
        for entry in rules:
            rule_body = entry.body
            assert isinstance(rule_body, LintRuleIn)
            rule = rule_from_body(entry.id, rule_body)
            if entry.current is None:
                store.insert_lint_rule(session, rule=rule, enabled=rule_body.enabled, actor=actor)
            elif not store.update_lint_rule(
                session,
                rule=rule,
                enabled=rule_body.enabled,
                expected_version=entry.current["version"],
                actor=actor,
            ):
                raise _stale_import(entry)
        counts = {name: len(report[name]) for name in ("created", "changed", "retired")}
        store.add_audit(session, actor=actor, action="import_corpus", target="reply,lint_rule", detail=counts)
    return {"dry_run": False, "applied": True, **report}


def _stale_import(entry: _Entry) -> ApiError:
    return ApiError(
        409, "stale_edit", f"{entry.item.kind} {entry.id!r} changed during the import; nothing was imported"
    )


PREVIEW_ID = "\u0000preview"  # an id no stored reply can have (ids are word characters)


def preview(engine: Engine, body: PreviewRequest) -> dict:
    """A draft's lint flags, and where it would rank for each buyer message among the
    approved replies this worker serves (the draft patched into a copy of the index)."""
    draft = Reply(id=PREVIEW_ID, intents=tuple(body.intents), text=body.text, triggers=tuple(body.triggers),
                  slots=dict(body.slots), shop_id=body.shop_id)  # fmt: skip
    index = engine.index.patched({PREVIEW_ID: (draft, engine.analyze_reply(draft))})
    ranks = []
    for message in body.messages:
        # Refused as /v1/suggest refuses it (nothing visible); 吗？？ is a message there too.
        if not visible(message):
            raise ApiError(
                422, "empty_text", f"message {message!r} is empty (only spaces or invisible characters)"
            )
        analysis = engine.analyze(message)
        classification = engine.decide(analysis, engine.intent_scores(analysis))
        ranked = rank_replies(
            index, classification, analysis.content, k=MAX_SUGGESTIONS, shop_id=body.shop_id
        )
        place = next((n for n, s in enumerate(ranked, start=1) if s.reply_id == PREVIEW_ID), None)
        ranks.append({
            "message": message,
            "intent": classification.intent,
            "rank": place,
            "score": ranked[place - 1].score if place else None,
            "top": suggestions_body([s for s in ranked if s.reply_id != PREVIEW_ID][:3]),
        })  # fmt: skip
    return {**lint_body(engine.lint(body.text)), "ranks": ranks}

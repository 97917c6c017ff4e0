"""REST routes for script editors: the approved replies and the banned-phrasing rules.

Every change is checked (an approved reply must pass the linter; a blocking rule must not
block an approved reply), stored, counted in the corpus version and audited; this worker
applies it before answering, the others within their next sync poll.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session

from app import store
from app.api import AssistantDep, require
from app.auth import Principal, Role
from app.errors import ERROR_RESPONSES, ApiError
from app.schemas import (
    LintRuleCreate,
    LintRuleIn,
    LintRuleOut,
    LintRuleUpdate,
    ReplyCreate,
    ReplyIn,
    ReplyOut,
    ReplyStatus,
    ReplyUpdate,
)
from classifiers import LintRule, Reply
from classifiers.corpus import rule_from_dict
from classifiers.engine import analyzer_version
from classifiers.lint import Linter, rule_problems
from classifiers.types import Severity

EditorDep = Annotated[Principal, Depends(require(Role.EDITOR))]

router = APIRouter(prefix="/v1/replies", tags=["editors"], responses=ERROR_RESPONSES)
rules_router = APIRouter(prefix="/v1/lint-rules", tags=["editors"], responses=ERROR_RESPONSES)
# At most this many reply ids are named when a rule would block approved replies.
NAMED_REPLIES = 20


def _out(row: store.ReplyRow) -> dict:
    return row.model_dump(exclude={"analysis", "analyzer", "updated_at"})


def _reply(reply_id: str, body: ReplyIn) -> Reply:
    return Reply(
        id=reply_id,
        intents=tuple(body.intents),
        text=body.text,
        triggers=tuple(body.triggers),
        tags=tuple(body.tags),
        slots=dict(body.slots),
        shop_id=body.shop_id,
    )


def _passes_the_rules(reply: Reply, status: str) -> store.Check | None:
    """Approved replies are what agents send: hold them to the agents' own rules, as the
    database has them under the corpus lock (this worker's linter may not have a rule
    another worker added a moment ago, and a rule being added now is checked after)."""
    if status != "approved":
        return None

    def check(session: Session) -> None:
        blocking_rules = [r for r in store.enabled_lint_rules(session) if r.severity is Severity.BLOCK]
        blocking = [asdict(flag) for flag in Linter(blocking_rules).lint(reply.text).flags]
        if blocking:
            raise ApiError(
                422, "reply_fails_lint", "an approved reply may not contain banned phrasing", blocking
            )

    return check


def _find(session: Session, reply_id: str) -> store.ReplyRow:
    return _found(
        store.reply_row(session, reply_id=reply_id), "unknown_reply", f"no reply with id {reply_id!r}"
    )


def _stale_edit(what: str, current: dict, version: int) -> ApiError:
    """409 for an edit of an older version; the current one comes along to edit again."""
    return ApiError(
        409,
        "stale_edit",
        f"{what} is at version {current['version']}, not {version}; reload and edit again",
        {"current": current},
    )


def _found(row: Any, code: str, message: str) -> Any:
    if row is None:
        raise ApiError(404, code, message)
    return row


@router.get("", response_model=list[ReplyOut])
def list_replies(
    assistant: AssistantDep,
    _: EditorDep,
    status: ReplyStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict]:
    """Replies in id order, any status unless ``status`` is given."""
    with Session(assistant.database) as session:
        return [
            _out(row) for row in store.list_reply_rows(session, status=status, limit=limit, offset=offset)
        ]


@router.get("/{reply_id}", response_model=ReplyOut)
def get_reply(reply_id: str, assistant: AssistantDep, _: EditorDep) -> dict:
    with Session(assistant.database) as session:
        return _out(_find(session, reply_id))


@router.post("", response_model=ReplyOut, status_code=201, responses={409: {"description": "Id taken"}})
async def create_reply(
    body: ReplyCreate, request: Request, assistant: AssistantDep, editor: EditorDep
) -> dict:
    """Add a reply; approved ones are suggested by every worker within a second."""
    reply = _reply(body.id, body)
    analysis = assistant.engine.analyze_reply(reply)

    def write() -> dict | None:
        with Session(assistant.database) as session:
            row = store.create_reply(
                session, reply=reply, analysis=analysis, analyzer=analyzer_version(),
                status=body.status, actor=editor.name, check=_passes_the_rules(reply, body.status),
            )  # fmt: skip
            return None if row is None else _out(row)

    created = await run_in_threadpool(write)
    if created is None:
        raise ApiError(409, "reply_exists", f"a reply with id {body.id!r} exists; edit it instead")
    await request.app.state.sync.refresh_now()
    return created


async def _save(reply_id: str, body: ReplyIn, version: int, request: Request, editor: Principal) -> dict:
    assistant = request.app.state.assistant
    reply = _reply(reply_id, body)
    analysis = assistant.engine.analyze_reply(reply)

    def write() -> dict:
        with Session(assistant.database) as session:
            row = store.update_reply(
                session, reply=reply, analysis=analysis, analyzer=analyzer_version(),
                status=body.status, expected_version=version, actor=editor.name,
                check=_passes_the_rules(reply, body.status),
            )  # fmt: skip
            if row is not None:
                return _out(row)
            current = _find(session, reply_id)
            raise _stale_edit(f"reply {reply_id!r}", _out(current), version)

    saved = await run_in_threadpool(write)
    await request.app.state.sync.refresh_now()
    return saved


@router.put("/{reply_id}", response_model=ReplyOut, responses={409: {"description": "Stale edit"}})
async def update_reply(reply_id: str, body: ReplyUpdate, request: Request, editor: EditorDep) -> dict:
    """Replace a reply. ``version`` must be the one you edited, or the edit is refused (409)."""
    return await _save(reply_id, body, body.version, request, editor)


@router.delete("/{reply_id}", response_model=ReplyOut, responses={409: {"description": "Stale edit"}})
async def retire_reply(
    reply_id: str,
    version: Annotated[int, Query(ge=1)],
    request: Request,
    assistant: AssistantDep,
    editor: EditorDep,
) -> dict:
    """Retire a reply: it stays in the database and the audit log, but is no longer suggested."""
    with Session(assistant.database) as session:
        current = ReplyIn.model_validate({**_out(_find(session, reply_id)), "status": "retired"})
    return await _save(reply_id, current, version, request, editor)


def _rule_out(row: store.LintRuleRow) -> dict:
    return row.model_dump(exclude={"updated_at"})


def _rule(rule_id: str, body: LintRuleIn) -> LintRule:
    """The rule, refused (422) if it cannot match."""
    rule = rule_from_dict({"id": rule_id, **body.model_dump()})
    problems = rule_problems(rule)
    if problems:
        raise ApiError(422, "invalid_rule", "the rule cannot be used as written", problems)
    return rule


def _blocks_no_approved_reply(rule: LintRule, enabled: bool) -> store.Check | None:
    """Agents send approved replies as they are: an enabled blocking rule must not block one
    of them, as the database has them under the corpus lock (see ``_passes_the_rules``)."""
    if not enabled or rule.severity is not Severity.BLOCK:
        return None

    def check(session: Session) -> None:
        linter = Linter([rule])
        blocked = [
            reply_id for reply_id, text in store.approved_reply_texts(session) if not linter.lint(text).ok
        ]
        if blocked:
            raise ApiError(
                422,
                "rule_blocks_approved_replies",
                f"this rule would block {len(blocked)} approved replies; reword them first, or make it warn",
                {"count": len(blocked), "replies": blocked[:NAMED_REPLIES]},
            )

    return check


def _find_rule(session: Session, rule_id: str) -> store.LintRuleRow:
    return _found(
        store.lint_rule_row(session, rule_id=rule_id), "unknown_rule", f"no lint rule with id {rule_id!r}"
    )


@rules_router.get("", response_model=list[LintRuleOut])
def list_rules(
    assistant: AssistantDep,
    _: EditorDep,
    enabled: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict]:
    """Lint rules in id order, enabled or not unless ``enabled`` is given."""
    with Session(assistant.database) as session:
        rows = store.list_lint_rule_rows(session, enabled=enabled, limit=limit, offset=offset)
        return [_rule_out(row) for row in rows]


@rules_router.get("/{rule_id}", response_model=LintRuleOut)
def get_rule(rule_id: str, assistant: AssistantDep, _: EditorDep) -> dict:
    with Session(assistant.database) as session:
        return _rule_out(_find_rule(session, rule_id))


@rules_router.post(
    "", response_model=LintRuleOut, status_code=201, responses={409: {"description": "Id taken"}}
)
async def create_rule(
    body: LintRuleCreate, request: Request, assistant: AssistantDep, editor: EditorDep
) -> dict:
    """Add a banned-phrasing rule; every worker's linter applies it within a second."""

    rule = _rule(body.id, body)

    def write() -> dict | None:
        with Session(assistant.database) as session:
            row = store.create_lint_rule(
                session,
                rule=rule,
                enabled=body.enabled,
                actor=editor.name,
                check=_blocks_no_approved_reply(rule, body.enabled),
            )
            return None if row is None else _rule_out(row)

    created = await run_in_threadpool(write)
    if created is None:
        raise ApiError(409, "rule_exists", f"a lint rule with id {body.id!r} exists; edit it instead")
    await request.app.state.sync.refresh_now()
    return created


async def _save_rule(
    rule_id: str, body: LintRuleIn, version: int, request: Request, editor: Principal
) -> dict:
    assistant = request.app.state.assistant
    rule = _rule(rule_id, body)

    def write() -> dict:
        with Session(assistant.database) as session:
            current = _find_rule(session, rule_id)
            if current.version != version:
                raise _stale_edit(f"lint rule {rule_id!r}", _rule_out(current), version)
            row = store.update_lint_rule(
                session,
                rule=rule,
                enabled=body.enabled,
                expected_version=version,
                actor=editor.name,
                check=_blocks_no_approved_reply(rule, body.enabled),
            )
            if row is None:  # another editor saved this version meanwhile
                raise _stale_edit(f"lint rule {rule_id!r}", _rule_out(_find_rule(session, rule_id)), version)
            return _rule_out(row)

    saved = await run_in_threadpool(write)
    await request.app.state.sync.refresh_now()
    return saved


@rules_router.put("/{rule_id}", response_model=LintRuleOut, responses={409: {"description": "Stale edit"}})
async def update_rule(rule_id: str, body: LintRuleUpdate, request: Request, editor: EditorDep) -> dict:
    """Replace a rule. ``version`` must be the one you edited, or the edit is refused (409)."""
    return await _save_rule(rule_id, body, body.version, request, editor)


@rules_router.delete("/{rule_id}", response_model=LintRuleOut, responses={409: {"description": "Stale edit"}})
async def disable_rule(
    rule_id: str,
    version: Annotated[int, Query(ge=1)],
    request: Request,
    assistant: AssistantDep,
    editor: EditorDep,
) -> dict:
    """Disable a rule: it stays in the database and the audit log, but no longer flags drafts."""
    with Session(assistant.database) as session:
        current = LintRuleIn.model_validate({**_rule_out(_find_rule(session, rule_id)), "enabled": False})
    return await _save_rule(rule_id, current, version, request, editor)

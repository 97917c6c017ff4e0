"""Script editors' REST routes: the approved replies and the banned-phrasing rules
(the logic is in ``app.editing``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import EditorDep, EditorKey
from app.errors import ERROR_RESPONSES
from app.schemas import (
    LintRuleCreate,
    LintRuleOut,
    LintRuleUpdate,
    ReplyCreate,
    ReplyOut,
    ReplyStatus,
    ReplyUpdate,
)

replies = APIRouter(prefix="/v1/replies", tags=["editors"], responses=ERROR_RESPONSES)
rules = APIRouter(prefix="/v1/lint-rules", tags=["editors"], responses=ERROR_RESPONSES)
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0)]
Version = Annotated[int, Query(ge=1, description="the version you edited; a newer one on the server → 409")]
_CREATED = {409: {"description": "Id taken"}}
_STALE = {409: {"description": "Stale edit"}}


@replies.get("", response_model=list[ReplyOut])
def list_replies(
    editor: EditorDep, _: EditorKey, status: ReplyStatus | None = None, limit: Limit = 100, offset: Offset = 0
) -> list[dict]:
    """Replies in id order, any status unless ``status`` is given."""
    return editor.replies(status=status, limit=limit, offset=offset)


@replies.get("/{reply_id}", response_model=ReplyOut)
def get_reply(reply_id: str, editor: EditorDep, _: EditorKey) -> dict:
    return editor.reply(reply_id)


@replies.post("", response_model=ReplyOut, status_code=201, responses=_CREATED)
async def create_reply(body: ReplyCreate, editor: EditorDep, key: EditorKey) -> dict:
    """Add a reply; approved ones are suggested by every worker within a second."""
    return await editor.create_reply(body.id, body, actor=key.name)


@replies.put("/{reply_id}", response_model=ReplyOut, responses=_STALE)
async def update_reply(reply_id: str, body: ReplyUpdate, editor: EditorDep, key: EditorKey) -> dict:
    """Replace a reply. ``version`` must be the one you edited, or the edit is refused (409)."""
    return await editor.update_reply(reply_id, body, body.version, actor=key.name)


@replies.delete("/{reply_id}", response_model=ReplyOut, responses=_STALE)
async def retire_reply(reply_id: str, version: Version, editor: EditorDep, key: EditorKey) -> dict:
    """Retire a reply: it stays in the database and the audit log, but is no longer suggested."""
    return await editor.retire_reply(reply_id, version, actor=key.name)


@rules.get("", response_model=list[LintRuleOut])
def list_rules(
    editor: EditorDep, _: EditorKey, enabled: bool | None = None, limit: Limit = 100, offset: Offset = 0
) -> list[dict]:
    """Lint rules in id order, enabled or not unless ``enabled`` is given."""
    return editor.rules(enabled=enabled, limit=limit, offset=offset)


@rules.get("/{rule_id}", response_model=LintRuleOut)
def get_rule(rule_id: str, editor: EditorDep, _: EditorKey) -> dict:
    return editor.rule(rule_id)


@rules.post("", response_model=LintRuleOut, status_code=201, responses=_CREATED)
async def create_rule(body: LintRuleCreate, editor: EditorDep, key: EditorKey) -> dict:
    """Add a banned-phrasing rule; every worker's linter applies it within a second."""
    return await editor.create_rule(body.id, body, actor=key.name)


@rules.put("/{rule_id}", response_model=LintRuleOut, responses=_STALE)
async def update_rule(rule_id: str, body: LintRuleUpdate, editor: EditorDep, key: EditorKey) -> dict:
    """Replace a rule. ``version`` must be the one you edited, or the edit is refused (409)."""
    return await editor.update_rule(rule_id, body, body.version, actor=key.name)


@rules.delete("/{rule_id}", response_model=LintRuleOut, responses=_STALE)
async def disable_rule(rule_id: str, version: Version, editor: EditorDep, key: EditorKey) -> dict:
    """Disable a rule: it stays in the database and the audit log, but no longer flags drafts."""
    return await editor.disable_rule(rule_id, version, actor=key.name)

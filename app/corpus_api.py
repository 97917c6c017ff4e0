"""REST routes for script editors: the corpus of approved replies.

Every change is checked (an approved reply must pass the linter), stored with its
analysis, counted in the corpus version and audited; this worker applies it before
answering, the others within their next sync poll.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session

from app import store
from app.api import AssistantDep, require
from app.auth import Principal, Role
from app.errors import ERROR_RESPONSES, ApiError
from app.schemas import ReplyCreate, ReplyIn, ReplyOut, ReplyStatus, ReplyUpdate
from classifiers import Reply
from classifiers.engine import analyzer_version

EditorDep = Annotated[Principal, Depends(require(Role.EDITOR))]

router = APIRouter(prefix="/v1/replies", tags=["editors"], responses=ERROR_RESPONSES)


def _out(row: store.ReplyRow) -> dict:
    return {
        "id": row.id,
        "version": row.version,
        "status": row.status,
        "text": row.text,
        "intents": row.intents,
        "triggers": row.triggers,
        "tags": row.tags,
        "slots": row.slots,
        "shop_id": row.shop_id,
    }


def _reply(reply_id: str, body: ReplyIn, assistant) -> Reply:
    reply = Reply(
        id=reply_id,
        intents=tuple(body.intents),
        text=body.text,
        triggers=tuple(body.triggers),
        tags=tuple(body.tags),
        slots=dict(body.slots),
        shop_id=body.shop_id,
    )
    if body.status == "approved":
        # Approved replies are what agents send: hold them to the agents' own rules.
        result = assistant.engine.lint(reply.text)
        blocking = [asdict(flag) for flag in result.flags if flag.severity == "block"]
        if blocking:
            raise ApiError(
                422, "reply_fails_lint", "an approved reply may not contain banned phrasing", blocking
            )
    return reply


def _find(session: Session, reply_id: str) -> store.ReplyRow:
    row = store.reply_row(session, reply_id=reply_id)
    if row is None:
        raise ApiError(404, "unknown_reply", f"no reply with id {reply_id!r}")
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
    reply = _reply(body.id, body, assistant)
    analysis = assistant.engine.analyze_reply(reply)

    def write() -> dict | None:
        with Session(assistant.database) as session:
            row = store.create_reply(
                session, reply=reply, analysis=analysis, analyzer=analyzer_version(),
                status=body.status, actor=editor.name,
            )  # fmt: skip
            return None if row is None else _out(row)

    created = await run_in_threadpool(write)
    if created is None:
        raise ApiError(409, "reply_exists", f"a reply with id {body.id!r} exists; edit it instead")
    await request.app.state.sync.refresh_now()
    return created


async def _save(reply_id: str, body: ReplyIn, version: int, request: Request, editor: Principal) -> dict:
    assistant = request.app.state.assistant
    reply = _reply(reply_id, body, assistant)
    analysis = assistant.engine.analyze_reply(reply)

    def write() -> dict:
        with Session(assistant.database) as session:
            row = store.update_reply(
                session, reply=reply, analysis=analysis, analyzer=analyzer_version(),
                status=body.status, expected_version=version, actor=editor.name,
            )  # fmt: skip
            if row is not None:
                return _out(row)
            current = _find(session, reply_id)
            raise ApiError(
                409,
                "stale_edit",
                f"reply {reply_id!r} is at version {current.version}, not {version}; reload and edit again",
                {"current": _out(current)},
            )

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

"""Script editors' REST routes: the approved replies and the banned-phrasing rules
(the logic is in ``app.editing``).

Replies and rules are edited alike, so one function lays out both resources' routes.
This module keeps real annotations (no ``from __future__ import annotations``): FastAPI
reads the body models from the routes ``_editable`` makes at run time.
"""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel

from app import corpus_io
from app.api.deps import AssistantDep, EditorDep, EditorKey
from app.editing import REPLIES, RULES, Kind, preview
from app.errors import KEYED, ApiError, errors
from app.schemas import (
    ID_PATTERN,
    MAX_ID_CHARS,
    AuditOut,
    ImportReport,
    LintRuleCreate,
    LintRuleOut,
    LintRulePatch,
    LintRuleUpdate,
    PreviewRequest,
    PreviewResponse,
    ReplyCreate,
    ReplyOut,
    ReplyPatch,
    ReplyStatus,
    ReplyUpdate,
    RuleImpact,
    RuleImpactRequest,
    Timestamp,
    VersionOut,
)
from classifiers import Intent

Limit = Annotated[int, Query(ge=1, le=1000)]
# Bounded so huge numbers are a 422, not a database integer overflow (issue 17).
MAX_DB_INT = 2**31 - 1
Offset = Annotated[int, Query(ge=0, le=MAX_DB_INT)]
Version = Annotated[
    int, Query(ge=1, le=MAX_DB_INT, description="the version you edited; a newer one on the server → 409")
]
# Beside KEYED: a route naming one reply or rule may not find it; a write may conflict.
_FOUND = errors(404)
_TAKEN = errors(409)
_WRITE = errors(404, 409)


def _editable(
    prefix: str,
    noun: str,
    kind: Kind,
    create: type[BaseModel],
    update: type[BaseModel],
    patch: type[BaseModel],
    out: type[BaseModel],
) -> APIRouter:
    """GET / POST / PUT / PATCH / DELETE of one editable resource and its history,
    ``{noun}_id`` naming it in paths."""
    router = APIRouter(prefix=prefix, tags=["editors"], responses=KEYED)
    EntityId = Annotated[str, Path(alias=f"{noun}_id", max_length=MAX_ID_CHARS, pattern=ID_PATTERN)]

    @router.get(f"/{{{noun}_id}}", response_model=out, responses=_FOUND, name=f"get_{noun}")
    def get(entity_id: EntityId, editor: EditorDep, _: EditorKey) -> dict:
        return editor.get(kind, entity_id)

    @router.post("", response_model=out, status_code=201, responses=_TAKEN, name=f"create_{noun}")
    async def create_(body: create, editor: EditorDep, key: EditorKey) -> dict:  # type: ignore[valid-type]
        """Add one; every worker uses it within a second."""
        return await editor.create(kind, body, actor=key.name)

    @router.put(f"/{{{noun}_id}}", response_model=out, responses=_WRITE, name=f"update_{noun}")
    async def update_(entity_id: EntityId, body: update, editor: EditorDep, key: EditorKey) -> dict:  # type: ignore[valid-type]
        """Replace it whole: a field left out gets its default (no triggers, approved…); use
        PATCH to change some fields. ``version`` must be the one you edited, or 409."""
        return await editor.update(kind, entity_id, body, actor=key.name)

    @router.patch(f"/{{{noun}_id}}", response_model=out, responses=_WRITE, name=f"patch_{noun}")
    async def patch_(entity_id: EntityId, body: patch, editor: EditorDep, key: EditorKey) -> dict:  # type: ignore[valid-type]
        """Change only the fields given. ``version`` must be the one you edited, or 409."""
        return await editor.patch(kind, entity_id, body, actor=key.name)

    @router.get(
        f"/{{{noun}_id}}/history", response_model=list[VersionOut], responses=_FOUND, name=f"{noun}_history"
    )
    def history(entity_id: EntityId, editor: EditorDep, _: EditorKey) -> list[dict]:
        """Every version ever saved, oldest first, with its fields, who saved it and when."""
        return editor.history(kind, entity_id)

    @router.delete(f"/{{{noun}_id}}", response_model=out, responses=_WRITE, name=f"retire_{noun}")
    async def retire(entity_id: EntityId, version: Version, editor: EditorDep, key: EditorKey) -> dict:
        """Retire a reply / disable a rule: it stays in the database and the audit log, unused."""
        return await editor.retire(kind, entity_id, version, actor=key.name)

    return router


replies = _editable("/v1/replies", "reply", REPLIES, ReplyCreate, ReplyUpdate, ReplyPatch, ReplyOut)
rules = _editable("/v1/lint-rules", "rule", RULES, LintRuleCreate, LintRuleUpdate, LintRulePatch, LintRuleOut)


@replies.post("/preview", response_model=PreviewResponse, name="preview_reply")
def preview_reply(body: PreviewRequest, assistant: AssistantDep, _: EditorKey) -> dict:
    """Try a draft: its lint flags, and where it would rank for each buyer message among
    today's approved replies (nothing is stored)."""
    return preview(assistant.engine, body)


@replies.get("", response_model=list[ReplyOut], name="list_replies")
def list_replies(
    editor: EditorDep,
    _: EditorKey,
    status: ReplyStatus | None = None,
    shop_id: Annotated[str | None, Query(max_length=120)] = None,
    intent: Intent | None = None,
    tag: Annotated[str | None, Query(max_length=100)] = None,
    q: Annotated[str | None, Query(max_length=200, description="Simplified or Traditional")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[dict]:
    """Replies in id order, any status unless ``status`` is given; ``q`` finds text in the id,
    text, triggers or tags, whichever script it is written in."""
    return editor.search(
        query=q, status=status, shop_id=shop_id, intent=intent, tag=tag, limit=limit, offset=offset
    )


@rules.get("", response_model=list[LintRuleOut], name="list_rules")
def list_rules(
    editor: EditorDep, _: EditorKey, enabled: bool | None = None, limit: Limit = 100, offset: Offset = 0
) -> list[dict]:
    """Lint rules in id order, enabled or not unless ``enabled`` is given."""
    return editor.rules(enabled=enabled, limit=limit, offset=offset)


@rules.post("/impact", response_model=RuleImpact, name="rule_impact")
def rule_impact(body: RuleImpactRequest, editor: EditorDep, _: EditorKey) -> dict:
    """Which approved replies this rule, as written here (nothing is stored), would flag: a
    blocking rule that flags any is refused on save (``rule_blocks_approved_replies``)."""
    return editor.rule_impact(body)


audit = APIRouter(prefix="/v1", tags=["editors"], responses=KEYED)


@audit.get("/audit", response_model=list[AuditOut], name="audit_log")
def audit_log(
    editor: EditorDep,
    _: EditorKey,
    since: Timestamp | None = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    entity: Annotated[str | None, Query(max_length=120, description="a reply's or rule's id")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[dict]:
    """The audit log, newest first: who changed what, when."""
    return editor.audit(since=since, actor=actor, entity=entity, limit=limit, offset=offset)


IMPORT_PATH = "/v1/corpus/import"
corpus = APIRouter(prefix="/v1/corpus", tags=["editors"], responses=KEYED)


@corpus.get(
    "/export",
    name="export_corpus",
    response_class=Response,
    responses={200: {"content": {media: {} for media in corpus_io.MEDIA_TYPES.values()}}},
)
def export_corpus(editor: EditorDep, _: EditorKey, format: corpus_io.Format = "yaml") -> Response:
    """Every reply and lint rule as one file: ``replies`` and ``lint_rules`` lists shaped as in
    ``scripts_corpus/`` (CSV: the replies, one a row)."""
    replies_, rules_ = editor.export()
    return Response(
        corpus_io.render(replies_, rules_, format),
        media_type=corpus_io.MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="huashu-corpus.{format}"'},
    )


@corpus.post(
    "/import",
    response_model=ImportReport,
    name="import_corpus",
    responses=errors(409, 415),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                **{media: {"schema": {"type": "string"}} for media in corpus_io.MEDIA_TYPES.values()},
                # A JSON file is the document itself (the same shape as the YAML one).
                # Each item that is not a valid reply or rule is refused in the report, not the file.
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "replies": {"anyOf": [{"type": "array"}, {"type": "null"}]},
                            "lint_rules": {"anyOf": [{"type": "array"}, {"type": "null"}]},
                        },
                        "anyOf": [{"required": ["replies"]}, {"required": ["lint_rules"]}],
                    }
                },
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }
                },
            },
        }
    },
)
async def import_corpus(
    request: Request,
    editor: EditorDep,
    assistant: AssistantDep,
    key: EditorKey,
    dry_run: bool = True,
    format: corpus_io.Format | None = None,
) -> dict:
    """The body is the file itself (its format from ``Content-Type`` or ``?format=``), or a
    multipart form with the file in the field ``file`` (its format from ``?format=``, the
    part's Content-Type or its file name). A dry
    run (the default) says what would be created, changed (field by field), retired and
    refused (with the reason and line), and changes nothing; ``dry_run=false`` applies it
    all in one transaction, or nothing (422 ``import_refused`` with the same report)."""
    content_type = request.headers.get("content-type") or ""
    limit = assistant.settings.max_import_bytes
    if content_type.lower().startswith("multipart/form-data"):
        upload = corpus_io.MultipartReader(content_type)
        async for chunk in _limited(request, limit):
            upload.feed(chunk)
        body, fmt = upload.file(format)
    else:
        fmt = corpus_io.format_of(content_type, format)
        body = b"".join([chunk async for chunk in _limited(request, limit)])
    return await editor.import_corpus(corpus_io.parse(body, fmt), dry_run=dry_run, actor=key.name)


async def _limited(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The body's chunks, refused (413) as soon as they pass ``limit`` (a chunked upload has
    no length)."""
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body_too_large", f"an import is limited to {limit} bytes")
        yield chunk

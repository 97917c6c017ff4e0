"""REST routes: validate, call the assistant, return its answer."""

from __future__ import annotations

import os
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlmodel import Session

from app import store
from app.assistant import Assistant, classification_body, lint_body, suggestions_body
from app.auth import Principal, Role, allows
from app.errors import ERROR_RESPONSES, ApiError, ErrorResponse, JSONBytesResponse
from app.metrics import REGISTRY
from app.schemas import (
    ClassifyRequest,
    ClassifyResponse,
    FeedbackRequest,
    LintRequest,
    LintResponse,
    SuggestRequest,
    SuggestResponse,
)


def get_assistant(request: Request) -> Assistant:
    return request.app.state.assistant


def require(role: Role):
    """Dependency: the caller's key, which must exist, be live and allow ``role``."""

    def check(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key:
            raise ApiError(401, "unauthorized", "send the API key as 'Authorization: Bearer KEY'")
        principal = request.app.state.keys.check(key.strip())
        if principal is None:
            raise ApiError(401, "unauthorized", "unknown or revoked API key")
        if not allows(principal.role, role):
            raise ApiError(
                403, "forbidden", f"this key's role ({principal.role}) may not do this; {role} needed"
            )
        if not request.app.state.rate_limiter.allow(principal.key_id):
            raise ApiError(429, "rate_limited", "too many requests for this key; slow down")
        return principal

    return check


AssistantDep = Annotated[Assistant, Depends(get_assistant)]
AgentDep = Annotated[Principal, Depends(require(Role.AGENT))]
AdminDep = Annotated[Principal, Depends(require(Role.ADMIN))]

probes = APIRouter(tags=["operations"])
v1 = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)


class Health(BaseModel):
    status: str
    replies: int | None = None
    corpus_version: int | None = None
    worker: int | None = None  # the answering process, to tell workers apart behind one port
    corpus_loaded_at: float | None = None  # Unix time this worker started serving that version


@probes.get("/healthz", response_model=Health, response_model_exclude_none=True)
async def healthz() -> dict:
    """Liveness: the process answers."""
    return {"status": "ok"}


@probes.get(
    "/readyz", response_model=Health, responses={503: {"model": ErrorResponse, "description": "Not ready"}}
)
def readyz(assistant: AssistantDep) -> dict:
    """Readiness: the database answers and the reply index is loaded."""
    try:
        with Session(assistant.database) as session:
            store.ping(session)
    except Exception as exc:  # any driver error means not ready
        raise ApiError(503, "database_unavailable", f"database check failed: {type(exc).__name__}") from exc
    return {
        "status": "ready",
        "replies": assistant.engine.index.size,
        "corpus_version": assistant.corpus_version,
        "worker": os.getpid(),
        "corpus_loaded_at": assistant.corpus_loaded_at,
    }


@probes.get("/metrics", response_class=PlainTextResponse)
async def metrics() -> Response:
    """Prometheus text format."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


@v1.post("/suggest", response_model=SuggestResponse, tags=["agents"])
async def suggest(body: SuggestRequest, assistant: AssistantDep, _: AgentDep) -> Response:
    """Intent of a buyer message and the top approved replies for it."""
    classification, suggestions = await assistant.suggest(
        body.text, conversation_id=body.conversation_id, context=body.context, shop_id=body.shop_id, k=body.k
    )
    return JSONBytesResponse(
        {**classification_body(classification), "suggestions": suggestions_body(suggestions)}
    )


@v1.post("/classify", response_model=ClassifyResponse, tags=["agents"])
async def classify(body: ClassifyRequest, assistant: AssistantDep, _: AgentDep) -> Response:
    """Intent of a buyer message, with every likely intent and the tokens."""
    classification = await assistant.classify(body.text, body.conversation_id)
    return JSONBytesResponse(classification_body(classification))


@v1.post("/lint", response_model=LintResponse, tags=["agents"])
async def lint(body: LintRequest, assistant: AssistantDep, _: AgentDep) -> Response:
    """Banned phrasing in an agent's draft; ``ok`` is false when a flag blocks sending."""
    return JSONBytesResponse(lint_body(assistant.lint(body.text)))


@v1.post("/feedback", status_code=204, tags=["agents"], responses={404: {"description": "Unknown reply"}})
async def feedback(body: FeedbackRequest, assistant: AssistantDep, principal: AgentDep) -> Response:
    """Record what the agent did with a suggestion; used replies rank higher over time."""
    await run_in_threadpool(assistant.feedback, body, key_id=principal.key_id)
    return Response(status_code=204)


class KeyOut(BaseModel):
    id: int
    name: str
    role: str
    prefix: str
    revoked: bool


@v1.get("/keys", response_model=list[KeyOut], tags=["admin"])
def list_keys(assistant: AssistantDep, _: AdminDep) -> list[dict]:
    """API keys (never the keys themselves, nor their hashes)."""
    with Session(assistant.database) as session:
        return [
            {
                "id": k.id,
                "name": k.name,
                "role": k.role,
                "prefix": k.prefix,
                "revoked": k.revoked_at is not None,
            }
            for k in store.list_api_keys(session)
        ]

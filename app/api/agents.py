"""Agents' REST routes (helpdesk systems): suggest, classify, lint, feedback."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool

from app.api.deps import AgentKey, AssistantDep
from app.errors import AGENT_KEYED, JSONBytesResponse, errors
from app.schemas import (
    ClassifyRequest,
    ClassifyResponse,
    FeedbackRequest,
    LintRequest,
    LintResponse,
    SuggestRequest,
    SuggestResponse,
    classification_body,
    lint_body,
    suggestions_body,
)

router = APIRouter(prefix="/v1", tags=["agents"], responses=AGENT_KEYED)


@router.post("/suggest", response_model=SuggestResponse)
async def suggest(body: SuggestRequest, assistant: AssistantDep, _: AgentKey) -> Response:
    """Intent of a buyer message and the top approved replies for it."""
    classification, suggestions = await assistant.suggest(
        body.text, conversation_id=body.conversation_id, context=body.context, shop_id=body.shop_id, k=body.k
    )
    return JSONBytesResponse(
        {**classification_body(classification), "suggestions": suggestions_body(suggestions)}
    )


@router.post("/classify", response_model=ClassifyResponse)
async def classify(body: ClassifyRequest, assistant: AssistantDep, _: AgentKey) -> Response:
    """Intent of a buyer message, with every likely intent and the tokens."""
    classification = await assistant.classify(body.text, body.conversation_id)
    return JSONBytesResponse(classification_body(classification))


@router.post("/lint", response_model=LintResponse)
async def lint(body: LintRequest, assistant: AssistantDep, _: AgentKey) -> Response:
    """Banned phrasing in an agent's draft; ``ok`` is false when a flag blocks sending."""
    # Inline: microseconds for a clean draft; a flagged one adds one classification and ranking.
    result, nearest = assistant.lint(body.text, profile=body.profile, shop_id=body.shop_id)
    return JSONBytesResponse(lint_body(result, nearest))


@router.post("/feedback", status_code=204, responses=errors(404))
async def feedback(body: FeedbackRequest, assistant: AssistantDep, principal: AgentKey) -> Response:
    """Record what the agent did with a suggestion; used replies rank higher over time."""
    await run_in_threadpool(assistant.feedback, body, key_id=principal.key_id)
    return Response(status_code=204)

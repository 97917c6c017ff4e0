"""Editors' analytics routes (the logic is in ``app.analytics``): how replies are used, per
intent and day, what agents edit, and which buyer messages no reply covers."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from app import analytics
from app.api.deps import EditorKey
from app.errors import KEYED
from app.schemas import CoverageAnalytics, EditAnalytics, IntentAnalytics, ReplyAnalytics
from classifiers import Intent

router = APIRouter(prefix="/v1/analytics", tags=["analytics"], responses=KEYED)

# A day from 2000 to 2999 (app.analytics refuses others), written YYYY-MM-DD.
_DAY = r"^2\d{3}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"


def _period(
    from_: Annotated[
        str | None, Query(alias="from", max_length=10, pattern=_DAY, description="first day, YYYY-MM-DD")
    ] = None,
    to: Annotated[
        str | None, Query(max_length=10, pattern=_DAY, description="last day (included); default today")
    ] = None,
    shop_id: Annotated[str | None, Query(max_length=120, description="one shop's messages only")] = None,
    utc_offset_minutes: Annotated[
        int, Query(ge=-720, le=840, description="where days begin; default 480, China time")
    ] = 480,
) -> analytics.Period:
    return analytics.period(from_, to, utc_offset_minutes=utc_offset_minutes, shop_id=shop_id)


PeriodDep = Annotated[analytics.Period, Depends(_period)]
Similarity = Annotated[
    int, Query(ge=50, le=100, description="how alike texts must be to be grouped (rapidfuzz ratio)")
]


def _database(request: Request):
    return request.app.state.assistant.database


@router.get("/replies", response_model=ReplyAnalytics, name="reply_analytics")
async def replies(
    request: Request,
    when: PeriodDep,
    _: EditorKey,
    intent: Intent | None = None,
    sort: Literal["use_rate", "offered", "used", "edited", "dismissed", "reply_id"] = "use_rate",
    order: Literal["desc", "asc"] = "desc",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> dict:
    """Per reply: how often it was offered, shown, used, edited and dismissed, and its use rate."""
    return await run_in_threadpool(
        analytics.reply_usage,
        _database(request),
        when,
        intent=intent,
        sort=sort,
        descending=order == "desc",
        limit=limit,
        offset=offset,
    )


@router.get("/intents", response_model=IntentAnalytics, name="intent_analytics")
async def intents(request: Request, when: PeriodDep, _: EditorKey) -> dict:
    """Per intent and day: buyer messages, abstentions, uses and the use rate."""
    return await run_in_threadpool(analytics.intent_days, _database(request), when)


@router.get("/edits", response_model=EditAnalytics, name="edit_analytics")
async def edits(
    request: Request,
    when: PeriodDep,
    _: EditorKey,
    limit: Annotated[int, Query(ge=1, le=100, description="replies, and text groups per reply")] = 20,
    similarity: Similarity = 80,
) -> dict:
    """The replies agents edit most, with the texts they sent instead, grouped by similarity."""
    return await run_in_threadpool(
        analytics.edits, _database(request), when, limit=limit, similarity=similarity
    )


@router.get("/coverage", response_model=CoverageAnalytics, name="coverage_analytics")
async def coverage(
    request: Request,
    when: PeriodDep,
    _: EditorKey,
    intent: Intent | None = None,
    limit: Annotated[int, Query(ge=1, le=100, description="text groups per intent")] = 20,
    similarity: Similarity = 70,
) -> dict:
    """Buyer messages for which no suggestion was used, by intent and similar text."""
    return await run_in_threadpool(
        analytics.coverage, _database(request), when, intent=intent, limit=limit, similarity=similarity
    )

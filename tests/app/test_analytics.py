"""The editors' analytics, on SQLite and PostgreSQL: buyer messages and feedback sent to the
real server (``huashu serve``) over the real WebSocket and REST, then read back through the
analytics routes; bad input; and the suggestion-event recorder's batches."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import create_engine, func
from sqlmodel import Session, select
from websockets.asyncio.client import connect

from app import analytics, store
from app.events import SuggestionRecorder
from bench.service_bench import Server
from classifiers import Classification, Intent
from classifiers.types import IntentScore
from tests.helpers import bearer, create_key, fresh_database

CHINA = timezone(timedelta(hours=8))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory):
    """A real server on a database of its own, and an agent and an editor key for it."""
    with fresh_database(request.param, tmp_path_factory) as url:
        env = {**os.environ, "DATABASE_URL": url, "CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}
        agent, editor = create_key(env, "agent", "agent-1"), create_key(env, "editor", "editor-1")
        with Server(env) as process:
            base = f"127.0.0.1:{process.port}"
            with httpx.Client(base_url=f"http://{base}", timeout=30) as http:
                yield {"ws": f"ws://{base}/v1/ws?token={agent}", "http": http, "url": url,
                       "agent": bearer(agent), "editor": bearer(editor), "env": env}  # fmt: skip


async def _conversation(url: str, frames: list[dict]) -> list[dict]:
    answers = []
    async with connect(url) as ws:
        for frame in frames:
            await ws.send(json.dumps(frame, ensure_ascii=False))
            answers.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
    return answers


def _get(server, path: str, **params) -> dict:
    response = server["http"].get(path, params=params, headers=server["editor"])
    assert response.status_code == 200, response.text
    return response.json()


def _wait_for(check, timeout: float = 10.0):
    """The events reach the database in batches (every 0.5 s): poll until they have."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


@pytest.fixture(scope="module")
def shop(server):
    """One shop's traffic, sent once for the module: three conversations over the WebSocket and
    one over REST, with feedback of each kind."""
    shop_id = f"shop-{uuid.uuid4().hex[:6]}"
    ws_frames = []
    c1, c2, c3 = (f"{shop_id}-c{n}" for n in (1, 2, 3))
    first = asyncio.run(_conversation(server["ws"], [
        {"type": "buyer_message", "conversation_id": c1, "text": "什么时候发货", "shop_id": shop_id},
    ]))[0]  # fmt: skip
    shipped = first["suggestions"][0]["reply_id"]
    ws_frames += [
        {"type": "feedback", "reply_id": shipped, "action": "shown", "conversation_id": c1},
        {"type": "feedback", "reply_id": shipped, "action": "edited", "conversation_id": c1,
         "final_text": "亲，今天下午四点前拍下当天就发哦"},
        {"type": "buyer_message", "conversation_id": c2, "text": "什麼時候發貨", "shop_id": shop_id},
    ]  # fmt: skip
    answers = asyncio.run(_conversation(server["ws"], ws_frames))
    assert [a["type"] for a in answers] == ["ack", "ack", "suggestions"], answers
    assert answers[2]["suggestions"][0]["reply_id"] == shipped
    second = asyncio.run(_conversation(server["ws"], [
        {"type": "feedback", "reply_id": shipped, "action": "edited", "conversation_id": c2,
         "final_text": "親，今天下午四點前拍下當天就發哦"},
        {"type": "feedback", "reply_id": shipped, "action": "edited", "conversation_id": c2,
         "final_text": "亲，今天下午四点前拍下当天发哦！"},
        {"type": "buyer_message", "conversation_id": c3, "text": "在吗", "shop_id": shop_id},
        {"type": "buyer_message", "conversation_id": c3, "text": "在吗？", "shop_id": shop_id},
    ]))  # fmt: skip
    assert second[2]["intent"] == "other" and second[3]["intent"] == "other"
    rest = server["http"].post(
        "/v1/suggest",
        json={"text": "能便宜点吗", "conversation_id": f"{shop_id}-c4", "shop_id": shop_id},
        headers=server["agent"],
    )
    assert rest.status_code == 200
    bargain = rest.json()["suggestions"][0]["reply_id"]
    used = server["http"].post(
        "/v1/feedback",
        json={"reply_id": bargain, "action": "used", "conversation_id": f"{shop_id}-c4"},
        headers=server["agent"],
    )
    assert used.status_code == 204
    # Another shop's message and a reply's dismissal there must not count for this one.
    other = f"other-{shop_id}"
    asyncio.run(_conversation(server["ws"], [
        {"type": "buyer_message", "conversation_id": f"{other}-c1", "text": "什么时候发货", "shop_id": other},
        {"type": "feedback", "reply_id": shipped, "action": "dismissed", "conversation_id": f"{other}-c1"},
    ]))  # fmt: skip
    arrived = _wait_for(
        lambda: (
            _get(server, "/v1/analytics/coverage", shop_id=shop_id)["messages"] == 5
            and _get(server, "/v1/analytics/coverage", shop_id=other)["messages"] == 1
        )
    )
    assert arrived, "the suggestion events were not written"
    return {"id": shop_id, "shipped": shipped, "bargain": bargain}


def test_reply_usage_counts_what_the_shop_offered_and_agents_did(server, shop):
    body = _get(server, "/v1/analytics/replies", shop_id=shop["id"], sort="offered", limit=1000)
    today = datetime.now(CHINA).date()
    assert (body["from"], body["to"], body["shop_id"], body["utc_offset_minutes"]) == (
        (today - timedelta(days=29)).isoformat(), today.isoformat(), shop["id"], 480
    )  # fmt: skip
    usage = {row["reply_id"]: row for row in body["replies"]}
    shipped = usage[shop["shipped"]]
    assert {k: shipped[k] for k in ("offered", "shown", "used", "edited", "dismissed")} == {
        "offered": 3,
        "shown": 1,
        "used": 0,
        "edited": 3,
        "dismissed": 0,
    }  # fmt: skip  (offered: the two buyer messages, raised to its three actions)
    assert shipped["use_rate"] == 1.0 and shipped["heavily_edited"] and not shipped["never_used"]
    bargain = usage[shop["bargain"]]
    assert (bargain["used"], bargain["never_used"]) == (1, False)
    assert bargain["offered"] >= 1 and bargain["use_rate"] == round(1 / bargain["offered"], 4)
    never = [row for row in body["replies"] if row["offered"] == 0]
    assert never and all(row["use_rate"] is None and row["never_used"] for row in never)
    assert body["replies"][0]["offered"] >= body["replies"][-1]["offered"] and body["total"] == len(usage)
    everyone = _get(server, "/v1/analytics/replies", limit=1000)
    assert {r["reply_id"]: r for r in everyone["replies"]}[shop["shipped"]]["dismissed"] >= 1
    page = _get(server, "/v1/analytics/replies", shop_id=shop["id"], sort="use_rate", limit=2, offset=1)
    assert len(page["replies"]) == 2 and page["total"] == body["total"]
    logistics = _get(server, "/v1/analytics/replies", shop_id=shop["id"], intent="logistics", limit=1000)
    assert all("logistics" in r["intents"] for r in logistics["replies"])


def test_intents_per_day(server, shop):
    today = datetime.now(CHINA).date().isoformat()
    body = _get(server, "/v1/analytics/intents", shop_id=shop["id"], **{"from": today, "to": today})
    cells = {(row["day"], row["intent"]): row for row in body["days"]}
    logistics = cells[(today, "logistics")]
    # Both logistics messages got a suggestion used (edited), however many times.
    assert (logistics["messages"], logistics["abstentions"], logistics["used"], logistics["use_rate"]) == (
        2, 0, 2, 1.0
    )  # fmt: skip
    other = cells[(today, "other")]
    assert (other["messages"], other["abstentions"], other["used"], other["use_rate"]) == (2, 2, 0, 0.0)
    assert cells[(today, "bargaining")]["use_rate"] == 1.0
    assert body["totals"] == [{"day": today, "messages": 5, "abstentions": 2, "used": 3, "use_rate": 0.6}]
    # A week: every day listed, the empty ones with zeros.
    week = _get(server, "/v1/analytics/intents", shop_id=shop["id"],
                **{"from": (datetime.now(CHINA).date() - timedelta(days=6)).isoformat()})  # fmt: skip
    assert len(week["totals"]) == 7 and week["totals"][0]["use_rate"] is None


def test_edits_group_the_agents_final_texts(server, shop):
    body = _get(server, "/v1/analytics/edits", shop_id=shop["id"])
    top = body["replies"][0]
    assert (top["reply_id"], top["edited"], top["used"], top["edit_share"]) == (shop["shipped"], 3, 0, 1.0)
    # Traditional, Simplified and a near-copy are one group.
    assert [g["count"] for g in top["final_texts"]] == [3]
    assert top["final_texts"][0]["text"] and len(top["final_texts"][0]["examples"]) == 2
    strict = _get(server, "/v1/analytics/edits", shop_id=shop["id"], similarity=100)
    assert sorted(g["count"] for g in strict["replies"][0]["final_texts"]) == [1, 2]


def test_coverage_lists_the_messages_no_suggestion_answered(server, shop):
    body = _get(server, "/v1/analytics/coverage", shop_id=shop["id"])
    assert (body["messages"], body["uncovered"]) == (5, 2)
    by_intent = {row["intent"]: row for row in body["intents"]}
    assert body["intents"][0]["intent"] == "other"
    assert by_intent["other"]["groups"] == [{"text": "在吗", "count": 2, "examples": ["在吗？"]}]
    assert (by_intent["logistics"]["messages"], by_intent["logistics"]["uncovered"]) == (2, 0)
    only = _get(server, "/v1/analytics/coverage", shop_id=shop["id"], intent="logistics")
    assert [row["intent"] for row in only["intents"]] == ["logistics"] and only["uncovered"] == 0
    # Yesterday had none of it.
    yesterday = (datetime.now(CHINA).date() - timedelta(days=1)).isoformat()
    empty = _get(server, "/v1/analytics/coverage", shop_id=shop["id"], **{"from": yesterday, "to": yesterday})
    assert (empty["messages"], empty["intents"]) == (0, [])


ROUTES = ["replies", "intents", "edits", "coverage"]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-02-30"},
        {"from": "2026-13-01"},
        {"to": "12/01/2026"},
        {"to": "2026-1-1"},
        {"from": "1999-12-31"},
        {"from": "2026-12-05", "to": "2026-12-01"},
        {"from": "2025-01-01", "to": "2026-12-01"},
        {"utc_offset_minutes": "99999999999999999999"},
        {"utc_offset_minutes": "841"},
        {"shop_id": "s" * 121},
    ],
)
def test_bad_windows_are_a_422(server, route, params):
    response = server["http"].get(f"/v1/analytics/{route}", params=params, headers=server["editor"])
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and error["detail"][0]["loc"][0] == "query"


@pytest.mark.parametrize(
    "route, params",
    [
        ("replies", {"limit": str(2**31)}),
        ("replies", {"offset": str(2**31)}),
        ("replies", {"offset": "-1"}),
        ("replies", {"sort": "text"}),
        ("replies", {"intent": "shipping"}),
        ("edits", {"limit": "0"}),
        ("edits", {"similarity": "101"}),
        ("coverage", {"limit": "99999999999999999999999"}),
        ("coverage", {"similarity": "49"}),
    ],
)
def test_numbers_and_choices_out_of_range_are_a_422(server, route, params):
    response = server["http"].get(f"/v1/analytics/{route}", params=params, headers=server["editor"])
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("route", ROUTES)
def test_agents_may_not_read_analytics_and_nobody_without_a_key(server, route):
    denied = server["http"].get(f"/v1/analytics/{route}", headers=server["agent"])
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
    anonymous = server["http"].get(f"/v1/analytics/{route}")
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthorized"


def test_the_analytics_are_in_the_openapi_document(server):
    paths = server["http"].get("/openapi.json").json()["paths"]
    for route in ROUTES:
        assert "200" in paths[f"/v1/analytics/{route}"]["get"]["responses"]
        assert "422" in paths[f"/v1/analytics/{route}"]["get"]["responses"]


# The recorder on its own: batches, a bad row, an unreachable database, shutdown.

LOGISTICS = Classification(Intent.LOGISTICS, 0.9, [IntentScore(Intent.LOGISTICS, 0.9)], ["发货"])
UNSURE = Classification(Intent.OTHER, 0.4, [IntentScore(Intent.REFUND, 0.45)], ["嗯"])


def _events(database, conversation_prefix: str) -> list[store.SuggestionEvent]:
    with Session(database) as session:
        statement = select(store.SuggestionEvent).where(
            store.SuggestionEvent.conversation_id.startswith(conversation_prefix)  # type: ignore[union-attr]
        )
        return sorted(session.exec(statement).all(), key=lambda e: e.conversation_id or "")


def test_one_bad_row_costs_only_itself(server):
    database = store.connect(server["url"])
    recorder = SuggestionRecorder(database)
    prefix = f"rec-{uuid.uuid4().hex[:6]}"
    try:
        for n in range(5):
            recorder.record(conversation_id=f"{prefix}-{n}", shop_id="s", classification=LOGISTICS,
                            text=f"第{n}个", reply_ids=["a", "b"])  # fmt: skip
        recorder.record(conversation_id=f"{prefix}-5", shop_id="s", classification=UNSURE,
                        text="嗯", reply_ids=[])  # fmt: skip
        # A row no database stores (its text is not null-able): the batch falls back to rows.
        recorder._pending.insert(2, (time.time(), f"{prefix}-bad", "s", LOGISTICS, None, []))  # type: ignore[arg-type]
        assert recorder.flush()
        events = _events(database, prefix)
        assert [e.conversation_id for e in events] == [f"{prefix}-{n}" for n in range(6)]
        assert (events[0].intent, events[0].abstained, events[0].reply_ids, events[0].shop_id) == (
            "logistics", False, ["a", "b"], "s"
        )  # fmt: skip
        # An abstention keeps the intent that scored best.
        assert (events[5].intent, events[5].abstained) == ("refund", True)
        assert abs(events[0].created_at - datetime.now(UTC)) < timedelta(minutes=1)
    finally:
        recorder.close()
        database.dispose()


def test_rows_wait_while_the_database_is_unreachable_and_are_written_at_shutdown(server, tmp_path):
    unreachable = create_engine(f"sqlite:///{tmp_path}/missing/dir/huashu.db")  # no such folder
    recorder = SuggestionRecorder(unreachable)
    recorder.record(conversation_id="x", shop_id=None, classification=LOGISTICS, text="在", reply_ids=[])
    assert not recorder.flush() and len(recorder._pending) == 1  # kept, in order, for the next try
    recorder.close()
    unreachable.dispose()

    database = store.connect(server["url"])
    recorder = SuggestionRecorder(database)
    prefix = f"close-{uuid.uuid4().hex[:6]}"
    for n in range(3):
        recorder.record(conversation_id=f"{prefix}-{n}", shop_id=None, classification=LOGISTICS,
                        text="发货", reply_ids=["a"])  # fmt: skip
    recorder.close()
    assert len(_events(database, prefix)) == 3
    with Session(database) as session:
        assert session.exec(select(func.count()).select_from(store.SuggestionEvent)).one() >= 3
    database.dispose()


def test_similar_texts_are_grouped():
    groups = analytics.group_texts(
        ["能发到新疆吗", "能發到新疆嗎", "能发到新疆吗？", "新疆能发吗", "退款多久到账"], similarity=70
    )
    # One script or the other, a question mark more: one group; reworded or another question: not.
    assert [(g["text"], g["count"]) for g in groups] == [
        ("能发到新疆吗", 3),
        ("新疆能发吗", 1),
        ("退款多久到账", 1),
    ]
    assert sorted(groups[0]["examples"]) == sorted(["能發到新疆嗎", "能发到新疆吗？"])
    assert analytics.group_texts([], similarity=80) == []


def test_a_window_is_days_at_the_offset():
    period = analytics.period("2026-12-01", "2026-12-02", utc_offset_minutes=480, shop_id=None)
    window = period.window
    assert window.since == datetime(2026, 11, 30, 16, tzinfo=UTC)
    assert window.until == datetime(2026, 12, 2, 16, tzinfo=UTC)
    assert period.days() == ["2026-12-01", "2026-12-02"]
    default = analytics.period(
        None, None, utc_offset_minutes=0, shop_id="s", today=datetime(2026, 12, 3).date()
    )
    assert (default.first.isoformat(), default.last.isoformat()) == ("2026-11-04", "2026-12-03")

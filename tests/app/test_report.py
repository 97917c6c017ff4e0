"""`huashu report --out DIR`: the analytics as SVG charts and a summary, from the database
(SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ElementTree
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from app import cli, store
from app.config import get_settings
from tests.helpers import fresh_database

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_with_traffic(request, tmp_path_factory, monkeypatch):
    """Four answered buyer messages and the agents' feedback on them, stored as the service does."""
    with fresh_database(request.param, tmp_path_factory) as url:
        monkeypatch.setenv("DATABASE_URL", url)
        get_settings.cache_clear()
        database = store.connect(url)
        store.prepare(database)
        with Session(database) as session:
            ids = list(session.exec(select(store.ReplyRow.id).order_by(store.ReplyRow.id)).all())[:3]
        a, b, c = ids
        now = datetime.now(UTC)
        rows = [
            ("c1", "logistics", False, "什么时候发货", [a, b]),
            ("c2", "logistics", False, "能发新疆吗", [a, c]),
            ("c3", "other", True, "在吗", []),
            ("c4", "refund", False, "退款什么时候到", [b]),
        ]
        with database.begin() as connection:
            store.add_suggestion_events(connection, [
                {"conversation_id": cid, "shop_id": None, "intent": intent, "abstained": abstained,
                 "text": text, "reply_ids": offered, "created_at": now}
                for cid, intent, abstained, text, offered in rows
            ])  # fmt: skip
        with Session(database) as session:
            store.add_feedback(session, reply_id=a, intent="logistics", action="used", conversation_id="c1",
                               final_text=None, key_id=None)  # fmt: skip
            store.add_feedback(session, reply_id=b, intent="refund", action="edited", conversation_id="c4",
                               final_text="亲，退款已经处理啦", key_id=None)  # fmt: skip
        database.dispose()
        try:
            yield {"a": a, "b": b, "c": c}
        finally:
            get_settings.cache_clear()


def _svg(path) -> ElementTree.Element:
    return ElementTree.fromstring(path.read_bytes())  # well-formed XML, or this raises


def test_report_writes_the_charts_and_a_summary(database_with_traffic, tmp_path):
    ids = database_with_traffic
    out = io.StringIO()
    assert cli.main(["report", "--out", str(tmp_path / "report")], out=out) == 0
    written = {line.rsplit("/", 1)[-1] for line in out.getvalue().split()}
    charts = {"use-rate-by-intent.svg", "top-replies.svg", "never-used-replies.svg",
              "abstentions-per-day.svg", "coverage-gaps.svg"}  # fmt: skip
    assert written == charts | {"replies.csv", "intents.csv", "summary.md"}
    folder = tmp_path / "report"

    top = _svg(folder / "top-replies.svg")
    assert "使用率最高的回复" in top.find(f"{SVG}title").text
    bars = [bar.find(f"{SVG}title").text for bar in top.iter(f"{SVG}rect") if bar.get("class") == "bar"]
    assert sorted(bars) == sorted([f"{ids['a']}: 50.0%", f"{ids['b']}: 50.0%", f"{ids['c']}: 0.0%"])

    never = _svg(folder / "never-used-replies.svg")
    bars = [bar.find(f"{SVG}title").text for bar in never.iter(f"{SVG}rect") if bar.get("class") == "bar"]
    assert bars == [f"{ids['c']}: 1 次"]

    gaps = _svg(folder / "coverage-gaps.svg")
    bars = [bar.find(f"{SVG}title").text for bar in gaps.iter(f"{SVG}rect") if bar.get("class") == "bar"]
    assert sorted(bars) == ["其他: 1 条", "物流: 1 条"]

    abstentions = _svg(folder / "abstentions-per-day.svg")
    columns = [
        bar.find(f"{SVG}title").text for bar in abstentions.iter(f"{SVG}rect") if bar.get("class") == "bar"
    ]
    assert len(columns) == 30 and columns[-1].endswith(": 1") and all(c.endswith(": 0") for c in columns[:-1])

    rates = _svg(folder / "use-rate-by-intent.svg")
    titles = [point.find(f"{SVG}title").text for point in rates.iter(f"{SVG}circle")]
    assert {t.split(" ")[0]: t.rsplit(" ", 1)[-1] for t in titles} == {
        "其他": "0.0%",
        "物流": "50.0%",
        "退款": "100.0%",
    }

    summary = (folder / "summary.md").read_text(encoding="utf-8")
    assert "买家消息 4 条，其中用上建议 2 条（50.0%），未能判定意图 1 条" in summary
    assert "| 物流 | 2 | 0 | 1 | 50.0% |" in summary and "亲，退款已经处理啦" in summary
    assert "能发新疆吗" in summary and "在吗" in summary
    with (folder / "replies.csv").open(encoding="utf-8-sig") as file:
        usage = {row["reply_id"]: row for row in csv.DictReader(file)}
    assert (usage[ids["a"]]["offered"], usage[ids["a"]]["used"], usage[ids["a"]]["use_rate"]) == (
        "2",
        "1",
        "0.5",
    )
    assert usage[ids["c"]]["never_used"] == "True"
    with (folder / "intents.csv").open(encoding="utf-8-sig") as file:
        assert sorted(row["intent"] for row in csv.DictReader(file)) == ["logistics", "other", "refund"]


def test_an_empty_window_still_draws_every_chart(database_with_traffic, tmp_path):
    out = io.StringIO()
    args = ["report", "--out", str(tmp_path / "r"), "--from", "2026-01-01", "--to", "2026-01-07"]
    assert cli.main(args, out=out) == 0
    gaps = _svg(tmp_path / "r" / "coverage-gaps.svg")
    assert "每条买家消息都用上了建议" in ElementTree.tostring(gaps, encoding="unicode")
    assert len([b for b in _svg(tmp_path / "r" / "abstentions-per-day.svg").iter(f"{SVG}rect")
                if b.get("class") == "bar"]) == 7  # fmt: skip


@pytest.mark.parametrize("bad", [["--from", "2026-02-30"], ["--from", "2026-12-05", "--to", "2026-12-01"]])
def test_a_bad_window_is_refused(database_with_traffic, tmp_path, bad):
    out = io.StringIO()
    assert cli.main(["report", "--out", str(tmp_path / "r"), *bad], out=out) == 2
    assert not (tmp_path / "r").exists() and out.getvalue().strip()

"""``huashu report --out DIR``: the studio's charts as SVG files and a summary table, from the
database, for editors who would rather have files."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.engine import Engine as DatabaseEngine

from app import analytics, charts

INTENT_NAMES = {
    "bargaining": "讨价还价",
    "hesitation": "犹豫",
    "logistics": "物流",
    "refund": "退款",
    "other": "其他",
}
TOP = 10
REPLY_COLUMNS = ["reply_id", "status", "shop_id", "offered", "shown", "used", "edited", "dismissed",
                 "use_rate", "never_used", "heavily_edited"]  # fmt: skip
INTENT_COLUMNS = ["day", "intent", "messages", "abstentions", "used", "use_rate"]


def _intent(name: str) -> str:
    return INTENT_NAMES.get(name, name)


def write_report(database: DatabaseEngine, when: analytics.Period, out: Path) -> list[Path]:
    """Write the charts and tables into ``out`` (made if missing); returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    usage = analytics.reply_usage(
        database, when, intent=None, sort="use_rate", descending=True, limit=100_000, offset=0
    )["replies"]
    days = analytics.intent_days(database, when)
    gaps = analytics.coverage(database, when, intent=None, limit=TOP, similarity=70)
    edited = analytics.edits(database, when, limit=TOP, similarity=80)
    span = f"{when.first.isoformat()} 至 {when.last.isoformat()}" + (
        f"，店铺 {when.shop_id}" if when.shop_id else ""
    )

    dates = when.days()
    rates: dict[str, Sequence[float | None]] = {}
    by_cell = {(row["day"], row["intent"]): row for row in days["days"]}
    for intent in sorted({row["intent"] for row in days["days"]}):
        rates[_intent(intent)] = [
            by_cell[(day, intent)]["use_rate"] if (day, intent) in by_cell else None for day in dates
        ]
    offered = [row for row in usage if row["offered"]]
    top = [(row["reply_id"], row["use_rate"]) for row in offered[:TOP]]
    never = sorted(
        (row for row in offered if row["never_used"]), key=lambda r: (-r["offered"], r["reply_id"])
    )
    files = {
        "use-rate-by-intent.svg": charts.lines(f"各意图每日使用率（{span}）", dates, rates),
        "top-replies.svg": charts.horizontal_bars(f"使用率最高的回复（{span}）", top, percent=True),
        "never-used-replies.svg": charts.horizontal_bars(
            f"推荐过但从未使用的回复（按推荐次数，{span}）",
            [(row["reply_id"], row["offered"]) for row in never[:TOP]],
            unit=" 次",
            empty="没有推荐过却从未使用的回复",
        ),
        "abstentions-per-day.svg": charts.column_bars(
            f"每日未能判定意图的消息（{span}）", dates, [row["abstentions"] for row in days["totals"]]
        ),
        "coverage-gaps.svg": charts.horizontal_bars(
            f"没有用上建议的买家消息（按意图，{span}）",
            [(_intent(row["intent"]), row["uncovered"]) for row in gaps["intents"] if row["uncovered"]],
            unit=" 条",
            empty="每条买家消息都用上了建议",
        ),
    }
    written = []
    for name, svg in files.items():
        (out / name).write_text(svg, encoding="utf-8")
        written.append(out / name)

    written.append(_csv(out / "replies.csv", usage, REPLY_COLUMNS))
    written.append(_csv(out / "intents.csv", days["days"], INTENT_COLUMNS))
    totals = days["totals"]
    messages = sum(row["messages"] for row in totals)
    used = sum(row["used"] for row in totals)
    lines = [
        f"# 话术使用报告（{span}）",
        "",
        f"- 买家消息 {messages} 条，其中用上建议 {used} 条（{_percent(_share(used, messages))}），"
        f"未能判定意图 {sum(row['abstentions'] for row in totals)} 条",
        f"- 回复 {len(usage)} 条，推荐过 {len(offered)} 条，推荐过却从未使用 {len(never)} 条",
        f"- 覆盖：统计 {gaps['messages']} 条消息，未用上建议 {gaps['uncovered']} 条",
        "",
        "## 各意图",
        "",
        "| 意图 | 消息 | 未判定 | 用上建议 | 使用率 |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    by_intent: dict[str, list[int]] = {}
    for row in days["days"]:
        sums = by_intent.setdefault(row["intent"], [0, 0, 0])
        for n, name in enumerate(("messages", "abstentions", "used")):
            sums[n] += row[name]
    for intent, (count, abstained, taken) in sorted(by_intent.items()):
        lines.append(
            f"| {_intent(intent)} | {count} | {abstained} | {taken} | {_percent(_share(taken, count))} |"
        )
    lines += [
        "",
        "## 使用率最高的回复",
        "",
        "| 回复 | 推荐 | 使用 | 改写 | 使用率 |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {_cell(row['reply_id'])} | {row['offered']} | {row['used']} | {row['edited']} "
        f"| {_percent(row['use_rate'])} |"
        for row in offered[:TOP]
    ]
    lines += ["", "## 常被改写的回复（客服实际发出的文字）", ""]
    for row in edited["replies"]:
        lines.append(f"- **{_cell(row['reply_id'])}**：改写 {row['edited']} 次，使用 {row['used']} 次")
        lines += [f"  - {group['count']} 次：{_cell(group['text'])}" for group in row["final_texts"]]
    lines += ["", "## 缺少回复的买家消息", ""]
    for row in gaps["intents"]:
        if row["uncovered"]:
            lines.append(
                f"- **{_intent(row['intent'])}**：{row['uncovered']} / {row['messages']} 条未用上建议"
            )
            lines += [f"  - {group['count']} 条：{_cell(group['text'])}" for group in row["groups"]]
    lines += ["", "图：" + "、".join(f"[{name}]({name})" for name in files), ""]
    (out / "summary.md").write_text("\n".join(lines), encoding="utf-8")
    written.append(out / "summary.md")
    return written


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def _cell(text: str) -> str:
    """Text in a Markdown table cell or list line: one line, no column breaks."""
    return " ".join(text.split()).replace("|", "\\|")


def _csv(path: Path, rows: list[dict], fields: list[str]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as file:  # with a BOM: Excel reads it as UTF-8
        writer = csv.DictWriter(file, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path

"""What the editors' analytics answer, from the suggestion events and the agents' feedback.

The database counts (``app.store``); this module joins the counts to the corpus, works out
rates, and groups similar texts (agents' edits, uncovered buyer messages) with rapidfuzz.
Every answer is for a window of calendar days at a UTC offset, optionally one shop's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from rapidfuzz import fuzz, process
from sqlalchemy.engine import Engine as DatabaseEngine
from sqlmodel import Session

from app import store
from app.errors import ApiError
from classifiers.normalize import normalized_text

ACTIONS = ("shown", "used", "edited", "dismissed")
# A reply edited this often, in at least this share of its uses, is "heavily edited".
HEAVY_EDITS = 3
HEAVY_SHARE = 0.5
DEFAULT_DAYS = 30
MAX_DAYS = 366
EXAMPLES = 5
# Grouping compares each distinct text with the groups so far: bound the work per answer.
MAX_DISTINCT_TEXTS = 5000
# Feedback counts for a message when it comes before the conversation's next buyer message,
# and at most this long after it.
USE_WITHIN = timedelta(hours=1)


@dataclass(frozen=True)
class Period:
    """The days asked for, as the answer names them and as the store reads them."""

    first: date
    last: date
    utc_offset_minutes: int
    shop_id: str | None

    @property
    def window(self) -> store.Window:
        zone = timezone(timedelta(minutes=self.utc_offset_minutes))
        since = datetime.combine(self.first, datetime.min.time(), zone).astimezone(UTC)
        until = datetime.combine(self.last + timedelta(days=1), datetime.min.time(), zone).astimezone(UTC)
        return store.Window(since, until, self.shop_id, self.utc_offset_minutes)

    def days(self) -> list[str]:
        count = (self.last - self.first).days + 1
        return [(self.first + timedelta(days=n)).isoformat() for n in range(count)]

    def body(self) -> dict[str, Any]:
        return {
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "utc_offset_minutes": self.utc_offset_minutes,
            "shop_id": self.shop_id,
        }


def _day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        day = None
    if day is None or len(value) != 10 or not 2000 <= day.year <= 2999:
        raise ApiError(
            422,
            "invalid_request",
            f"{name} must be a day written YYYY-MM-DD, from 2000 to 2999",
            _where(name, f"not a day: {value!r}"),
        )
    return day


def _where(name: str, message: str) -> list[dict]:
    """The detail a validation error has: which query parameter, and what is wrong."""
    return [{"loc": ["query", name], "msg": message, "type": "value_error"}]


def period(
    first: str | None,
    last: str | None,
    *,
    utc_offset_minutes: int,
    shop_id: str | None,
    today: date | None = None,
) -> Period:
    """The window asked for: ``first``..``last`` (both included, YYYY-MM-DD), by default the
    last DEFAULT_DAYS days up to today at the offset; 422 for a bad or too long window."""
    zone = timezone(timedelta(minutes=utc_offset_minutes))
    to_day = _day(last, "to") or today or datetime.now(zone).date()
    from_day = _day(first, "from") or to_day - timedelta(days=DEFAULT_DAYS - 1)
    if from_day > to_day:
        raise ApiError(422, "invalid_request", "from must not be after to", _where("from", "after to"))
    if (to_day - from_day).days + 1 > MAX_DAYS:
        raise ApiError(
            422, "invalid_request", f"a window is at most {MAX_DAYS} days", _where("from", "window too long")
        )
    return Period(from_day, to_day, utc_offset_minutes, shop_id)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def reply_usage(
    database: DatabaseEngine,
    when: Period,
    *,
    intent: str | None,
    sort: str,
    descending: bool,
    limit: int,
    offset: int,
) -> dict:
    """Per reply: offered, each feedback action, the use rate and marks. Every reply that is
    not retired is listed (never offered ones too), and any other that had events."""
    window = when.window
    with Session(database) as session:
        offered = store.offer_counts(session, window=window)
        actions = store.feedback_action_counts(session, window=window)
        rows = {row.id: row for row in store.all_reply_rows(session, status=None, shop_id=None)}
    with_events = set(offered) | {reply_id for reply_id, _ in actions}
    listed = [
        reply_id
        for reply_id, row in rows.items()
        if reply_id in with_events
        or (row.status != "retired" and (when.shop_id is None or row.shop_id in (None, when.shop_id)))
    ]
    listed += sorted(with_events - set(rows))  # feedback for replies deleted since
    usage: list[dict[str, Any]] = []
    for reply_id in listed:
        row = rows.get(reply_id)
        counts = {action: actions.get((reply_id, action), 0) for action in ACTIONS}
        if intent is not None and (row is None or intent not in row.intents):
            continue
        taken = counts["used"] + counts["edited"]
        # Feedback can come from callers that never asked for suggestions here.
        times_offered = max(offered.get(reply_id, 0), counts["shown"], taken + counts["dismissed"])
        usage.append({
            "reply_id": reply_id,
            "text": None if row is None else row.text,
            "intents": [] if row is None else list(row.intents),
            "shop_id": None if row is None else row.shop_id,
            "status": None if row is None else row.status,
            "offered": times_offered,
            **counts,
            "use_rate": _rate(taken, times_offered),
            "never_used": taken == 0,
            "heavily_edited": counts["edited"] >= HEAVY_EDITS and counts["edited"] >= HEAVY_SHARE * taken,
        })  # fmt: skip
    usage.sort(key=lambda u: u["reply_id"])
    present = [u for u in usage if u[sort] is not None]
    present.sort(key=lambda u: u[sort], reverse=descending)  # stable: ties stay in id order
    ordered = present + [u for u in usage if u[sort] is None]  # never offered: last either way
    return {**when.body(), "total": len(ordered), "replies": ordered[offset : offset + limit]}


def _answered(session: Session, window: store.Window) -> Iterator[tuple[store.OfferedMessage, bool | None]]:
    """Each buyer message of the window, oldest first, and whether a suggestion was used for
    it: an agent used or edited one of the replies it was offered, in its conversation, before
    the conversation's next buyer message and within USE_WITHIN. Nothing offered: False. No
    conversation id, something offered: None (feedback cannot be matched to it)."""
    uses = store.uses_by_conversation(session, window=window, until=window.until + USE_WITHIN)
    waiting: dict[str, store.OfferedMessage] = {}  # each conversation's last message, undecided

    def used(message: store.OfferedMessage, before: datetime | None) -> bool:
        end = message.created_at + USE_WITHIN
        end = min(end, before) if before is not None else end
        offered = set(message.reply_ids)
        return any(
            message.created_at <= at < end and reply_id in offered
            for at, reply_id in uses.get(message.conversation_id or "", ())
        )

    for message in store.offered_messages(session, window=window):
        if message.conversation_id is None:
            yield message, (False if not message.reply_ids else None)
            continue
        previous = waiting.pop(message.conversation_id, None)
        if previous is not None:
            yield previous, used(previous, message.created_at)
        waiting[message.conversation_id] = message
    for message in waiting.values():
        yield message, used(message, None)


def intent_days(database: DatabaseEngine, when: Period) -> dict:
    """Per day and best-scored intent: messages, abstentions, the messages a suggestion was
    used for and their share; and per day, every intent together (every day of the window,
    zeros included)."""
    zone = timezone(timedelta(minutes=when.utc_offset_minutes))
    cells: dict[tuple[str, str], dict[str, int]] = {}
    with Session(database) as session:
        for message, used in _answered(session, when.window):
            day = message.created_at.astimezone(zone).date().isoformat()
            cell = cells.setdefault((day, message.intent), {"messages": 0, "abstentions": 0, "used": 0})
            cell["messages"] += 1
            cell["abstentions"] += message.abstained
            cell["used"] += used is True
    days = [
        {"day": day, "intent": intent, **cell, "use_rate": _rate(cell["used"], cell["messages"])}
        for (day, intent), cell in sorted(cells.items())
    ]
    totals = []
    for day in when.days():
        summed = {
            name: sum(c[name] for (d, _), c in cells.items() if d == day)
            for name in ("messages", "abstentions", "used")
        }
        totals.append({"day": day, **summed, "use_rate": _rate(summed["used"], summed["messages"])})
    return {**when.body(), "days": days, "totals": totals}


def group_texts(texts: Iterable[str], *, similarity: int) -> list[dict]:
    """Similar texts counted together, largest group first: texts equal once folded
    (Traditional, width, spacing) are one; then each distinct text, most frequent first,
    joins the first group whose text it matches at ``similarity`` (rapidfuzz ratio, 0–100)."""
    counts: Counter[str] = Counter()
    shown: dict[str, Counter[str]] = {}
    for text in texts:
        folded = normalized_text(text)
        counts[folded] += 1
        shown.setdefault(folded, Counter())[text] += 1
    groups: list[dict] = []
    leaders: dict[int, str] = {}  # group index → its first folded text, what others match
    for folded, count in counts.most_common(MAX_DISTINCT_TEXTS):
        match = process.extractOne(
            folded, leaders, scorer=fuzz.ratio, processor=None, score_cutoff=similarity
        )
        if match is None:
            leaders[len(groups)] = folded
            groups.append({"count": 0, "texts": Counter()})
            group = groups[-1]
        else:
            group = groups[match[2]]
        group["count"] += count
        group["texts"].update(shown[folded])
    groups.sort(key=lambda g: -g["count"])
    out = []
    for group in groups:
        ranked = [text for text, _ in group["texts"].most_common(EXAMPLES + 1)]
        out.append({"text": ranked[0], "count": group["count"], "examples": ranked[1:]})
    return out


def edits(database: DatabaseEngine, when: Period, *, limit: int, similarity: int) -> dict:
    """The replies agents edit most, with what they sent instead grouped by similarity:
    candidates for new or better replies."""
    window = when.window
    with Session(database) as session:
        actions = store.feedback_action_counts(session, window=window)
        edited = Counter({reply_id: n for (reply_id, action), n in actions.items() if action == "edited"})
        top = [reply_id for reply_id, _ in sorted(edited.items(), key=lambda p: (-p[1], p[0]))[:limit]]
        texts = store.edited_final_texts(session, window=window, reply_ids=top, limit=MAX_DISTINCT_TEXTS * 4)
        rows = store.reply_rows_by_id(session, ids=top)
    by_reply: dict[str, list[str]] = {}
    for reply_id, text in texts:
        by_reply.setdefault(reply_id, []).append(text)
    replies = []
    for reply_id in top:
        used = actions.get((reply_id, "used"), 0)
        row = rows.get(reply_id)
        replies.append({
            "reply_id": reply_id,
            "text": None if row is None else row.text,
            "edited": edited[reply_id],
            "used": used,
            "edit_share": round(edited[reply_id] / (edited[reply_id] + used), 4),
            "final_texts": group_texts(by_reply.get(reply_id, []), similarity=similarity)[:limit],
        })  # fmt: skip
    return {**when.body(), "replies": replies}


def coverage(
    database: DatabaseEngine, when: Period, *, intent: str | None, limit: int, similarity: int
) -> dict:
    """Buyer messages for which no suggestion was used (see ``_answered``), by intent and
    grouped by similar text: where a reply is missing. Messages whose use cannot be known
    (no conversation id, something offered) are left out."""
    totals: Counter[str] = Counter()
    uncovered: dict[str, list[str]] = {}
    with Session(database) as session:
        for message, used in _answered(session, when.window):
            if used is None or (intent is not None and message.intent != intent):
                continue
            totals[message.intent] += 1
            if not used:
                uncovered.setdefault(message.intent, []).append(message.text)
    intents: list[dict[str, Any]] = [
        {
            "intent": name,
            "messages": totals[name],
            "uncovered": len(uncovered.get(name, [])),
            "groups": group_texts(uncovered.get(name, []), similarity=similarity)[:limit],
        }
        for name in totals
    ]
    intents.sort(key=lambda i: (-i["uncovered"], i["intent"]))
    return {
        **when.body(),
        "messages": sum(totals.values()),
        "uncovered": sum(i["uncovered"] for i in intents),
        "intents": intents,
    }

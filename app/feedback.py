"""Ranking boosts from the feedback agents give, caught up from the database incrementally."""

from __future__ import annotations

import threading
import time

from sqlmodel import Session

from app import store
from classifiers.rank import MAX_FEEDBACK_BOOST

# Neutral events assumed before any feedback, so one click does not move a reply far.
BOOST_PRIOR = 5


def feedback_boost(counts: dict[str, int]) -> float:
    """MAX_FEEDBACK_BOOST × the share of offers agents took (an edit counts half), with a prior."""
    taken = counts.get("used", 0) + 0.5 * counts.get("edited", 0)
    offered = max(
        counts.get("shown", 0), counts.get("used", 0) + counts.get("edited", 0) + counts.get("dismissed", 0)
    )
    return MAX_FEEDBACK_BOOST * taken / (offered + BOOST_PRIOR)


class FeedbackBoosts:
    """Ranking boosts from the feedback events in the database, caught up incrementally.

    Events are read by id. On PostgreSQL an id is handed out when its row is inserted but
    seen only once its transaction commits, so a later id can show up first: an id missing
    below the last one seen is a gap, looked for again at every catch-up until GAP_TTL_S
    has passed — feedback is one short insert, so by then the id was a rolled-back insert,
    not a slow commit. ``boosts`` is replaced whole, never mutated, so the event loop reads
    it without a lock.
    """

    GAP_TTL_S = 60.0
    MAX_GAPS = 500  # only the newest ids can still be committing; also bounds the query

    def __init__(self) -> None:
        self.boosts: dict[tuple[str, str], float] = {}
        self._counts: dict[tuple[str, str], dict[str, int]] = {}
        self._last_event_id: int | None = None
        self._gaps: dict[int, float] = {}  # missing id → when it was first missed
        self._lock = threading.Lock()

    def catch_up(self, session: Session) -> None:
        with self._lock:
            new: dict[tuple[str, str], dict[str, int]] = {}
            if self._last_event_id is None:
                # Start-up: the history is counted by the database; only the newest ids,
                # which may have gaps still committing, are read one by one below.
                self._last_event_id = max(0, store.last_feedback_id(session) - self.MAX_GAPS)
                new = store.feedback_counts_through(session, last_id=self._last_event_id)
            now = time.monotonic()
            expected = self._last_event_id + 1
            events = store.feedback_events(session, after_id=self._last_event_id, also=self._gaps)
            for event_id, reply_id, intent, action in events:
                if event_id >= expected:
                    for missing in range(max(expected, event_id - self.MAX_GAPS), event_id):
                        self._gaps[missing] = now
                    expected = event_id + 1
                else:
                    del self._gaps[event_id]  # a late commit
                actions = new.setdefault((reply_id, intent), {})
                actions[action] = actions.get(action, 0) + 1
            self._last_event_id = expected - 1
            newest = sorted(i for i, missed in self._gaps.items() if now - missed < self.GAP_TTL_S)
            self._gaps = {i: self._gaps[i] for i in newest[-self.MAX_GAPS :]}
            if not new:
                return
            changed = {}
            for key, actions in new.items():
                counts = self._counts.setdefault(key, {})
                for action, count in actions.items():
                    counts[action] = counts.get(action, 0) + count
                changed[key] = feedback_boost(counts)
            self.boosts = {**self.boosts, **changed}

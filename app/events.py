"""Each buyer message answered, recorded for the editors' analytics off the request path.

``record`` runs on the event loop for every suggestion, so it only appends a tuple to a
deque (thread-safe without a lock). A thread of its own writes what has gathered every
FLUSH_S, in one transaction per batch; a batch that fails for its data is written row by
row, so one bad row costs only itself. While the database is unreachable the rows wait
(at most MAX_PENDING; the oldest are dropped and counted beyond that). ``close`` writes
what is left.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine as DatabaseEngine
from sqlalchemy.exc import InterfaceError, OperationalError

from app import store
from app.metrics import SUGGESTION_EVENTS, child
from classifiers import Classification, Intent

log = logging.getLogger("huashu")

# (time.time(), conversation_id, shop_id, classification, text, reply ids)
_Pending = tuple[float, str | None, str | None, Classification, str, list[str]]


class SuggestionRecorder:
    FLUSH_S = 0.5
    BATCH = 2000
    MAX_PENDING = 100_000
    RETRY_S = 2.0  # wait after the database was unreachable

    def __init__(self, database: DatabaseEngine) -> None:
        self._database = database
        self._pending: deque[_Pending] = deque()
        self._wake = threading.Event()
        self._closing = False
        self._flushing = threading.Lock()  # one writer at a time (the thread, or ``flush``)
        self._thread = threading.Thread(target=self._run, name="huashu-suggestion-events", daemon=True)
        self._thread.start()

    def record(
        self,
        *,
        conversation_id: str | None,
        shop_id: str | None,
        classification: Classification,
        text: str,
        reply_ids: list[str],
    ) -> None:
        """On the event loop: keep it for the next batch (microseconds, no I/O)."""
        if len(self._pending) >= self.MAX_PENDING:
            self._pending.popleft()
            child(SUGGESTION_EVENTS, "dropped").inc()
        self._pending.append((time.time(), conversation_id, shop_id, classification, text, reply_ids))

    def flush(self) -> bool:
        """Write everything pending now (blocking). False when the database was unreachable
        and rows are still waiting."""
        with self._flushing:
            while self._pending:
                batch = [self._pending.popleft() for _ in range(min(self.BATCH, len(self._pending)))]
                if not self._write(batch):
                    return False
        return True

    def close(self) -> None:
        """Stop the thread and write what is left (blocking: call off the event loop)."""
        self._closing = True
        self._wake.set()
        self._thread.join()
        if self._pending and not self.flush():
            child(SUGGESTION_EVENTS, "dropped").inc(len(self._pending))
            log.warning("%d suggestion events not written at shutdown", len(self._pending))

    def _run(self) -> None:
        while not self._closing:
            self._wake.wait(self.FLUSH_S)
            try:
                if not self.flush():
                    self._wake.wait(self.RETRY_S)
            except Exception:  # never let the recorder die
                log.exception("suggestion events: unexpected error")

    @staticmethod
    def _row(pending: _Pending) -> dict[str, Any]:
        when, conversation_id, shop_id, classification, text, reply_ids = pending
        abstained = classification.intent is Intent.OTHER
        best = classification.intents[0].intent if classification.intents else Intent.OTHER
        return {
            "conversation_id": conversation_id,
            "shop_id": shop_id,
            "intent": str(best if abstained else classification.intent),
            "abstained": abstained,
            "text": text,
            "reply_ids": reply_ids,
            "created_at": datetime.fromtimestamp(when, UTC),
        }

    def _write(self, batch: list[_Pending]) -> bool:
        rows = [self._row(pending) for pending in batch]
        try:
            with self._database.begin() as connection:
                store.add_suggestion_events(connection, rows)
        except (OperationalError, InterfaceError):
            self._unreachable(batch)
            return False
        except Exception:
            log.warning("suggestion events: a batch of %d failed; writing it row by row", len(rows))
            return self._row_by_row(batch, rows)
        child(SUGGESTION_EVENTS, "written").inc(len(rows))
        return True

    def _row_by_row(self, batch: list[_Pending], rows: list[dict[str, Any]]) -> bool:
        for number, row in enumerate(rows):
            try:
                with self._database.begin() as connection:
                    store.add_suggestion_events(connection, [row])
            except (OperationalError, InterfaceError):
                self._unreachable(batch[number:])
                return False
            except Exception:
                child(SUGGESTION_EVENTS, "dropped").inc()
                log.exception("suggestion events: dropped one row that cannot be stored")
            else:
                child(SUGGESTION_EVENTS, "written").inc()
        return True

    def _unreachable(self, batch: list[_Pending]) -> None:
        """Put the rows back in front, in order, for the next try."""
        log.warning("suggestion events: database unavailable; %d rows wait", len(batch) + len(self._pending))
        self._pending.extendleft(reversed(batch))
        while len(self._pending) > self.MAX_PENDING:
            self._pending.popleft()
            child(SUGGESTION_EVENTS, "dropped").inc()

"""What the service does for one message, shared by REST and WebSocket.

It wraps the language core with the service's state, none of which is private to one
worker: the current engine (rebuilt whenever the database's corpus version moves, see
``app.sync``), each conversation's last intent scores and the feedback counts, both in
the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from typing import Any

import orjson
from sqlalchemy.engine import Engine as DatabaseEngine
from sqlmodel import Session

from app import store
from app.config import Settings
from app.errors import ApiError
from app.metrics import SUGGESTIONS, child
from app.schemas import FeedbackRequest
from classifiers import Classification, Engine, LintResult, Suggestion
from classifiers.engine import Analysis
from classifiers.types import SCORED_INTENTS

log = logging.getLogger("huashu")

# Feedback boost: at most this much is added to a reply's score.
MAX_BOOST = 0.1
# Neutral events assumed before any feedback, so one click does not move a reply far.
BOOST_PRIOR = 5


class ConversationContext:
    """Each conversation's last buyer message's intent scores, in the database, so that the
    conversation's next message may land on any worker.

    This runs for every buyer message, so it bypasses the ORM: precompiled statements on
    connections the worker keeps. Writes are batched: kept here and flushed in one
    transaction every FLUSH_S (reads see them meanwhile, and while they are being written),
    so other workers see a turn at most FLUSH_S late — buyers take seconds between
    messages. SQLite is a library in this process and answers faster than anything else,
    so it runs inline. PostgreSQL is a network round trip: it runs on psycopg's asyncio
    connections, one for reads and one for writes, so a read never waits for a flush nor
    for a thread to win the GIL back from a busy event loop; the reads waiting at one time
    share one query. A batch upserts its rows in id order, so workers flushing at once wait
    for each other's row locks instead of deadlocking. A failure costs the message its
    context, never its answer.
    """

    FLUSH_S = 0.05

    def __init__(self, database: DatabaseEngine, ttl: float) -> None:
        self._database = database
        self._ttl = ttl
        self._inline = database.dialect.name == "sqlite"
        self._connections: dict[str, Any] = {}
        self._connecting = {"read": asyncio.Lock(), "write": asyncio.Lock()}
        self._pending: dict[str, tuple[list[float], float]] = {}  # written here, not yet flushed
        self._flushing: dict[str, tuple[list[float], float]] = {}  # the batch being written
        self._flush_handle: asyncio.TimerHandle | None = None
        self._flush_task: asyncio.Task | None = None
        self._waiting: dict[str, asyncio.Future] = {}  # PostgreSQL reads for the next batch
        self._reader: asyncio.Task | None = None
        cast = "" if self._inline else "::json"
        mark = "?" if self._inline else "%s"
        self._select = "SELECT scores FROM conversation WHERE id = ? AND updated_at >= ?"  # SQLite
        self._select_many = "SELECT id, scores FROM conversation WHERE id = ANY(%s) AND updated_at >= %s"
        self._upsert = (
            f"INSERT INTO conversation (id, scores, updated_at) VALUES ({mark}, {mark}{cast}, {mark}) "
            "ON CONFLICT (id) DO UPDATE SET scores = excluded.scores, updated_at = excluded.updated_at"
        )

    async def previous(self, conversation_id: str) -> list[float] | None:
        unwritten = self._pending.get(conversation_id) or self._flushing.get(conversation_id)
        if unwritten is not None:
            return unwritten[0]
        if not self._inline:
            return await self._read_postgres(conversation_id)
        try:
            row = self._sqlite().execute(self._select, (conversation_id, time.time() - self._ttl)).fetchone()
        except Exception:
            self._lost_sqlite()
            return None
        return None if row is None else orjson.loads(row[0])

    def _read_postgres(self, conversation_id: str) -> asyncio.Future:
        """Reads wait for one batched query: under load, a query's answer is read only when
        the busy event loop comes round (many ms), so one query per message would queue them."""
        waiting = self._waiting.get(conversation_id)
        if waiting is None:
            waiting = self._waiting[conversation_id] = asyncio.get_running_loop().create_future()
        if self._reader is None or self._reader.done():
            self._reader = asyncio.get_running_loop().create_task(self._read_batches())
        return waiting

    async def _read_batches(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, {}
            rows: dict[str, list[float]] = {}
            try:
                connection = await self._postgres("read")
                cursor = await connection.execute(self._select_many, (list(batch), time.time() - self._ttl))
                rows = dict(await cursor.fetchall())
            except Exception:
                await self._lost("read")
            for conversation_id, waiting in batch.items():
                if not waiting.done():
                    waiting.set_result(rows.get(conversation_id))

    def remember(self, conversation_id: str, classification: Classification) -> None:
        """Called on the event loop; the write reaches the database within about FLUSH_S."""
        by_intent = {s.intent: s.score for s in classification.intents}
        self._pending[conversation_id] = ([by_intent.get(i, 0.0) for i in SCORED_INTENTS], time.time())
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_later(self.FLUSH_S, self.flush)

    def flush(self) -> None:
        """On the event loop: write the pending batch (one batch in flight at a time)."""
        self._flush_handle = None
        if not self._pending:
            return
        if self._flushing:  # the last batch is still being written: this one goes next tick
            self._flush_handle = asyncio.get_running_loop().call_later(self.FLUSH_S, self.flush)
            return
        batch, self._pending = self._pending, {}
        if self._inline:
            try:
                self._write_sqlite(self._rows(batch))
            except Exception:
                self._lost_sqlite()
            return
        self._flushing = batch
        self._flush_task = asyncio.get_running_loop().create_task(self._write_postgres(self._rows(batch)))

    async def close(self) -> None:
        """Write what is pending, then close the connections."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._flush_task is not None:
            await self._flush_task
        if self._pending:
            self.flush()
            if self._flush_task is not None:
                await self._flush_task
        for connection in self._connections.values():
            result = connection.close()
            if asyncio.iscoroutine(result):
                await result
        self._connections.clear()

    def forget_expired(self) -> int:
        with self._database.begin() as connection:
            return store.forget_conversations(connection, before=time.time() - self._ttl)

    @staticmethod
    def _rows(batch: dict[str, tuple[list[float], float]]) -> list[tuple[str, str, float]]:
        # In id order: two workers' batches lock shared rows in the same order.
        return [(cid, orjson.dumps(scores).decode(), when) for cid, (scores, when) in sorted(batch.items())]

    def _write_sqlite(self, rows: list[tuple[str, str, float]]) -> None:
        connection = self._sqlite()
        connection.execute("BEGIN")
        try:
            connection.executemany(self._upsert, rows)
        except Exception:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    async def _write_postgres(self, rows: list[tuple[str, str, float]]) -> None:
        try:
            connection = await self._postgres("write")
            async with connection.transaction(), connection.cursor() as cursor:
                await cursor.executemany(self._upsert, rows)
        except Exception:
            await self._lost("write")
        finally:
            self._flushing = {}

    def _sqlite(self) -> Any:
        """The kept sqlite3 connection, in autocommit mode (each statement its own transaction)."""
        connection = self._connections.get("sqlite")
        if connection is None:
            connection = self._connections["sqlite"] = self._database.raw_connection()
            connection.driver_connection.isolation_level = None
            # This connection writes on the event loop: leave checkpoints (fsync) to the sync thread.
            connection.driver_connection.execute("PRAGMA wal_autocheckpoint=0")
        return connection.driver_connection

    async def _postgres(self, role: str) -> Any:
        """The kept asyncio psycopg connection for ``role`` (reads or writes), in autocommit mode."""
        connection = self._connections.get(role)
        if connection is None:
            async with self._connecting[role]:
                connection = self._connections.get(role)
                if connection is None:
                    import psycopg  # only PostgreSQL deployments pay for importing it

                    url = self._database.url.set(drivername="postgresql")
                    connection = await psycopg.AsyncConnection.connect(
                        url.render_as_string(hide_password=False), autocommit=True
                    )
                    self._connections[role] = connection
        return connection

    async def _lost(self, role: str) -> None:
        if self._inline:
            self._lost_sqlite()
            return
        log.exception("conversation context unavailable; answering without it")
        connection = self._connections.pop(role, None)
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()

    def _lost_sqlite(self) -> None:
        log.exception("conversation context unavailable; answering without it")
        connection = self._connections.pop("sqlite", None)
        if connection is not None:
            connection.invalidate()


def feedback_boost(counts: dict[str, int]) -> float:
    """MAX_BOOST × the share of offers agents took (an edit counts half), with a prior."""
    taken = counts.get("used", 0) + 0.5 * counts.get("edited", 0)
    offered = max(
        counts.get("shown", 0), counts.get("used", 0) + counts.get("edited", 0) + counts.get("dismissed", 0)
    )
    return MAX_BOOST * taken / (offered + BOOST_PRIOR)


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


class Assistant:
    def __init__(
        self, engine: Engine, corpus_version: int, database: DatabaseEngine, settings: Settings
    ) -> None:
        self.engine = engine
        self.corpus_version = corpus_version
        self.corpus_loaded_at = time.time()
        self.database = database
        self.settings = settings
        self.context = ConversationContext(database, settings.context_ttl_s)
        self.feedback_boosts = FeedbackBoosts()
        with Session(database) as session:
            self.feedback_boosts.catch_up(session)

    async def close(self) -> None:
        await self.context.close()

    def replace_engine(self, engine: Engine, corpus_version: int) -> None:
        """Swap in an engine built for a changed corpus; in-flight messages finish on the old one."""
        self.engine, self.corpus_version, self.corpus_loaded_at = engine, corpus_version, time.time()

    def check_length(self, text: str) -> None:
        if len(text) > self.settings.max_text_chars:
            raise ApiError(
                413,
                "text_too_long",
                f"text has {len(text)} characters; the limit is {self.settings.max_text_chars}",
            )
        if not text.strip():
            raise ApiError(422, "empty_text", "text is empty")

    def analyze(self, text: str) -> Analysis:
        """The message's analysis, made once; refuses text too long or without content."""
        self.check_length(text)
        analysis = self.engine.analyze(text)
        if not analysis.content:
            raise ApiError(422, "empty_text", "text is empty once emoji, punctuation and spaces are removed")
        return analysis

    async def _classify(
        self, engine: Engine, analysis: Analysis, conversation_id: str | None
    ) -> Classification:
        scores = engine.intent_scores(analysis)
        previous = None
        # Only an unclear follow-up reads the conversation's context: most messages never
        # touch the database.
        if conversation_id and engine.needs_context(analysis, scores):
            previous = await self.context.previous(conversation_id)
        return engine.decide(analysis, scores, previous)

    async def classify(self, text: str, conversation_id: str | None = None) -> Classification:
        engine = self.engine
        return await self._classify(engine, self.analyze(text), conversation_id)

    async def suggest(
        self,
        text: str,
        *,
        conversation_id: str | None = None,
        context: dict[str, str] | None = None,
        shop_id: str | None = None,
        k: int = 3,
    ) -> tuple[Classification, list[Suggestion]]:
        engine = self.engine  # one engine for the whole message, even if a rebuild lands meanwhile
        analysis = self.analyze(text)
        classification = await self._classify(engine, analysis, conversation_id)
        suggestions = engine.rank(
            classification,
            analysis,
            k=min(k, self.settings.max_suggestions),
            context=context,
            shop_id=shop_id,
            boosts=self.feedback_boosts.boosts,
        )
        if conversation_id:
            self.context.remember(conversation_id, classification)
        child(SUGGESTIONS, str(classification.intent)).inc(len(suggestions))
        return classification, suggestions

    def lint(self, text: str) -> LintResult:
        # An emoji-only draft is a real draft: the linter flags it as curt.
        self.check_length(text)
        return self.engine.lint(text)

    def feedback(self, event: FeedbackRequest, *, key_id: int | None) -> None:
        """Store a feedback event and catch the boosts up. Blocking: call off the event loop."""
        reply_id, intent = event.reply_id, event.intent
        with Session(self.database) as session:
            intents = store.reply_intents(session, reply_id=reply_id)
            if intents is None:
                raise ApiError(404, "unknown_reply", f"no reply with id {reply_id!r}")
            store.add_feedback(
                session,
                reply_id=reply_id,
                intent=intent or intents[0],
                action=event.action,
                conversation_id=event.conversation_id,
                final_text=event.final_text,
                key_id=key_id,
            )
            self.feedback_boosts.catch_up(session)


def classification_body(classification: Classification) -> dict:
    return {
        "intent": classification.intent,
        "confidence": classification.confidence,
        "intents": [{"intent": s.intent, "score": s.score} for s in classification.intents],
        "tokens": classification.tokens,
    }


# Built field by field: dataclasses.asdict deep-copies, which cost more than ranking did.
def suggestions_body(suggestions: list[Suggestion]) -> list[dict]:
    return [
        {
            "reply_id": s.reply_id,
            "text": s.text,
            "intent": s.intent,
            "score": s.score,
            "missing_slots": s.missing_slots,
        }
        for s in suggestions
    ]


def lint_body(result: LintResult) -> dict:
    flags = [
        {
            "rule_id": f.rule_id,
            "category": f.category,
            "severity": f.severity,
            "start": f.start,
            "end": f.end,
            "match": f.match,
            "suggestion": f.suggestion,
        }
        for f in result.flags
    ]
    return {"ok": result.ok, "flags": flags}

"""Each conversation's remembered intent scores, shared by every worker through the database."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy.engine import Engine as DatabaseEngine

from app import store
from app.errors import OUTAGE, database_down
from classifiers.types import SCORED_INTENTS

log = logging.getLogger("huashu")


class ConversationContext:
    """Each conversation's remembered intent scores (what the intent model's context rule
    keeps: the last buyer message's, or the last confident one's, see
    ``IntentModel.remembered``), in the database, so that the conversation's next message
    may land on any worker. One row of four scores per conversation, read by id: the
    session memory costs what the last message's scores cost.

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

    def remember(self, conversation_id: str, scores: Sequence[float]) -> None:
        """Called on the event loop with the scores to remember (``SCORED_INTENTS`` order);
        the write reaches the database within about FLUSH_S."""
        if len(scores) != len(SCORED_INTENTS):
            raise ValueError(f"{len(scores)} scores; a conversation remembers {len(SCORED_INTENTS)}")
        self._pending[conversation_id] = (list(scores), time.time())
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
        except Exception as exc:
            connection.execute("ROLLBACK")
            if database_down(exc):
                raise
            # One row the database refuses must not cost the others their context: row by row.
            refused = 0
            for row in rows:
                try:
                    connection.execute(self._upsert, row)
                except Exception as row_error:
                    if database_down(row_error):
                        raise
                    refused += 1
            _refused(refused, len(rows))
            return
        connection.execute("COMMIT")

    async def _write_postgres(self, rows: list[tuple[str, str, float]]) -> None:
        try:
            connection = await self._postgres("write")
            try:
                async with connection.transaction(), connection.cursor() as cursor:
                    await cursor.executemany(self._upsert, rows)
            except Exception as exc:
                if database_down(exc):
                    raise
                # One row the database refuses must not cost the others their context: row by
                # row, each its own transaction (the connection is in autocommit mode).
                refused = 0
                for row in rows:
                    try:
                        await connection.execute(self._upsert, row)
                    except Exception as row_error:
                        if database_down(row_error):
                            raise
                        refused += 1
                _refused(refused, len(rows))
        except Exception:
            await self._lost("write")
        finally:
            self._flushing = {}

    def _sqlite(self) -> Any:
        """The kept sqlite3 connection, in autocommit mode (each statement its own transaction)."""
        connection = self._connections.get("sqlite")
        if connection is None:
            connection = self._connections["sqlite"] = self._database.raw_connection()
            sqlite: Any = connection.driver_connection
            sqlite.isolation_level = None
            # This connection writes on the event loop: leave checkpoints (fsync) to the sync thread.
            sqlite.execute("PRAGMA wal_autocheckpoint=0")
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
        _log_lost()
        connection = self._connections.pop(role, None)
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()

    def _lost_sqlite(self) -> None:
        _log_lost()
        connection = self._connections.pop("sqlite", None)
        if connection is not None:
            connection.invalidate()


def _log_lost() -> None:
    """In an ``except`` block: a database outage is said once (``OUTAGE``), anything else
    with its traceback."""
    exc = sys.exc_info()[1]
    if exc is not None and database_down(exc):
        OUTAGE.failed(exc, "conversation context")
    else:
        log.exception("conversation context unavailable; answering without it")


def _refused(refused: int, rows: int) -> None:
    if refused:
        # Never the rows themselves: conversation ids are the caller's text.
        log.warning(
            "conversation context: the database refused %d of %d rows; the others are written", refused, rows
        )

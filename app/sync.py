"""Keep every worker's engine and feedback boosts in step with the database.

Editors change the corpus through any worker; each change bumps ``corpus_state.version``
in the same transaction. Every worker polls that one-row table (a primary-key read) every
``sync_interval_s``. When the version moved it reads only what changed: the replies
stamped with a later replies version are patched into its index (milliseconds, whatever
the corpus size) and the lint rules are read again. So a change reaches all workers within
about that interval. A patched index drifts a little from an exact build (see
``ReplyIndex.patched``); once the corpus has been quiet for ``exact_rebuild_after_s``,
each worker rebuilds it exactly in the background. Polling works the same on SQLite and
PostgreSQL and needs no extra connection per worker.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from sqlmodel import Session

from app import store
from app.assistant import Assistant
from app.errors import OUTAGE, database_down
from app.index_cache import (
    BuildStopped,
    Built,
    build_engine,
    build_in_child,
    load_saved,
    release_memory,
    stop_children,
)
from classifiers.engine import analyzer_version

log = logging.getLogger("huashu.sync")

# Expired conversations are deleted this often.
FORGET_EVERY_S = 60.0
# More changed replies than this at once (an import) are loaded by a full rebuild instead.
PATCH_LIMIT = 1000


class CorpusSync:
    def __init__(self, assistant: Assistant, built: Built) -> None:
        self.assistant = assistant
        self.interval = assistant.settings.sync_interval_s
        self.exact_after = assistant.settings.exact_rebuild_after_s
        self.replies_version = built.replies_version  # what the serving index holds
        self.patched_at: float | None = None  # when the index was last patched; None: exact
        self._lock = threading.Lock()  # one change of the engine at a time per worker
        self._rebuilding: asyncio.Task | None = None
        self._polling: asyncio.Task | None = None
        self._closing = False
        self._forgotten_at = time.monotonic()

    async def run(self) -> None:
        """Poll until cancelled; a failed poll is logged and retried at the next tick.

        An exact rebuild runs beside the polls, so changes keep arriving while it works.
        """
        while True:
            await asyncio.sleep(self.interval)
            # Shielded: cancelling this loop at shutdown leaves a poll in flight to ``close``,
            # which stops the child building an import instead of waiting for it.
            self._polling = asyncio.create_task(asyncio.to_thread(self.poll))
            try:
                await asyncio.shield(self._polling)
            except Exception as exc:  # a database hiccup must not stop syncing for good
                if database_down(exc):
                    OUTAGE.failed(exc)  # one line per outage, not a traceback per poll
                else:
                    log.exception("sync poll failed")
            else:
                OUTAGE.recovered()
            if self._rebuild_due():
                self._rebuilding = asyncio.create_task(asyncio.to_thread(self.rebuild))

    async def close(self) -> None:
        """Stop a poll's import build or an exact rebuild in flight: the child building it is
        terminated, not waited for."""
        self._closing = True
        in_flight = [task for task in (self._polling, self._rebuilding) if task and not task.done()]
        while not all(task.done() for task in in_flight):
            stop_children()  # again until they end: a child may start only now
            await asyncio.wait(in_flight, timeout=0.05)
        if self._polling in in_flight and not self._polling.cancelled():
            error = self._polling.exception()  # nobody else awaits it now
            if error is not None and not isinstance(error, BuildStopped):
                log.error("sync poll failed", exc_info=error)

    async def refresh_now(self) -> None:
        """After a change made on this worker: apply it before answering the editor."""
        await asyncio.to_thread(self.poll)

    def poll(self) -> None:
        assistant = self.assistant
        with Session(assistant.database) as session:
            version = store.corpus_version(session)
            assistant.feedback_boosts.catch_up(session)
        store.checkpoint(assistant.database)
        if version != assistant.corpus_version:
            with self._lock:
                if version != assistant.corpus_version:
                    self._apply_changes()
        if time.monotonic() - self._forgotten_at > FORGET_EVERY_S:
            self._forgotten_at = time.monotonic()
            assistant.context.forget_expired()

    def _apply_changes(self) -> None:
        """Bring the engine up to the database: changed replies patched into the index and
        the lint rules read again; a full rebuild when too much changed to patch."""
        assistant, started = self.assistant, time.perf_counter()
        with Session(assistant.database) as session:
            version = store.corpus_version(session)  # read first: what follows is as new or newer
            changes = store.reply_changes(
                session, after=self.replies_version, analyzer=analyzer_version(), limit=PATCH_LIMIT
            )
            rules = store.enabled_lint_rules(session)
        if changes is None:
            settings = assistant.settings
            self._install(
                build_engine(
                    assistant.database,
                    assistant.engine,
                    settings.cache_dir,
                    in_child_from=settings.build_in_child_from,
                )
            )
            log.info("corpus version %d: rebuilt in %.2f s", version, time.perf_counter() - started)
            return
        engine = assistant.engine
        index = engine.index
        if changes.changed:
            patch = {}
            for reply_id, change in changes.changed.items():
                if change is not None:  # analysed now if its stored analysis is stale
                    change = (change[0], change[1] or engine.analyze_reply(change[0]))
                patch[reply_id] = change
            index = index.patched(patch)
            self.patched_at = time.monotonic()
        assistant.replace_engine(engine.with_corpus(replies=(), rules=rules, index=index), version)
        self.replies_version = changes.replies_version
        log.info(
            "corpus version %d: %d replies changed, %d lint rules, applied in %.3f s",
            version,
            len(changes.changed),
            len(rules),
            time.perf_counter() - started,
        )

    def _rebuild_due(self) -> bool:
        return (
            self.patched_at is not None
            and time.monotonic() - self.patched_at >= self.exact_after
            and (self._rebuilding is None or self._rebuilding.done())
        )

    def rebuild(self) -> None:
        """Replace a patched index with an exact build, off the lock: polls go on meanwhile.

        The build runs in a child process, whatever the corpus size (see ``build_in_child``).
        Changes that arrived during the build are patched onto it before it serves.
        """
        assistant, settings, started = self.assistant, self.assistant.settings, time.perf_counter()
        try:
            build_in_child(settings.database_url, settings.cache_dir)
            built = load_saved(assistant.database, assistant.engine, settings.cache_dir)
            if built is None:  # the corpus changed during the build: wait for the next quiet spell
                self.patched_at = time.monotonic()
                return
            with self._lock:
                serving = assistant.corpus_version
                self._install(built)
                if built.version != serving:  # never serve an older corpus, even briefly
                    self._apply_changes()
        except Exception:  # tried again after the next quiet spell
            if self._closing:
                return
            log.exception("exact rebuild failed")
            self.patched_at = time.monotonic()
            return
        elapsed = time.perf_counter() - started
        log.info("exact rebuild of %d replies in %.2f s", built.engine.index.size, elapsed)

    def _install(self, built: Built) -> None:
        self.assistant.replace_engine(built.engine, built.version)
        self.replies_version, self.patched_at = built.replies_version, None
        release_memory()  # the engine just replaced was the last user of much of the heap

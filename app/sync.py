"""Keep every worker's engine and feedback boosts in step with the database.

Editors change the corpus through any worker; each change bumps ``corpus_state.version``
in the same transaction. Every worker polls that one-row table (a primary-key read) every
``sync_interval_s`` and rebuilds its engine when the version moved, so a change reaches
all workers within about that interval plus the rebuild. Polling works the same on SQLite
and PostgreSQL and needs no extra connection per worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import hashlib
import logging
import threading
import time
from pathlib import Path

from sqlalchemy.engine import Engine as DatabaseEngine
from sqlmodel import Session

from app import store
from app.assistant import Assistant
from classifiers import Engine
from classifiers.engine import analyzer_version
from classifiers.rank import INDEX_FORMAT, ReplyIndex

log = logging.getLogger("huashu.sync")

# Expired conversations are deleted this often.
FORGET_EVERY_S = 60.0


def build_engine(database: DatabaseEngine, base: Engine, cache_dir: Path) -> tuple[Engine, int]:
    """An engine for the database's current corpus, sharing ``base``'s tokenizer and model.

    The built index is saved in ``cache_dir`` under a key naming the corpus content, the
    analyzer and the index format; a worker starting on an unchanged corpus loads it
    instead of reading every reply. Otherwise replies are read with their stored
    analyses; those missing or stale are analysed now and written back, so only the first
    start after a dictionary change pays for them.
    """
    analyzer = analyzer_version()
    with Session(database) as session:
        current_version, replies = store.corpus_fingerprint(session)
        rules = store.enabled_lint_rules(session)
    # One file per database (hashed address), named by what the index was built from: a
    # lint-rule change finds the file it left, and rebuilds only the (small) linter.
    prefix = "index-" + _digest(database.url.render_as_string(hide_password=True))
    path = cache_dir / f"{prefix}-{_digest((replies, analyzer, INDEX_FORMAT))}.pickle"
    index = ReplyIndex.load(path)
    if index is not None:
        return base.with_corpus(replies=(), rules=rules, index=index), current_version
    with Session(database) as session:
        corpus = store.load_corpus(session, analyzer=analyzer)
    missing = {r.id: base.analyze_reply(r) for r in corpus.replies if r.id not in corpus.analyses}
    engine = base.with_corpus(
        replies=corpus.replies, rules=corpus.rules, analyses={**corpus.analyses, **missing}
    )
    if missing:
        log.info("storing the analysis of %d replies", len(missing))
        with Session(database) as session:
            store.save_analyses(session, missing, analyzer=analyzer)
    version = corpus.version
    del corpus, missing
    if version == current_version:  # else it changed in between: the name would lie
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            for older in cache_dir.glob(f"{prefix}-*.pickle"):
                older.unlink(missing_ok=True)
            engine.index.save(path)
        except OSError:  # the saved index only speeds up the next start; serve without it
            log.exception("could not save the reply index to %s", path)
        # Read back, the index is a few fresh allocations; the one built here is scattered
        # among the freed rows and analyses and would keep their memory from being returned.
        engine = base.with_corpus(replies=(), rules=engine.rules, index=ReplyIndex.load(path) or engine.index)
    release_memory()
    return engine, version


def _digest(value: object) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()[:16]


def release_memory() -> None:
    """Loading a corpus leaves many freed rows and analyses behind; hand those pages back
    to the system so a worker's resident memory is what its index needs (glibc only)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: reused, just not returned
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class CorpusSync:
    def __init__(self, assistant: Assistant, interval: float) -> None:
        self.assistant = assistant
        self.interval = interval
        self._lock = threading.Lock()  # one rebuild at a time per worker
        self._forgotten_at = time.monotonic()

    async def run(self) -> None:
        """Poll until cancelled; a failed poll is logged and retried at the next tick."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await asyncio.to_thread(self.poll)
            except Exception:  # a database hiccup must not stop syncing for good
                log.exception("sync poll failed")

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
                    started = time.perf_counter()
                    engine, loaded = build_engine(
                        assistant.database, assistant.engine, assistant.settings.cache_dir
                    )
                    assistant.replace_engine(engine, loaded)
                    log.info(
                        "corpus version %d: %d replies, rebuilt in %.2f s",
                        loaded,
                        engine.index.size,
                        time.perf_counter() - started,
                    )
        if time.monotonic() - self._forgotten_at > FORGET_EVERY_S:
            self._forgotten_at = time.monotonic()
            assistant.context.forget_expired()

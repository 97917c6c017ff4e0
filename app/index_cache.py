"""The reply index a worker serves: loaded from the cache folder, or built (here or in a
child process) from the database and saved there for the next start."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import hashlib
import logging
import multiprocessing
from pathlib import Path
from typing import NamedTuple

from sqlalchemy.engine import Engine as DatabaseEngine
from sqlmodel import Session

from app import store
from classifiers import Engine, LintRule
from classifiers.engine import analyzer_version
from classifiers.index import INDEX_FORMAT, ReplyIndex

log = logging.getLogger("huashu.sync")


class Built(NamedTuple):
    engine: Engine
    version: int  # the corpus version it was built from
    replies_version: int  # the replies' version its index holds (or holds more than)


def load_saved(database: DatabaseEngine, base: Engine, cache_dir: Path) -> Built | None:
    """An engine for the database's current corpus from the index saved for it in
    ``cache_dir``, or None when no saved index matches (nothing is read row by row)."""
    corpus = _saved_corpus(database, cache_dir)
    index = ReplyIndex.load(corpus.path)
    if index is None:
        return None
    engine = base.with_corpus(replies=(), rules=corpus.rules, index=index)
    return Built(engine, corpus.version, corpus.fingerprint.replies_version)


def build_engine(
    database: DatabaseEngine, base: Engine, cache_dir: Path, *, in_child_from: int | None = None
) -> Built:
    """An engine for the database's current corpus, sharing ``base``'s tokenizer and model.

    The built index is saved in ``cache_dir`` under a name for the corpus content, the
    analyzer and the index format, and a worker starting on an unchanged corpus loads it
    (``load_saved``) instead of reading every reply. A corpus of ``in_child_from`` replies
    or more is built by a child process (``build_in_child``) and then loaded; otherwise,
    or if that fails, it is built here (``build_here``).
    """
    saved = load_saved(database, base, cache_dir)
    if saved is not None:
        return saved
    if in_child_from is not None and _saved_corpus(database, cache_dir).fingerprint.approved >= in_child_from:
        try:
            build_in_child(database.url.render_as_string(hide_password=False), cache_dir)
        except BuildStopped:
            raise  # the worker is shutting down: building here instead would only hold it up
        except Exception:
            log.exception("building the index in a child process failed; building it here")
        else:  # None if the corpus changed meanwhile or the cache cannot be written
            saved = load_saved(database, base, cache_dir)
            if saved is not None:
                return saved
    return build_here(database, base, cache_dir)


def build_here(database: DatabaseEngine, base: Engine, cache_dir: Path) -> Built:
    """Read every approved reply with its stored analysis and build the index in this process.

    Analyses missing or stale are made now and written back, so only the first start after
    a dictionary change pays for them; the index is saved for ``load_saved``.
    """
    analyzer = analyzer_version()
    before = _saved_corpus(database, cache_dir)
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
    if version == before.version:  # else it changed in between: the name would lie
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            for older in cache_dir.glob(f"{before.path.name.rsplit('-', 1)[0]}-*.pickle"):
                older.unlink(missing_ok=True)
            engine.index.save(before.path)
        except OSError:  # the saved index only speeds up the next start; serve without it
            log.exception("could not save the reply index to %s", before.path)
        # Read back, the index is a few fresh allocations; the one built here is scattered
        # among the freed rows and analyses and would keep their memory from being returned.
        index = ReplyIndex.load(before.path) or engine.index
        engine = base.with_corpus(replies=(), rules=engine.rules, index=index)
    release_memory()
    # The fingerprint was read before the rows: the index holds at least that version.
    return Built(engine, version, before.fingerprint.replies_version)


class _SavedCorpus(NamedTuple):
    version: int
    fingerprint: store.RepliesFingerprint
    rules: list[LintRule]
    path: Path  # where the index for this content is saved


def _saved_corpus(database: DatabaseEngine, cache_dir: Path) -> _SavedCorpus:
    with Session(database) as session:
        version, fingerprint = store.corpus_fingerprint(session)
        rules = store.enabled_lint_rules(session)
    # One file per database (hashed address), named by what the index was built from: a
    # lint-rule change finds the file it left, and rebuilds only the (small) linter.
    prefix = "index-" + _digest(database.url.render_as_string(hide_password=True))
    name = f"{prefix}-{_digest((tuple(fingerprint), analyzer_version(), INDEX_FORMAT))}.pickle"
    return _SavedCorpus(version, fingerprint, rules, cache_dir / name)


# Index builds running in child processes, stopped by ``stop_children`` at shutdown.
_children: set[multiprocessing.process.BaseProcess] = set()
_stopped: set[multiprocessing.process.BaseProcess] = set()  # those ``stop_children`` terminated


class BuildStopped(RuntimeError):
    """An index build's child was terminated by ``stop_children``: the worker is shutting down."""


def build_in_child(database_url: str, cache_dir: Path) -> None:
    """Build the database's index and save it in ``cache_dir``, in a child process: reading
    every row takes ~600 MB and ~8 s at 100,000 replies, which would hold the GIL against
    the worker's event loop and leave its heap fragmented; a child gives it all back when
    it exits, and the worker loads the saved file (~0.2 s). Raises if the child failed (it
    prints its own traceback), ``BuildStopped`` if ``stop_children`` stopped it."""
    child = multiprocessing.get_context("spawn").Process(
        target=_save_index, args=(database_url, cache_dir), name="huashu-index-build", daemon=True
    )
    child.start()
    _children.add(child)
    try:
        child.join()
    finally:
        _children.discard(child)
    stopped = child in _stopped
    _stopped.discard(child)
    if child.exitcode != 0:
        failure = BuildStopped if stopped else RuntimeError
        raise failure(f"the index build exited with code {child.exitcode}")


def stop_children() -> None:
    """Terminate index builds in flight: a worker shutting down does not wait for one."""
    for child in list(_children):
        _stopped.add(child)
        child.terminate()


def _save_index(database_url: str, cache_dir: Path) -> None:
    database = store.connect(database_url)
    try:
        build_engine(database, Engine.load(replies=[], rules=[]), cache_dir)
    finally:
        database.dispose()


def _digest(value: object) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()[:16]


def release_memory() -> None:
    """Loading a corpus leaves many freed rows and analyses behind; hand those pages back
    to the system so a worker's resident memory is what its index needs (glibc only)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: reused, just not returned
        ctypes.CDLL("libc.so.6").malloc_trim(0)

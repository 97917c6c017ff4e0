"""A worker starting on an unchanged corpus loads the saved index instead of reading every
reply; any change to the corpus, a damaged file or a foreign one means a rebuild."""

import dataclasses
import pickle
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy
from sqlmodel import Session

from app import editing, index_cache, store, sync
from app.index_cache import build_engine
from classifiers import Engine, Intent, LintRule, Reply
from classifiers.corpus import load_replies
from classifiers.engine import analyzer_version
from classifiers.index import ReplyIndex
from classifiers.types import Severity
from tests.helpers import approve_directly

TEXTS = ("能便宜点吗", "什么时候发货", "我想退货", "再考虑一下", "你好在吗")


@pytest.fixture
def database(tmp_path):
    database = store.connect(f"sqlite:///{tmp_path / 'huashu.db'}")
    store.prepare(database)
    yield database
    database.dispose()


@pytest.fixture
def base(engine) -> Engine:
    return engine.with_corpus(replies=())


def _snapshots(cache):
    return sorted(cache.glob("index-*.pickle"))


def _refuse_rows(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("read the reply rows although a saved index was there")

    monkeypatch.setattr(store, "load_corpus", refuse)


def test_second_start_loads_the_saved_index(database, base, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first, version, _ = build_engine(database, base, cache)
    assert len(_snapshots(cache)) == 1
    _refuse_rows(monkeypatch)
    second, same_version, _ = build_engine(database, base, cache)
    assert same_version == version and second.index.size == first.index.size == len(load_replies())
    for text in TEXTS:
        assert second.suggest(text, k=5) == first.suggest(text, k=5)


def test_a_corpus_change_rebuilds_and_replaces_the_file(database, base, tmp_path):
    cache = tmp_path / "cache"
    build_engine(database, base, cache)
    old = _snapshots(cache)
    original = next(r for r in load_replies() if r.id == "refund-progress")
    changed = dataclasses.replace(original, text="亲，退款进度我帮您查一下哦")
    with Session(database) as session:
        row = store.reply_row(session, reply_id="refund-progress")
    assert editing.write_reply(
        database, base, changed, status="approved", actor="editor", expected_version=row.version
    )
    engine, _, _ = build_engine(database, base, cache)
    assert _snapshots(cache) != old and len(_snapshots(cache)) == 1
    texts = [s.text for s in engine.suggest("退款什么时候到账", k=5)[1]]
    assert "亲，退款进度我帮您查一下哦" in texts


def test_a_lint_rule_change_keeps_the_saved_index(database, base, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    _, version, _ = build_engine(database, base, cache)
    saved = _snapshots(cache)
    rule = LintRule(
        id="test-deflecting", category="deflecting", severity=Severity.BLOCK,
        suggestion="亲，我来帮您跟进处理哦", phrases=("芝麻开门",),
    )  # fmt: skip
    assert editing.write_rule(database, rule, enabled=True, actor="editor")
    _refuse_rows(monkeypatch)
    engine, new_version, _ = build_engine(database, base, cache)
    assert new_version == version + 1 and _snapshots(cache) == saved
    assert [flag.rule_id for flag in engine.lint("这个芝麻开门").flags] == ["test-deflecting"]


class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.parametrize("content", [b"not a pickle", pickle.dumps(_Payload()), pickle.dumps({"a": 1})])
def test_damaged_or_foreign_files_are_not_trusted(database, base, tmp_path, content, capsys):
    cache = tmp_path / "cache"
    build_engine(database, base, cache)
    (path,) = _snapshots(cache)
    path.write_bytes(content)
    assert ReplyIndex.load(path) is None
    engine, _, _ = build_engine(database, base, cache)  # rebuilt from the rows, and saved again
    assert engine.index.size == len(load_replies())
    assert ReplyIndex.load(path) is not None
    assert "this must never run" not in capsys.readouterr().out


def test_a_database_from_before_the_replies_counter_is_upgraded(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    database = store.connect(url)
    store.prepare(database)
    with database.begin() as connection:  # what an older release, before migrations, left behind
        connection.execute(sqlalchemy.text("DROP TABLE alembic_version"))
        for table in ("corpus_history", "suggestion_event"):  # added by later revisions
            connection.execute(sqlalchemy.text(f"DROP TABLE {table}"))
        connection.execute(sqlalchemy.text("ALTER TABLE corpus_state DROP COLUMN replies_version"))
        connection.execute(sqlalchemy.text("ALTER TABLE reply DROP COLUMN analysis"))
        connection.execute(sqlalchemy.text("DROP INDEX ix_reply_changed_in"))
        connection.execute(sqlalchemy.text("ALTER TABLE reply DROP COLUMN changed_in"))
    assert store.prepare(database) is False  # upgraded in place, not seeded again
    assert "ix_reply_changed_in" in {
        index["name"] for index in sqlalchemy.inspect(database).get_indexes("reply")
    }
    with Session(database) as session:
        version, (replies_version, count, _, _) = store.corpus_fingerprint(session)
        assert version == 1 and replies_version == 0 and count == len(load_replies())
        store.bump_corpus_version(session, replies_changed=True)
        session.commit()
        assert store.corpus_fingerprint(session)[1][0] == 1
    database.dispose()


def test_workers_saving_at_once_never_trip_over_each_other(database, base, tmp_path):
    """Two workers in one process (as in the tests, or threads of one server) used to share
    one temporary name: the first rename took the file from under the second."""
    engine, _, _ = build_engine(database, base, tmp_path / "cache")
    path = tmp_path / "shared" / "index.pickle"
    path.parent.mkdir()
    barrier = threading.Barrier(8)

    def save_repeatedly():
        barrier.wait()
        for _ in range(20):
            engine.index.save(path)

    with ThreadPoolExecutor(8) as pool:
        for future in [pool.submit(save_repeatedly) for _ in range(8)]:
            future.result()  # re-raises a failed save
    assert ReplyIndex.load(path).size == engine.index.size
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_an_unwritable_cache_costs_the_next_start_not_this_one(database, base, tmp_path, caplog):
    cache = tmp_path / "cache"
    cache.write_text("a file where the directory should be")
    engine, _, _ = build_engine(database, base, cache)
    assert engine.index.size == len(load_replies())
    assert engine.suggest("能便宜点吗")[1]
    assert "could not save the reply index" in caplog.text


def test_a_large_corpus_is_built_by_a_child_and_never_read_here(database, base, tmp_path, monkeypatch):
    """From ``in_child_from`` replies up, reading every row happens in a spawned child (it
    does not see this monkeypatch); the worker only loads the file it saved."""
    cache = tmp_path / "cache"
    _refuse_rows(monkeypatch)
    engine, version, _ = build_engine(database, base, cache, in_child_from=len(load_replies()))
    assert engine.index.size == len(load_replies()) and len(_snapshots(cache)) == 1
    monkeypatch.undo()
    exact, same_version, _ = build_engine(database, base, tmp_path / "elsewhere")
    assert same_version == version
    for text in TEXTS:
        assert engine.suggest(text, k=5) == exact.suggest(text, k=5)


def test_a_failed_child_build_is_built_here(database, base, tmp_path, monkeypatch, caplog):
    def crash(database_url, cache_dir):
        raise RuntimeError("the child died")

    monkeypatch.setattr(index_cache, "build_in_child", crash)
    engine, _, _ = build_engine(database, base, tmp_path / "cache", in_child_from=1)
    assert engine.index.size == len(load_replies()) and engine.suggest("能便宜点吗")[1]
    assert "building the index in a child process failed" in caplog.text


def test_a_corpus_changed_during_the_child_build_is_built_here(database, base, tmp_path, monkeypatch):
    real_build_in_child = index_cache.build_in_child

    def build_then_change(database_url, cache_dir):
        real_build_in_child(database_url, cache_dir)
        late = Reply(
            id="late-one", intents=(Intent.LOGISTICS,), text="亲，今天就发哦", triggers=("今天发吗",)
        )
        approve_directly(database, base, late)

    monkeypatch.setattr(index_cache, "build_in_child", build_then_change)
    engine, _, _ = build_engine(database, base, tmp_path / "cache", in_child_from=1)
    assert engine.index.size == len(load_replies()) + 1  # the saved file was of the older corpus


def test_a_small_corpus_is_built_in_the_worker(database, base, tmp_path, monkeypatch):
    # Recorded, not raised: build_engine would catch an error and build here all the same.
    children = []
    monkeypatch.setattr(index_cache, "build_in_child", lambda *args: children.append(args))
    engine, _, _ = build_engine(database, base, tmp_path / "cache", in_child_from=len(load_replies()) + 1)
    assert engine.index.size == len(load_replies()) and children == []
    build_engine(database, base, tmp_path / "other-cache", in_child_from=len(load_replies()))
    assert len(children) == 1  # at the threshold, a child is asked for


def _hang(database_url, cache_dir):
    """Stands in for a long index build; runs in the spawned child."""
    time.sleep(120)


def _wait_for_a_child():
    deadline = time.monotonic() + 60
    while not index_cache._children and time.monotonic() < deadline:
        time.sleep(0.01)
    assert index_cache._children, "no child build started"


def test_a_child_build_in_flight_is_stopped_not_waited_for(tmp_path, monkeypatch):
    monkeypatch.setattr(index_cache, "_save_index", _hang)
    failures = []

    def build():
        try:
            index_cache.build_in_child("sqlite://", tmp_path)
        except RuntimeError as exc:
            failures.append(str(exc))

    thread = threading.Thread(target=build)
    thread.start()
    _wait_for_a_child()
    stopped = time.monotonic()
    index_cache.stop_children()
    thread.join(10)
    assert not thread.is_alive() and time.monotonic() - stopped < 5
    assert failures and "exited with code" in failures[0]


def _service(tmp_path, **settings):
    """The app on a fresh SQLite file, polling often, for the shutdown tests."""
    from fastapi.testclient import TestClient

    from app.config import Settings
    from app.main import create_app

    database_url, cache_dir = f"sqlite:///{tmp_path / 'huashu.db'}", tmp_path / "cache"
    return TestClient(
        create_app(Settings(database_url=database_url, cache_dir=cache_dir, sync_interval_s=0.05, **settings))
    )


def test_shutdown_during_an_exact_rebuild_does_not_wait_for_it(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(index_cache, "_save_index", _hang)
    with _service(tmp_path, exact_rebuild_after_s=0) as client:
        client.app.state.sync.patched_at = time.monotonic()  # as after a patch: a rebuild is due
        _wait_for_a_child()
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 5
    assert not index_cache._children and "exact rebuild failed" not in caplog.text


def test_shutdown_during_an_import_does_not_wait_for_its_build(tmp_path, monkeypatch, caplog):
    """More changed replies than a patch takes (an import) make the poll rebuild in a child.
    Shutting down meanwhile stops that child, and does not build the index in the worker instead."""
    with _service(tmp_path, build_in_child_from=1) as client:
        monkeypatch.setattr(sync, "PATCH_LIMIT", 0)  # any change is more than a patch takes
        monkeypatch.setattr(index_cache, "_save_index", _hang)
        assistant = client.app.state.assistant
        imported = Reply(
            id="imported", intents=(Intent.LOGISTICS,), text="亲，今天就发哦", triggers=("今天发吗",)
        )
        approve_directly(assistant.database, assistant.engine, imported)
        _wait_for_a_child()
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 5
    assert not index_cache._children
    assert "building the index in a child process failed" not in caplog.text  # nor built here


def test_reply_changes_are_read_by_version(database, base):
    analyzer = analyzer_version()
    with Session(database) as session:
        start = store.corpus_versions(session)[1]
        new = Reply(id="new-one", intents=(Intent.LOGISTICS,), text="亲，今天就发哦", triggers=("今天发吗",))
        approve_directly(database, base, new)
        row = store.reply_row(session, reply_id="refund-progress")
        old = next(r for r in load_replies() if r.id == "refund-progress")
        with store.corpus_change(session, replies_changed=True) as version:
            assert store.update_reply(
                session,
                reply=old,
                analysis=base.analyze_reply(old),
                analyzer="an older dictionary",
                status="retired",
                expected_version=row.version,
                actor="e",
                changed_in=version,
            )
        changes = store.reply_changes(session, after=start, analyzer=analyzer, limit=10)
        assert changes.replies_version == start + 2
        assert changes.changed == {"new-one": (new, base.analyze_reply(new)), "refund-progress": None}
        # Only what came after the version asked about.
        later = store.reply_changes(session, after=start + 1, analyzer=analyzer, limit=10)
        assert list(later.changed) == ["refund-progress"]
        assert store.reply_changes(session, after=start + 2, analyzer=analyzer, limit=10).changed == {}
        # Too many to patch, or a version from another (or restored) database: rebuild instead.
        assert store.reply_changes(session, after=start, analyzer=analyzer, limit=1) is None
        assert store.reply_changes(session, after=start + 3, analyzer=analyzer, limit=10) is None
        # A lint-rule change moves the corpus version, not the replies'.
        store.bump_corpus_version(session, replies_changed=False)
        session.commit()
        assert store.corpus_versions(session)[1] == start + 2

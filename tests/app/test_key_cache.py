"""The key checker's caches (app/auth.py KeyChecker) on a real database of each back-end,
counting the store's lookups: a refused key costs one lookup per TTL, a flood of distinct
bad keys is bounded and never pushes out a live key's answer, and no key is logged."""

from __future__ import annotations

import logging
import time

import pytest

from app import auth, store

TTL_S = 0.5


@pytest.fixture
def database(database_url):
    engine = store.connect(database_url)
    store.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def lookups(monkeypatch) -> list[str]:
    """The hashes the checker asks the database for, in order."""
    asked: list[str] = []
    find = store.find_api_key

    def counting(session, *, key_hash: str):
        asked.append(key_hash)
        return find(session, key_hash=key_hash)

    monkeypatch.setattr(store, "find_api_key", counting)
    return asked


def test_a_repeated_bad_key_costs_one_lookup_per_ttl(database, lookups):
    checker = auth.KeyChecker(database, TTL_S)
    bad = auth.generate_key()
    assert [checker.check(bad) for _ in range(200)] == [None] * 200
    assert lookups == [auth.hash_key(bad)]  # by its hash, once
    time.sleep(TTL_S + 0.1)
    assert checker.check(bad) is None and len(lookups) == 2  # asked again after the TTL


def test_a_revoked_key_is_refused_from_the_cache_too(database, lookups):
    key, record = auth.create_key(database, name="cache-revoked", role=auth.Role.AGENT)
    assert record.id is not None
    from sqlmodel import Session

    with Session(database) as session:
        store.revoke_api_key(session, key_id=record.id)
    checker = auth.KeyChecker(database, TTL_S)
    assert [checker.check(key) for _ in range(50)] == [None] * 50 and len(lookups) == 1


def test_a_key_stored_after_it_was_refused_works_after_the_ttl(database, lookups):
    """A key refused while it did not exist yet (in this worker; stored by another process, as
    `huashu keys create` does) is refused at most until the TTL ends, then works."""
    from sqlmodel import Session

    checker = auth.KeyChecker(database, TTL_S)
    key = auth.generate_key()
    assert checker.check(key) is None
    with Session(database) as session:
        store.add_api_key(
            session, name="cache-late", role="agent", key_hash=auth.hash_key(key), prefix=key[:8]
        )
    assert checker.check(key) is None and len(lookups) == 1  # still the cached refusal
    time.sleep(TTL_S + 0.1)
    principal = checker.check(key)
    assert principal is not None and principal.name == "cache-late" and len(lookups) == 2
    assert checker.check(key) == principal and len(lookups) == 2  # and now cached as live


def test_a_flood_of_distinct_bad_keys_is_bounded_and_keeps_the_live_keys(database, lookups):
    good, _ = auth.create_key(database, name="cache-good", role=auth.Role.AGENT)
    checker = auth.KeyChecker(database, 60, unknown_limit=8)
    assert checker.check(good) is not None
    flood = [auth.generate_key() for _ in range(100)]
    for bad in flood:
        assert checker.check(bad) is None
    assert len(lookups) == 1 + 100  # a new bad key needs its lookup: nothing can know it is bad
    assert len(checker._refused) == 8  # bounded
    # The live key is still answered from the cache, without a lookup.
    assert checker.check(good) is not None and len(lookups) == 101
    # The newest bad keys are remembered; the oldest were evicted first and cost a lookup again.
    assert checker.check(flood[-1]) is None and len(lookups) == 101
    assert checker.check(flood[0]) is None and len(lookups) == 102


def test_nothing_logs_the_key(database, lookups, caplog):
    caplog.set_level(logging.DEBUG)
    checker = auth.KeyChecker(database, TTL_S)
    good, _ = auth.create_key(database, name="cache-logged", role=auth.Role.AGENT)
    bad = auth.generate_key()
    for key in (good, bad, good, bad):
        checker.check(key)
    checker.live({1, 2, 3})
    logged = caplog.text + "".join(str(record.args) for record in caplog.records)
    for key in (good, bad):
        assert key not in logged and key[len(auth.KEY_PREFIX) :] not in logged
    # Nor does the service's own logger name a key's hash.
    ours = [record.getMessage() for record in caplog.records if record.name.startswith("huashu")]
    assert not any(auth.hash_key(key) in line for key in (good, bad) for line in ours)


def test_a_burst_of_one_bad_key_on_many_threads_asks_once(database, monkeypatch):
    """REST checks keys in worker threads: those holding the same key wait for the first
    one's lookup instead of each asking the database."""
    from concurrent.futures import ThreadPoolExecutor

    asked: list[str] = []
    find = store.find_api_key

    def slow(session, *, key_hash: str):
        asked.append(key_hash)
        time.sleep(0.3)  # a slow database: the others arrive while it is asked
        return find(session, key_hash=key_hash)

    monkeypatch.setattr(store, "find_api_key", slow)
    checker = auth.KeyChecker(database, 5)
    bad, good = auth.generate_key(), auth.create_key(database, name="cache-burst", role=auth.Role.AGENT)[0]
    with ThreadPoolExecutor(max_workers=24) as pool:
        answers = list(pool.map(checker.check, [bad] * 20 + [good] * 20))
    assert answers[:20] == [None] * 20 and all(
        a is not None and a.name == "cache-burst" for a in answers[20:]
    )
    assert sorted(asked) == sorted([auth.hash_key(bad), auth.hash_key(good)])


def test_a_failed_lookup_is_not_cached_and_the_waiters_ask_again(database, monkeypatch):
    from sqlalchemy.exc import OperationalError

    calls: list[int] = []
    find = store.find_api_key

    def failing_once(session, *, key_hash: str):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("SELECT", {}, Exception("the database is down"))
        return find(session, key_hash=key_hash)

    monkeypatch.setattr(store, "find_api_key", failing_once)
    checker = auth.KeyChecker(database, 5)
    bad = auth.generate_key()
    with pytest.raises(OperationalError):
        checker.check(bad)
    assert checker.check(bad) is None and checker.check(bad) is None and len(calls) == 2

"""API keys: generated once, stored as SHA-256 hashes, checked with a short cache."""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.engine import Engine as DatabaseEngine
from sqlmodel import Session

from app import store

KEY_PREFIX = "hs_"
# How many unknown (or revoked) keys each worker remembers, by hash: a flood of made-up keys
# evicts only the oldest of these, never a live key's cached answer.
UNKNOWN_KEYS_REMEMBERED = 4096


class Role(StrEnum):
    AGENT = "agent"
    EDITOR = "editor"
    ADMIN = "admin"


# What each role may do; higher roles include the lower ones.
_RANK = {Role.AGENT: 0, Role.EDITOR: 1, Role.ADMIN: 2}


def allows(role: Role, needed: Role) -> bool:
    return _RANK[role] >= _RANK[needed]


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: int
    name: str
    role: Role


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    # Keys are 256 random bits, so a plain SHA-256 is enough: there is nothing to brute-force.
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(database: DatabaseEngine, *, name: str, role: Role) -> tuple[str, store.ApiKey]:
    """A new key: returns the key itself (shown once) and its stored record."""
    key = generate_key()
    with Session(database) as session:
        record = store.add_api_key(session, name=name, role=str(role), key_hash=hash_key(key), prefix=key[:8])
    return key, record


def list_keys(database: DatabaseEngine) -> list[dict]:
    """Every key's id, name, role, prefix and whether it is revoked (never the key or its hash)."""
    with Session(database) as session:
        return [
            {
                "id": k.id,
                "name": k.name,
                "role": k.role,
                "prefix": k.prefix,
                "revoked": k.revoked_at is not None,
            }
            for k in store.list_api_keys(session)
        ]


class KeyChecker:
    """Resolves a presented key to a principal. Results are cached for ``ttl`` seconds,
    so a revocation reaches every worker within that time without a query per request.

    Live keys and refused ones (unknown or revoked) are cached apart, both by the key's hash:
    refused ones at most ``unknown_limit``, the oldest evicted first, so repeating a bad key
    costs one query per ``ttl`` and a flood of distinct bad keys cannot push out the live keys
    (which are as many as there are issued keys). ``check`` runs in worker threads: one lock,
    and one lookup at a time per hash."""

    def __init__(
        self, database: DatabaseEngine, ttl: float, *, unknown_limit: int = UNKNOWN_KEYS_REMEMBERED
    ) -> None:
        self._database = database
        self._ttl = ttl
        self._unknown_limit = unknown_limit
        self._lock = threading.Lock()
        self._live: dict[str, tuple[float, Principal]] = {}  # hash → (expiry, principal)
        # hash → expiry; every entry lives ``ttl``, so insertion order is expiry order.
        self._refused: OrderedDict[str, float] = OrderedDict()
        self._asking: dict[str, threading.Event] = {}  # hash → set when its lookup ends

    def check(self, key: str | None) -> Principal | None:
        if not key:
            return None
        digest = hash_key(key)
        while True:
            with self._lock:
                now = time.monotonic()
                live = self._live.get(digest)
                if live is not None and live[0] > now:
                    return live[1]
                refused = self._refused.get(digest)
                if refused is not None and refused > now:
                    return None
                # One lookup per key at a time: a burst of one bad key on many threads waits
                # for the first one's answer instead of each asking the database.
                asking = self._asking.get(digest)
                if asking is None:
                    asking = self._asking[digest] = threading.Event()
                    break
            asking.wait()  # then the answer is cached (or the lookup failed: ask again)
        try:
            return self._look_up(digest, now)
        finally:
            with self._lock:
                del self._asking[digest]
            asking.set()

    def _look_up(self, digest: str, now: float) -> Principal | None:
        with Session(self._database) as session:
            record = store.find_api_key(session, key_hash=digest)
        principal = None
        if record is not None and record.revoked_at is None:
            principal = Principal(key_id=record.id or 0, name=record.name, role=Role(record.role))
        with self._lock:
            self._refused.pop(digest, None)
            if principal is None:
                self._live.pop(digest, None)
                self._refused[digest] = now + self._ttl
                while len(self._refused) > self._unknown_limit:
                    self._refused.popitem(last=False)
            else:
                if len(self._live) > 10_000:
                    self._live.clear()
                self._live[digest] = (now + self._ttl, principal)
        return principal

    def live(self, key_ids: set[int]) -> set[int]:
        """Those of ``key_ids`` still live in the database, asked now (not cached); the
        cached answers of the others are dropped, so they are refused from now on too."""
        with Session(self._database) as session:
            live = store.live_api_key_ids(session, key_ids)
        gone = key_ids - live
        if gone:
            with self._lock:
                for digest, (_, principal) in list(self._live.items()):
                    if principal.key_id in gone:
                        del self._live[digest]
        return live


class RateLimiter:
    """A token bucket per key: ``per_minute`` requests, refilled continuously."""

    def __init__(self, per_minute: int) -> None:
        self._rate = per_minute / 60.0
        self._capacity = float(per_minute)
        self._buckets: dict[int, tuple[float, float]] = {}

    def _tokens(self, key_id: int, now: float) -> float:
        tokens, last = self._buckets.get(key_id, (self._capacity, now))
        return min(self._capacity, tokens + (now - last) * self._rate)

    def allow(self, key_id: int) -> bool:
        now = time.monotonic()
        tokens = self._tokens(key_id, now)
        if tokens < 1.0:
            self._buckets[key_id] = (tokens, now)
            return False
        self._buckets[key_id] = (tokens - 1.0, now)
        return True

    def retry_after(self, key_id: int) -> int:
        """Whole seconds until ``key_id`` may send again (for a ``Retry-After`` header)."""
        tokens = self._tokens(key_id, time.monotonic())
        return max(1, math.ceil((1.0 - tokens) / self._rate))

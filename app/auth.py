"""API keys: generated once, stored as SHA-256 hashes, checked with a short cache."""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.engine import Engine as DatabaseEngine
from sqlmodel import Session

from app import store

KEY_PREFIX = "hs_"


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
    so a revocation reaches every worker within that time without a query per request."""

    def __init__(self, database: DatabaseEngine, ttl: float) -> None:
        self._database = database
        self._ttl = ttl
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    def check(self, key: str | None) -> Principal | None:
        if not key:
            return None
        digest = hash_key(key)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        with Session(self._database) as session:
            record = store.find_api_key(session, key_hash=digest)
        principal = None
        if record is not None and record.revoked_at is None:
            principal = Principal(key_id=record.id or 0, name=record.name, role=Role(record.role))
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now + self._ttl, principal)
        return principal

    def live(self, key_ids: set[int]) -> set[int]:
        """Those of ``key_ids`` still live in the database, asked now (not cached); the
        cached answers of the others are dropped, so they are refused from now on too."""
        with Session(self._database) as session:
            live = store.live_api_key_ids(session, key_ids)
        gone = key_ids - live
        if gone:
            for digest, (_, principal) in list(self._cache.items()):
                if principal is not None and principal.key_id in gone:
                    del self._cache[digest]
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

"""Service settings, read once from the environment (or a ``.env`` file)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import make_url

from classifiers.intent import CONTEXT_RULES, DEFAULT_CONTEXT

# The embedded default: a SQLite file in ./data, relative to the folder the command runs in
# (the server's and the CLI's alike: run `huashu keys …` where the server runs, or set DATABASE_URL).
DEFAULT_DATABASE_URL = "sqlite:///data/huashu.db"


def sqlite_path(url: str) -> Path | None:
    """The file a SQLite URL names, made absolute as SQLite will open it; None for another
    database or an in-memory one."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).resolve()


def describe_database(url: str) -> str:
    """The URL with a SQLite file's absolute path and without a password, for messages."""
    path = sqlite_path(url)
    if path is not None:
        return f"sqlite:///{path}"
    return make_url(url).render_as_string(hide_password=True)


# The extension opens one socket per open panel: an agent needs a few, 64 is far above that.
DEFAULT_MAX_SOCKETS_PER_KEY = 64

# The lint profiles a shop may choose (scripts_corpus/lint_rules.yaml; app.schemas.LINT_PROFILES).
SHOP_LINT_PROFILES = ("strict", "taobao", "jd", "pinduoduo")


def parse_shop_profiles(value: str) -> dict[str, str]:
    """``"shopA=jd,shopB=pinduoduo"`` → ``{"shopA": "jd", "shopB": "pinduoduo"}``."""
    profiles: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        shop, sep, profile = (piece.strip() for piece in item.partition("="))
        if not sep or not shop or profile not in SHOP_LINT_PROFILES:
            choices = ", ".join(SHOP_LINT_PROFILES)
            raise ValueError(f"SHOP_PROFILES item {item!r}: write shop=profile, the profile one of {choices}")
        profiles[shop] = profile
    return profiles


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # The embedded default: a SQLite file in ./data. PostgreSQL: postgresql+psycopg://user:pw@host/db
    database_url: str = DEFAULT_DATABASE_URL
    cors_origins: list[str] = []
    # Browser origins allowed on the agent WebSocket (and CORS): the extension's, its id pinned
    # by the "key" in extension/manifest.json. A shop that repacks it under another id adds that.
    extension_origins: list[str] = ["chrome-extension://flapildekbehpedkkhmkhkhjefhhlmlo"]
    # Where each worker saves its built reply index, for the next start on the same corpus.
    cache_dir: Path = Path("data/cache")
    # Limits: characters of one message or draft, bytes of one WebSocket frame or REST body.
    max_text_chars: int = 2000
    max_frame_bytes: int = 64 * 1024
    # The one larger body: a corpus file sent to POST /v1/corpus/import.
    max_import_bytes: int = 20 * 1024 * 1024
    # Requests (REST calls and WebSocket frames) per API key per minute.
    rate_limit_per_minute: int = 6000
    # How long a conversation's last intent is remembered (in the database, for all workers).
    context_ttl_s: float = 30 * 60
    # How a message leans on its conversation: classifiers/intent.py CONTEXT_RULES (issue 16).
    intent_context: str = DEFAULT_CONTEXT
    # How often each worker asks the database whether the corpus or the feedback changed.
    sync_interval_s: float = 0.25
    # A corpus change is patched into each worker's index at once; the exact rebuild (seconds
    # at 100,000 replies) waits until the corpus has been unchanged this long.
    exact_rebuild_after_s: float = 10.0
    # A corpus at least this large is built in a child process, which saves the index for the
    # worker to load: reading every row would leave the worker's heap too big to give back.
    build_in_child_from: int = 5000
    # How long a looked-up API key is trusted before the database is asked again.
    key_cache_ttl_s: float = 5.0
    # The edge (app/guard.py, app/server.py). Host names this service answers to ("*": any;
    # "*.example.com": its subdomains); anything else is a 400 invalid_host, which also keeps
    # a web page on a rebound DNS name away from a service on localhost.
    allowed_hosts: list[str] = ["localhost", "127.0.0.1", "::1"]
    # Headers per request, and bytes of a request's line and headers together (431 beyond).
    max_headers: int = 100
    max_header_bytes: int = 16 * 1024
    # A request's line and headers must arrive within this of the connection or the last
    # request (408 and closed); an open connection that sends nothing is closed after it too.
    header_timeout_s: float = 10.0
    # A body must arrive whole within this (an import: each piece within this of the last).
    body_timeout_s: float = 10.0
    # An idle keep-alive connection is closed after this.
    keep_alive_timeout_s: float = 5.0
    # A WebSocket answer the client does not take in within this closes its connection.
    ws_send_timeout_s: float = 10.0
    # Agent sockets one key may hold open on one worker; one more is refused (close 4429).
    # 0 means the default.
    max_sockets_per_key: int = DEFAULT_MAX_SOCKETS_PER_KEY
    # Each shop's lint profile, "shopA=jd,shopB=pinduoduo": a lint request that names a shop_id
    # and no profile gets its shop's; any other gets strict (what every platform forbids).
    shop_profiles: str = ""

    @field_validator("max_sockets_per_key")
    @classmethod
    def _max_sockets_per_key_default(cls, value: int) -> int:
        if value < 0:
            raise ValueError("MAX_SOCKETS_PER_KEY must be 0 (the default) or more")
        return value or DEFAULT_MAX_SOCKETS_PER_KEY

    @field_validator("shop_profiles")
    @classmethod
    def _shop_profiles_parse(cls, value: str) -> str:
        parse_shop_profiles(value)
        return value

    @field_validator("intent_context")
    @classmethod
    def _intent_context_known(cls, value: str) -> str:
        if value not in CONTEXT_RULES:
            raise ValueError(f"INTENT_CONTEXT {value!r}: one of {', '.join(sorted(CONTEXT_RULES))}")
        return value


@cache
def get_settings() -> Settings:
    return Settings()

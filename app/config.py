"""Service settings, read once from the environment (or a ``.env`` file)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    database_url: str = "sqlite:///data/huashu.db"
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
    # Each shop's lint profile, "shopA=jd,shopB=pinduoduo": a lint request that names a shop_id
    # and no profile gets its shop's; any other gets strict (what every platform forbids).
    shop_profiles: str = ""

    @field_validator("shop_profiles")
    @classmethod
    def _shop_profiles_parse(cls, value: str) -> str:
        parse_shop_profiles(value)
        return value


@cache
def get_settings() -> Settings:
    return Settings()

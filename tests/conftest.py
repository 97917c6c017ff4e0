from __future__ import annotations

import json
from pathlib import Path

import pytest

from classifiers import Engine

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data" / "dev_buyer_messages.jsonl"


@pytest.fixture(scope="session")
def engine(tmp_path_factory) -> Engine:
    return Engine.load(cache_dir=tmp_path_factory.mktemp("jieba"))


def dev_messages() -> dict[str, str]:
    if not SHARED_DATA.exists():
        pytest.skip(f"development data not found at {SHARED_DATA}")
    rows = (json.loads(line) for line in SHARED_DATA.read_text(encoding="utf-8").splitlines() if line.strip())
    return {row["id"]: row["text"] for row in rows}

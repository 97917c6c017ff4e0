"""`huashu eval chat-rank`: ranking on real buyer messages paired, by id, with the approved
replies that mean what the real seller answered (eval/chat_rank_pairs.jsonl)."""

import hashlib
import json
import re
import subprocess
import sys

from classifiers import evaluate
from classifiers.corpus import load_replies
from tests.app.test_cli import _chat_fixture, run
from tests.helpers import ROOT, SHARED

PAIRS = ROOT / "eval" / "chat_rank_pairs.jsonl"


def _pairs() -> list[dict]:
    return [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_pairs_file_keeps_its_rules():
    """At least 150 pairs, each relevant reply in the corpus, and the split of eval/LABELS.md."""
    pairs = _pairs()
    assert len(pairs) >= 150
    assert len({p["id"] for p in pairs}) == len(pairs)
    ids = {reply.id for reply in load_replies()}
    for pair in pairs:
        assert set(pair) == {"id", "relevant", "split"}, pair
        assert pair["relevant"] and set(pair["relevant"]) <= ids, pair
        session = re.match(r"jd-\d+", pair["id"]).group(0)
        held_out = int(hashlib.sha256(session.encode()).hexdigest()[:8], 16) % 10 < 3
        assert pair["split"] == ("heldout" if held_out else "dev"), pair


def test_pairs_are_buyer_messages_of_the_real_chats():
    import pytest

    chats = SHARED / "dev_chats.jsonl"
    if not chats.exists():
        pytest.skip(f"development data not found: put shared/data/ beside the checkout ({chats})")
    roles = {}
    for line in chats.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        roles[row["id"]] = row["role"]
    assert all(roles.get(pair["id"]) == "buyer" for pair in _pairs())


def test_eval_chat_rank_counts_what_the_engine_ranks(engine, tmp_path):
    args, rows = _chat_fixture(tmp_path)
    text = {r["id"]: r["text"] for r in rows}
    first = engine.suggest(text["s-0001-00-0"], k=3)[1]
    follow_up = engine.suggest(text["s-0001-02-0"], k=3, previous=engine.scores(text["s-0001-00-0"]))[1]
    pairs = [
        # hit at 1 by construction, a reply never offered, and the follow-up's second choice
        {"id": "s-0001-00-0", "relevant": [first[0].reply_id], "split": "heldout"},
        {"id": "s-0002-00-0", "relevant": ["no-such-reply"], "split": "dev"},
        {"id": "s-0001-02-0", "relevant": [follow_up[1].reply_id], "split": "dev"},
    ]
    labels = tmp_path / "pairs.jsonl"
    labels.write_text("".join(json.dumps(p) + "\n" for p in pairs), encoding="utf-8")
    report = json.loads(run("eval", "chat-rank", *args[:2], "--rank-labels", str(labels), "--json"))
    assert report["held-out"] == {"cases": 1, "hit_at_1": 1.0, "hit_at_3": 1.0, "mrr": 1.0}
    assert report["dev"] == evaluate.rank_report([["x"], ["a", "y"]], [{"z"}, {"y"}], 3).to_dict()
    assert report["all"]["cases"] == 3 and report["all"]["mrr"] == round((1 + 0.5) / 3, 4)
    assert [m["id"] for m in report["misses"]] == ["s-0002-00-0"]
    printed = run("eval", "chat-rank", *args[:2], "--rank-labels", str(labels))
    assert "held-out" in printed and "hit@3" in printed and "s-0002-00-0 no-such-reply" in printed


def test_eval_chat_rank_without_the_data_says_so(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "app.cli", "eval", "chat-rank", "--data", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert completed.returncode == 2
    assert json.loads(completed.stdout)["error"]["code"] == "eval_data"

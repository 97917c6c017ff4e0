"""Corpus replies are our own writing: none is a near-copy of a real seller line."""

import json

import pytest
from rapidfuzz import fuzz, process

from classifiers.corpus import load_replies
from tests.helpers import SHARED


def _real_seller_lines() -> list[str]:
    chats, answers = SHARED / "dev_chats.jsonl", SHARED / "dev_seller_lines.jsonl"
    if not chats.exists():
        pytest.skip(f"development data not found: put shared/data/ beside the checkout ({chats})")
    lines = [json.loads(line) for line in chats.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = [row["text"] for row in lines if row["role"] == "seller"]
    if answers.exists():
        rows = answers.read_text(encoding="utf-8").splitlines()
        texts += [json.loads(line)["text"] for line in rows if line.strip()]
    return texts


def test_no_reply_is_a_near_copy_of_a_real_seller_line():
    seller = _real_seller_lines()
    for reply in load_replies():
        match = process.extractOne(reply.text, seller, scorer=fuzz.ratio, score_cutoff=90)
        assert match is None, (reply.id, round(match[1]))


def _real_buyer_lines() -> list[str]:
    chats = SHARED / "dev_chats.jsonl"
    if not chats.exists():
        pytest.skip(f"development data not found: put shared/data/ beside the checkout ({chats})")
    rows = [json.loads(line) for line in chats.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [row["text"] for row in rows if row["role"] == "buyer"]


def test_no_trigger_is_a_near_copy_of_a_real_buyer_line():
    """Triggers are our own phrasing too. Set phrases a few characters long (在吗, 有人吗)
    are everyone's words, so the check starts at seven characters (什么时候发货 is one too)."""
    buyer = _real_buyer_lines()
    for reply in load_replies():
        for trigger in reply.triggers:
            if len(trigger) >= 7:
                match = process.extractOne(trigger, buyer, scorer=fuzz.ratio, score_cutoff=90)
                assert match is None, (reply.id, trigger, round(match[1]))

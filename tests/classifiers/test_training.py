"""The training data is our own writing: no line is a near-copy of a real line."""

import json

import pytest
from rapidfuzz import fuzz, process

from classifiers.corpus import TRAINING_DIR, training_examples, training_examples_from
from classifiers.normalize import content_text, normalized_text
from tests.helpers import SHARED

REAL_FILES = ("dev_chats.jsonl", "dev_seller_lines.jsonl", "dev_buyer_messages.jsonl")
# A line this short ("好的", "没了", "催单") is common language, not a copy: every chat has it.
SHORTEST_CHECKED = 5
CANDIDATES_DIR = TRAINING_DIR.parent / "candidates"


def _real_lines() -> list[str]:
    paths = [SHARED / name for name in REAL_FILES]
    if not any(path.exists() for path in paths):
        pytest.skip(f"real chat data not found: put shared/data/ beside the checkout ({SHARED})")
    lines = set()
    for path in paths:
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    lines.add(content_text(normalized_text(json.loads(line)["text"])))
    return sorted(lines)


def test_no_training_line_is_a_near_copy_of_a_real_line():
    real = _real_lines()
    # Candidate lines (scripts_corpus/candidates/, trained only with ``huashu train --also``) too.
    candidates = [e for path in sorted(CANDIDATES_DIR.glob("*.jsonl")) for e in training_examples_from(path)]
    ours = sorted(
        {content_text(normalized_text(text)) for text, _ in training_examples() + candidates} - {""},
    )
    checked = [text for text in ours if len(text) >= SHORTEST_CHECKED]
    assert len(checked) > 1000  # the check covers the bulk of the data
    scores = process.cdist(checked, real, scorer=fuzz.ratio, score_cutoff=90, dtype="uint8", workers=2)
    copies = [(checked[i], real[j]) for i, j in zip(*scores.nonzero())]
    assert not copies, f"{len(copies)} training lines near-copy real ones (ratio >= 90), e.g. {copies[:3]}"


def test_the_near_copy_check_catches_a_copy():
    """The same comparison flags a line that differs from a real one by a particle."""
    real = _real_lines()
    line = next(text for text in real if 10 <= len(text) <= 30)
    assert fuzz.ratio(line + "呢", line) >= 90

"""Score an index's candidate replies for a classified message and pick the top distinct ones.

score = intent score × (0.5 + 0.5 × trigger similarity) + feedback boost, where the
boost (at most ``MAX_FEEDBACK_BOOST``) comes from how often agents used the reply.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from operator import itemgetter

from rapidfuzz import fuzz, process

from classifiers.index import CANDIDATES_PER_INTENT, TRIGGER_SEPARATOR, ReplyIndex
from classifiers.types import Classification, Intent, Suggestion

FIRST_ROUND = 6  # candidates per intent scored first
DUPLICATE_SIMILARITY = 88.0  # replies this similar (0-100) count as one choice
MAX_FEEDBACK_BOOST = 0.1
_SLOT_RE = re.compile(r"\{(\w+)\}")
_SCORE, _INDEX = itemgetter(1), itemgetter(2)  # fields of a rapidfuzz result
_Choice = tuple[float, int, Intent]  # (score, position, the intent it answers)


def rank_replies(
    index: ReplyIndex,
    classification: Classification,
    content: str,
    *,
    k: int = 3,
    context: Mapping[str, str] | None = None,
    shop_id: str | None = None,
    boosts: Mapping[tuple[str, str], float] | None = None,
) -> list[Suggestion]:
    """The top ``k`` distinct replies for the message's intents, best first.

    ``content`` is the message's content-only text (see ``normalize.content_text``).
    """
    context = context or {}
    words = set(classification.tokens)
    targets = [(s.intent, s.score) for s in classification.intents]
    if classification.intent is Intent.OTHER:
        targets = [(Intent.OTHER, classification.confidence)]
    pools = [(intent, score, index.candidates(intent, words, shop_id)) for intent, score in targets]
    # Most messages are settled by each intent's best few candidates; the rest of the pool
    # is scored only when near-duplicates left fewer than k distinct replies.
    chosen: list[_Choice] = []
    start = 0
    for end in (FIRST_ROUND, CANDIDATES_PER_INTENT):
        batch = [(intent, score, position) for intent, score, pool in pools for position in pool[start:end]]
        if not batch:
            break
        _choose(index, _scored(index, batch, content, boosts), chosen, k)
        if len(chosen) == k:
            break
        start = end
    chosen.sort(key=lambda item: -item[0])
    return [_suggestion(index, position, intent, score, context) for score, position, intent in chosen]


def _scored(
    index: ReplyIndex,
    candidates: list[tuple[Intent, float, int]],
    content: str,
    boosts: Mapping[tuple[str, str], float] | None,
) -> list[tuple[float, int, Intent]]:
    """(-score, position, intent) per candidate, best first, ties in corpus order."""
    # Every candidate's triggers scored in one rapidfuzz call (its loop runs in C).
    triggers: list[str] = []
    owners: list[int] = []
    for number, (_, _, position) in enumerate(candidates):
        joined = index.triggers[position]
        if joined:
            own = joined.split(TRIGGER_SEPARATOR)
            triggers += own
            owners += [number] * len(own)
    results = process.extract(content, triggers, scorer=fuzz.ratio, processor=None, limit=None)
    # Results come best first; read in reverse, each owner's best trigger is written last.
    similarity = dict(
        zip(map(owners.__getitem__, map(_INDEX, reversed(results))), map(_SCORE, reversed(results)))
    )
    scored = []
    for number, (intent, intent_score, position) in enumerate(candidates):
        score = intent_score * (0.5 + 0.005 * similarity.get(number, 0.0))
        if boosts:
            score += min(MAX_FEEDBACK_BOOST, boosts.get((index.ids[position], intent), 0.0))
        scored.append((-score, position, intent))
    scored.sort()
    return scored


def _choose(
    index: ReplyIndex,
    scored: list[tuple[float, int, Intent]],
    chosen: list[_Choice],
    k: int,
) -> None:
    """Adds the best of ``scored`` to ``chosen`` until it holds ``k``, skipping a reply
    already chosen and near-duplicates of one (same script, reworded opener or ending)."""
    kept = [index.folded[other] for _, other, _ in chosen]
    for negative_score, position, intent in scored:
        if any(other == position for _, other, _ in chosen):  # the same reply, another intent
            continue
        folded = index.folded[position]
        if any(fuzz.ratio(folded, other, processor=None) >= DUPLICATE_SIMILARITY for other in kept):
            continue
        chosen.append((-negative_score, position, intent))
        kept.append(folded)
        if len(chosen) == k:
            return


def _suggestion(
    index: ReplyIndex, position: int, intent: Intent, score: float, context: Mapping[str, str]
) -> Suggestion:
    slots = index.slots.get(position, {})
    text, missing = fill_slots(index.texts[position], {**slots, **context} if context else slots)
    return Suggestion(
        reply_id=index.ids[position],
        text=text,
        intent=intent,
        score=round(score, 4),
        missing_slots=missing,
    )


def fill_slots(text: str, values: Mapping[str, str | None]) -> tuple[str, list[str]]:
    """Fill ``{slot}`` placeholders; returns the text and the slots left unfilled."""
    missing: list[str] = []
    if "{" not in text:
        return text, missing

    def replace(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        if value is None or value == "":
            missing.append(match.group(1))
            return match.group(0)
        return str(value)

    return _SLOT_RE.sub(replace, text), missing

"""Score an index's candidate replies for a classified message and pick the top distinct ones.

score = intent score × (TRIGGER_FLOOR + (1 − TRIGGER_FLOOR) × match) + feedback boost, where
match blends the best trigger's character similarity to the message (rapidfuzz ratio) with the
cosine of idf-weighted words shared with the reply's triggers and text (see ``ReplyIndex``):
real buyers write long messages in their own words, which a whole-string ratio against a
short trigger misses. The boost (at most ``MAX_FEEDBACK_BOOST``) comes from how often agents
used the reply.

The top ``k`` holds the best reply of each intent the message carries (up to ``k`` intents)
before any second reply of one intent, and never two versions of one sentence: a reply is
skipped when its text is nearly the same as a chosen one's (``DUPLICATE_SIMILARITY``), or when
it answers the same intent with the same slots in mostly the same words in any order
(``SAME_MEANING_OVERLAP``, character pairs: catches reworded, reordered versions).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

from rapidfuzz import fuzz, process

from classifiers.index import CANDIDATES_PER_INTENT, TRIGGER_SEPARATOR, ReplyIndex
from classifiers.types import Classification, Intent, Suggestion

FIRST_ROUND = 6  # candidates per intent scored first
DUPLICATE_SIMILARITY = 88.0  # replies this similar (0-100) count as one choice
SAME_MEANING_OVERLAP = 0.45  # Jaccard of character pairs; the curated corpus's closest pair is 0.31
MAX_FEEDBACK_BOOST = 0.1
TRIGGER_FLOOR = 0.3  # what a reply of the intent keeps when nothing in it matches the message
WORD_SHARE = 0.5  # of the match: the word cosine; the rest is the trigger's character ratio
_OPENERS = ("亲爱的", "亲亲", "亲", "您好", "你好")  # greetings every reply may start with
_SLOT_RE = re.compile(r"\{(\w+)\}")
_RATIO, _best = fuzz.ratio, process.extractOne
_Choice = tuple[float, int, Intent]  # (score, position, the intent it answers)


@lru_cache(maxsize=8192)
def _split_triggers(joined: str) -> tuple[str, ...]:
    """A reply's triggers from the index's joined form."""
    return tuple(joined.split(TRIGGER_SEPARATOR)) if joined else ()


@lru_cache(maxsize=8192)
def _pairs(folded: str) -> frozenset[str]:
    """The character pairs of a reply's content-only text, without its opening greeting."""
    for opener in _OPENERS:
        if folded.startswith(opener):
            folded = folded[len(opener) :]
            break
    return frozenset(folded[i : i + 2] for i in range(len(folded) - 1))


def _same_meaning(index: ReplyIndex, position: int, other: int, intent: Intent, other_intent: Intent) -> bool:
    if intent is not other_intent:
        return False
    return _same_wording(index, position, other, index.folded[position], index.folded[other])


def _same_wording(index: ReplyIndex, position: int, other: int, folded: str, other_folded: str) -> bool:
    """The same slots and mostly the same character pairs (``SAME_MEANING_OVERLAP``)."""
    if index.slots.get(position, {}).keys() != index.slots.get(other, {}).keys():
        return False
    mine, theirs = _pairs(folded), _pairs(other_folded)
    common = len(mine & theirs)
    union = len(mine) + len(theirs) - common
    return bool(union) and common / union >= SAME_MEANING_OVERLAP


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
        # Abstained: general replies first; an intent the model half-saw may still offer one.
        targets = [(Intent.OTHER, classification.confidence), *targets]
    pools = []
    dots: dict[int, float] = {}  # a position's dot product with the message, whichever intent found it
    for intent, score in targets:
        positions, overlap = index.matched(intent, words, shop_id)
        pools.append((intent, score, positions))
        dots.update(overlap)
    if shop_id is not None and index.has_shop_replies:
        pools = _shop_overrides(index, pools, shop_id)
    query_norm = index.query_norm(words)
    # Most messages are settled by each intent's best few candidates; the rest of the pool
    # is scored only when near-duplicates left fewer than k distinct replies.
    chosen: list[_Choice] = []
    start = 0
    for end in (FIRST_ROUND, CANDIDATES_PER_INTENT):
        batch = [(intent, score, position) for intent, score, pool in pools for position in pool[start:end]]
        if not batch:
            break
        _choose(index, _scored(index, batch, content, dots, query_norm, boosts), chosen, k)
        if len(chosen) == k:
            break
        start = end
    chosen.sort(key=lambda item: -item[0])
    suggestions = [_suggestion(index, position, intent, score, context) for score, position, intent in chosen]
    # A reply with a slot neither the caller nor a default filled comes after every complete
    # one (stable: each group stays best first); its missing_slots say what the agent must add.
    suggestions.sort(key=lambda suggestion: bool(suggestion.missing_slots))
    return suggestions


def _shop_overrides(
    index: ReplyIndex, pools: list[tuple[Intent, float, list[int]]], shop_id: str
) -> list[tuple[Intent, float, list[int]]]:
    """The pools without the global replies that one of the shop's own replies overrides:
    same intent, and a trigger in common (they would tie on it). Only run for a request that
    names a shop, and it costs a lookup per candidate unless the shop's replies are there."""
    own: dict[Intent, set[str]] = {}
    for intent, _, pool in pools:
        for position in pool:
            if index.shop_of(position) == shop_id:
                own.setdefault(intent, set()).update(_trigger_set(index, position))
    if not own:
        return pools
    kept = []
    for intent, score, pool in pools:
        mine = own.get(intent)
        if mine:
            pool = [
                position
                for position in pool
                if index.shop_of(position) is not None or mine.isdisjoint(_trigger_set(index, position))
            ]
        kept.append((intent, score, pool))
    return kept


def _trigger_set(index: ReplyIndex, position: int) -> set[str]:
    return {trigger for trigger in index.triggers[position].split(TRIGGER_SEPARATOR) if trigger}


def _scored(
    index: ReplyIndex,
    candidates: list[tuple[Intent, float, int]],
    content: str,
    dots: Mapping[int, float],
    query_norm: float,
    boosts: Mapping[tuple[str, str], float] | None,
) -> list[tuple[float, int, Intent]]:
    """(-score, position, intent) per candidate, best first, ties in corpus order."""
    scored = []
    ratio_share = (1.0 - WORD_SHARE) / 100.0  # rapidfuzz scores 0-100
    word_share = WORD_SHARE / query_norm
    norms = index.norms
    for intent, intent_score, position in candidates:
        # A candidate's best trigger in one rapidfuzz call over its own (cached) triggers: a
        # third cheaper than one call over all candidates' triggers and sorting them back.
        triggers = _split_triggers(index.triggers[position])
        match = ratio_share * _best(content, triggers, scorer=_RATIO, processor=None)[1] if triggers else 0.0
        dot = dots.get(position)
        if dot:
            match += word_share * dot / norms[position]
        score = intent_score * (TRIGGER_FLOOR + (1.0 - TRIGGER_FLOOR) * match)
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
    """Adds the best of ``scored`` to ``chosen`` until it holds ``k``: first the best reply of
    each intent not yet answered, then the rest by score; skipping a reply already chosen and
    versions of one (see the module's docstring)."""
    answered = {intent for _, _, intent in chosen}
    intents = list(dict.fromkeys(intent for _, _, intent in scored))  # best-scored intent first
    wanted = [intent for intent in intents if intent not in answered][: max(0, k - len(answered))]
    if len(wanted) > 1 or answered:  # one pass per intent still unanswered, then by score
        for intent in wanted:
            _add(index, [item for item in scored if item[2] is intent], chosen, k, first=True)
    _add(index, scored, chosen, k, first=False)


def _add(
    index: ReplyIndex, scored: list[tuple[float, int, Intent]], chosen: list[_Choice], k: int, *, first: bool
) -> None:
    """Adds from ``scored`` in order until ``chosen`` holds ``k`` (only one when ``first``)."""
    kept = [index.folded[other] for _, other, _ in chosen]  # aligned with chosen
    for negative_score, position, intent in scored:
        if len(chosen) == k:
            return
        if any(other == position for _, other, _ in chosen):  # the same reply, another intent
            continue
        folded = index.folded[position]
        if any(fuzz.ratio(folded, other, processor=None) >= DUPLICATE_SIMILARITY for other in kept):
            continue
        if any(
            theirs is intent and _same_wording(index, position, other, folded, other_folded)
            for (_, other, theirs), other_folded in zip(chosen, kept)
        ):
            continue
        chosen.append((-negative_score, position, intent))
        kept.append(folded)
        if first:
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

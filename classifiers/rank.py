"""Rank approved replies for a classified message.

The index is built once from the corpus. A message reaches its candidate replies
through an inverted index of trigger words: each (intent, word) keeps a bounded
"champion list" of the replies whose triggers that word matters most to, so the
cost of a lookup does not grow with the corpus. Only those few candidates are
scored with rapidfuzz.
"""

from __future__ import annotations

import heapq
import itertools
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from operator import itemgetter, neg

from rapidfuzz import fuzz, process

from classifiers.types import Classification, Intent, Reply, Suggestion

_SLOT_RE = re.compile(r"\{(\w+)\}")
CHAMPIONS_PER_WORD = 12  # replies kept per (intent, word) posting list
FIRST_ROUND = 6  # candidates per intent scored first
CANDIDATES_PER_INTENT = 16  # at most this many per intent scored with rapidfuzz
DUPLICATE_SIMILARITY = 88.0  # replies this similar (0-100) count as one choice
MAX_FEEDBACK_BOOST = 0.1
_SCORE, _INDEX = itemgetter(1), itemgetter(2)  # fields of a rapidfuzz result


@dataclass(frozen=True, slots=True)
class ReplyAnalysis:
    """What the index needs from one reply, computed once when the reply is written.

    Analysing triggers (normalize + jieba) is the expensive part of building an index,
    so the service stores this with the reply and rebuilds indexes from it.
    """

    triggers: tuple[tuple[tuple[str, ...], str], ...]  # (tokens, content-only text) per trigger
    folded_text: str  # content-only reply text, for near-duplicate checks

    def to_json(self) -> dict:
        return {
            "triggers": [[list(tokens), content] for tokens, content in self.triggers],
            "folded": self.folded_text,
        }

    @classmethod
    def from_json(cls, data: dict) -> ReplyAnalysis:
        return cls(
            triggers=tuple((tuple(tokens), content) for tokens, content in data["triggers"]),
            folded_text=data["folded"],
        )


@dataclass(frozen=True, slots=True)
class _IndexedReply:
    reply: Reply
    triggers: tuple[str, ...]  # content-only trigger texts, for rapidfuzz
    folded_text: str  # content-only reply text, for near-duplicate checks
    position: int


_Choice = tuple[float, _IndexedReply, Intent]  # (score, reply, the intent it answers)


class ReplyIndex:
    """An immutable index over replies; build a new one to change the corpus."""

    def __init__(self, analyzed: Iterable[tuple[Reply, ReplyAnalysis]]) -> None:
        self._replies: list[_IndexedReply] = []
        # (intent, word) → {position: weight}; a word matters more to a short trigger.
        postings: dict[tuple[Intent, str], dict[int, float]] = defaultdict(dict)
        document_frequency: dict[str, int] = defaultdict(int)
        self._by_intent: dict[Intent, list[int]] = defaultdict(list)
        for position, (reply, analysis) in enumerate(analyzed):
            weights: dict[str, float] = {}
            for tokens, _ in analysis.triggers:
                weight = 1.0 / max(1, len(tokens))
                for word in tokens:
                    if weight > weights.get(word, 0.0):
                        weights[word] = weight
            for word in weights:
                document_frequency[word] += 1
            self._replies.append(
                _IndexedReply(
                    reply=reply,
                    triggers=tuple(content for _, content in analysis.triggers),
                    folded_text=analysis.folded_text,
                    position=position,
                )
            )
            for intent in reply.intents:
                self._by_intent[intent].append(position)
                for word, weight in weights.items():
                    postings[intent, word][position] = weight
        total = max(1, len(self._replies))
        self._idf = {word: math.log(1 + total / df) for word, df in document_frequency.items()}
        # (intent, word) → (the word's idf, its champion positions)
        self._champions: dict[tuple[Intent, str], tuple[float, tuple[int, ...]]] = {}
        for key, best in postings.items():
            ordered = heapq.nsmallest(CHAMPIONS_PER_WORD, best.items(), key=lambda item: (-item[1], item[0]))
            self._champions[key] = (self._idf[key[1]], tuple(position for position, _ in ordered))
        self.size = len(self._replies)

    def rank(
        self,
        classification: Classification,
        content: str,
        *,
        k: int = 3,
        context: Mapping[str, str] | None = None,
        shop_id: str | None = None,
        boosts: Mapping[tuple[str, str], float] | None = None,
    ) -> list[Suggestion]:
        """The top ``k`` distinct replies for the message's intents, best first.

        ``content`` is the message's content-only text (see ``normalize.content_only``).


        score = intent score × (0.5 + 0.5 × trigger similarity) + feedback boost,
        where the boost (at most 0.1) comes from how often agents used the reply.
        """
        context = context or {}
        words = set(classification.tokens)
        targets = [(s.intent, s.score) for s in classification.intents]
        if classification.intent is Intent.OTHER:
            targets = [(Intent.OTHER, classification.confidence)]
        pools = [(intent, score, self._candidates(intent, words, shop_id)) for intent, score in targets]
        # Most messages are settled by each intent's best few candidates; the rest of the pool
        # is scored only when near-duplicates left fewer than k distinct replies.
        chosen: list[_Choice] = []
        start = 0
        for end in (FIRST_ROUND, CANDIDATES_PER_INTENT):
            batch = [
                (intent, score, position) for intent, score, pool in pools for position in pool[start:end]
            ]
            if not batch:
                break
            self._choose(self._scored(batch, content, boosts), chosen, k)
            if len(chosen) == k:
                break
            start = end
        chosen.sort(key=lambda item: -item[0])
        return [_suggestion(entry.reply, intent, score, context) for score, entry, intent in chosen]

    def _scored(
        self,
        candidates: list[tuple[Intent, float, int]],
        content: str,
        boosts: Mapping[tuple[str, str], float] | None,
    ) -> list[tuple[float, int, Intent]]:
        """(-score, position, intent) per candidate, best first, ties in corpus order."""
        replies = self._replies
        # Every candidate's triggers scored in one rapidfuzz call (its loop runs in C).
        triggers = [trigger for _, _, position in candidates for trigger in replies[position].triggers]
        owners = [number for number, (_, _, p) in enumerate(candidates) for _ in replies[p].triggers]
        results = process.extract(content, triggers, scorer=fuzz.ratio, processor=None, limit=None)
        # Results come best first; read in reverse, each owner's best trigger is written last.
        similarity = dict(
            zip(map(owners.__getitem__, map(_INDEX, reversed(results))), map(_SCORE, reversed(results)))
        )
        scored = []
        for number, (intent, intent_score, position) in enumerate(candidates):
            score = intent_score * (0.5 + 0.005 * similarity.get(number, 0.0))
            if boosts:
                score += min(MAX_FEEDBACK_BOOST, boosts.get((replies[position].reply.id, intent), 0.0))
            scored.append((-score, position, intent))
        scored.sort()
        return scored

    def _choose(
        self,
        scored: list[tuple[float, int, Intent]],
        chosen: list[tuple[float, _IndexedReply, Intent]],
        k: int,
    ) -> None:
        """Adds the best of ``scored`` to ``chosen`` until it holds ``k``, skipping a reply
        already chosen and near-duplicates of one (same script, reworded opener or ending)."""
        for negative_score, position, intent in scored:
            entry = self._replies[position]
            duplicate = False
            for _, other, _ in chosen:
                if entry.reply.id == other.reply.id or (
                    fuzz.ratio(entry.folded_text, other.folded_text, processor=None) >= DUPLICATE_SIMILARITY
                ):
                    duplicate = True
                    break
            if not duplicate:
                chosen.append((-negative_score, entry, intent))
                if len(chosen) == k:
                    return

    def _candidates(self, intent: Intent, words: set[str], shop_id: str | None) -> list[int]:
        overlap: dict[int, float] = {}
        current = overlap.get
        for word in words:
            champions = self._champions.get((intent, word))
            if champions is not None:
                idf, positions = champions
                for position in positions:
                    overlap[position] = current(position, 0.0) + idf
        # Replies of the intent in corpus order fill up when few words match.
        fallback = self._by_intent.get(intent, [])[: CANDIDATES_PER_INTENT * 2]
        candidates: list[int] = []
        seen: set[int] = set()
        for position in itertools.chain(_best_first(overlap), fallback):
            if position in seen:
                continue
            seen.add(position)
            owner = self._replies[position].reply.shop_id
            if owner is None or owner == shop_id:
                candidates.append(position)
                if len(candidates) == CANDIDATES_PER_INTENT:
                    break
        return candidates


def _best_first(overlap: dict[int, float]) -> list[int]:
    """Positions by overlap, best first, ties in corpus order."""
    # (-overlap, position) pairs built and compared in C: no Python call per position.
    return [position for _, position in sorted(zip(map(neg, overlap.values()), overlap))]


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


def _suggestion(reply: Reply, intent: Intent, score: float, context: Mapping[str, str]) -> Suggestion:
    text, missing = fill_slots(reply.text, {**reply.slots, **context} if context else reply.slots)
    return Suggestion(
        reply_id=reply.id, text=text, intent=intent, score=round(score, 4), missing_slots=missing
    )

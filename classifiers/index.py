"""The reply index: built once from the corpus, patched when replies change, saved and loaded.

A message reaches its candidate replies through an inverted index of the words of their
triggers and texts: each (intent, word) keeps a bounded "champion list" of the replies that
word matters most to, so the cost of a lookup does not grow with the corpus. The lookup also
sums, per candidate, the idf-weighted words it shares with the message (a trigger's word
counts fully, a word only in the reply's text ``TEXT_WEIGHT``), which with each reply's
stored norm gives ``rank`` a cosine match on words. Scoring the few candidates is
``classifiers.rank``'s job.
"""

from __future__ import annotations

import bisect
import heapq
import io
import itertools
import math
import os
import pickle
import tempfile
from array import array
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import neg
from pathlib import Path
from typing import Any

from classifiers.types import Intent, Reply

CHAMPIONS_PER_WORD = 12  # replies kept per (intent, word) posting list
CANDIDATES_PER_INTENT = 16  # at most this many per intent are handed to scoring
# Real buyers name what the reply says (价保, 白条, 安装) as often as what its triggers ask: a
# word of the reply's text matches at half a trigger word's weight (tuned on the dev pairs).
TEXT_WEIGHT = 0.5
# A word in more than a quarter of the replies (亲, 您, 哦, 可以) says nothing about which one
# fits; in a reply's text it only costs lookups, so it gets no posting and no weight there.
# (A corpus of three replies has no such word at all: its texts are then not matched.)
TEXT_MIN_IDF = math.log(1 + 4)
# Names a saved index's layout: bump when ReplyIndex's fields change.
INDEX_FORMAT = f"6-{CHAMPIONS_PER_WORD}-{CANDIDATES_PER_INTENT}-{TEXT_WEIGHT}-{TEXT_MIN_IDF:.3f}"
TRIGGER_SEPARATOR = "\x1f"  # between a reply's triggers; normalization removes control characters


@dataclass(frozen=True, slots=True)
class ReplyAnalysis:
    """What the index needs from one reply, computed once when the reply is written.

    Analysing triggers (normalize + jieba) is the expensive part of building an index,
    so the service stores this with the reply and rebuilds indexes from it.
    """

    triggers: tuple[tuple[tuple[str, ...], str], ...]  # (tokens, content-only text) per trigger
    folded_text: str  # content-only reply text, for near-duplicate checks
    text_tokens: tuple[str, ...] = field(default=())  # the reply text's words, slots left out

    def to_json(self) -> dict:
        return {
            "triggers": [[list(tokens), content] for tokens, content in self.triggers],
            "folded": self.folded_text,
            "text": list(self.text_tokens),
        }

    @classmethod
    def from_json(cls, data: dict) -> ReplyAnalysis:
        return cls(
            triggers=tuple((tuple(tokens), content) for tokens, content in data["triggers"]),
            folded_text=data["folded"],
            text_tokens=tuple(data.get("text", ())),
        )


class _Strings:
    """Many short strings kept as one text plus the offsets where each begins.

    A str object per reply field costs ~50 bytes of header and scatters the heap, which
    then cannot be handed back once the index is built: at 100,000 replies that was most
    of a worker's memory. Reading one back is a slice.
    """

    __slots__ = ("_offsets", "_text")

    def __init__(self, strings: Iterable[str]) -> None:
        parts = list(strings)
        self._text = "".join(parts)
        self._offsets = array("L", itertools.accumulate(map(len, parts), initial=0))

    def __getitem__(self, index: int) -> str:
        return self._text[self._offsets[index] : self._offsets[index + 1]]

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def plus(self, strings: Iterable[str]) -> _Strings:
        """These strings and then ``strings``, sharing this text rather than copying it."""
        return _StringsWithTail(self, tuple(strings))

    def rindex(self, string: str) -> int | None:
        """The index of the last item equal to ``string``, or None."""
        end = len(self._text)
        while string and (start := self._text.rfind(string, 0, end)) >= 0:
            index = bisect.bisect_left(self._offsets, start)  # an item starting right there?
            offsets = self._offsets[index : index + 2]
            if len(offsets) == 2 and offsets[0] == start and offsets[1] == start + len(string):
                return index
            end = start + len(string) - 1
        return None


class _StringsWithTail(_Strings):
    """``_Strings`` with a few strings appended (by ``ReplyIndex.patched``) kept apart."""

    __slots__ = ("_count", "_tail")
    _tail: tuple[str, ...]

    def __init__(self, head: _Strings, tail: tuple[str, ...]) -> None:
        if isinstance(head, _StringsWithTail):
            tail = head._tail + tail
            head = head._head()
        self._text, self._offsets = head._text, head._offsets
        self._count, self._tail = len(self._offsets) - 1, tail

    def _head(self) -> _Strings:
        head = _Strings(())
        head._text, head._offsets = self._text, self._offsets
        return head

    def __getitem__(self, index: int) -> str:
        if index < self._count:
            return self._text[self._offsets[index] : self._offsets[index + 1]]
        return self._tail[index - self._count]

    def __len__(self) -> int:
        return self._count + len(self._tail)

    def rindex(self, string: str) -> int | None:
        for back, item in enumerate(reversed(self._tail)):
            if item == string:
                return len(self) - 1 - back
        return self._head().rindex(string)


# The "shop" of a position whose reply was changed or removed by ``ReplyIndex.patched``: no
# shop id equals it, so the shop check that every candidate passes already skips it, at no
# cost per message.
class _Gone:
    def __reduce__(self) -> str:
        return "_GONE"  # pickled by name: a saved and loaded index keeps the one sentinel


_GONE = _Gone()


def _trigger_weights(analysis: ReplyAnalysis) -> dict[str, float]:
    """Each word's weight for the reply, which orders champion lists: a word matters more to
    a short trigger, and a word only in the reply's text less than any trigger's word."""
    weights: dict[str, float] = {}
    for tokens, _ in analysis.triggers:
        weight = 1.0 / max(1, len(tokens))
        for word in tokens:
            if weight > weights.get(word, 0.0):
                weights[word] = weight
    text_weight = -1.0 / max(1, len(analysis.text_tokens))  # negative: "only in the text"
    for word in analysis.text_tokens:
        weights.setdefault(word, text_weight)
    return weights


_Champions = tuple[float, float, tuple[int, ...], tuple[int, ...]]


def _norm(weights: Mapping[str, float], idf: Mapping[str, float], default: float) -> float:
    """The length of the reply's word vector: idf per trigger word, TEXT_WEIGHT × idf per
    word only in its text."""
    total = 0.0
    for word, weight in weights.items():
        value = idf.get(word, default)
        if weight <= 0:
            value = TEXT_WEIGHT * value if value >= TEXT_MIN_IDF else 0.0
        total += value * value
    return math.sqrt(total) or 1.0


def _champion_entry(idf: float, ordered: Sequence[tuple[int, float]]) -> _Champions:
    """(gain of a trigger word, gain of a text word, trigger positions, text positions): a
    gain is what sharing the word adds to the dot product of message and reply vectors."""
    trigger = tuple(position for position, weight in ordered if weight > 0)
    text = tuple(position for position, weight in ordered if weight <= 0) if idf >= TEXT_MIN_IDF else ()
    return (idf * idf, TEXT_WEIGHT * idf * idf, trigger, text)


class ReplyIndex:
    """An immutable index over replies; build a new one (or a ``patched`` copy) to change
    the corpus.

    It keeps what ranking and answering need, in compact columns by position, and
    not the ``Reply`` objects themselves.
    """

    def __init__(self, analyzed: Iterable[tuple[Reply, ReplyAnalysis]]) -> None:
        ids: list[str] = []
        texts: list[str] = []
        folded: list[str] = []
        triggers: list[str] = []  # each reply's content-only triggers, joined by TRIGGER_SEPARATOR
        self.slots: dict[int, Mapping[str, str | None]] = {}  # only replies that have slots
        self._shops: dict[int, object] = {}  # only shop-specific replies (and _GONE ones)
        # (intent, word) → {position: weight}; a word matters more to a short trigger.
        postings: dict[tuple[Intent, str], dict[int, float]] = defaultdict(dict)
        document_frequency: dict[str, int] = defaultdict(int)
        by_intent: dict[Intent, list[int]] = defaultdict(list)
        all_weights: list[dict[str, float]] = []
        for position, (reply, analysis) in enumerate(analyzed):
            weights = _trigger_weights(analysis)
            all_weights.append(weights)
            for word in weights:
                document_frequency[word] += 1
            ids.append(reply.id)
            texts.append(reply.text)
            folded.append(analysis.folded_text)
            triggers.append(TRIGGER_SEPARATOR.join(content for _, content in analysis.triggers))
            if reply.slots:
                self.slots[position] = reply.slots
            if reply.shop_id is not None:
                self._shops[position] = reply.shop_id
            for intent in reply.intents:
                by_intent[intent].append(position)
                for word, weight in weights.items():
                    postings[intent, word][position] = weight
        self.size = len(ids)
        self.ids, self.texts, self.folded = _Strings(ids), _Strings(texts), _Strings(folded)
        self.triggers = _Strings(triggers)
        # Fallback candidates: only each intent's first replies are ever read.
        self._by_intent = {intent: tuple(positions[: 2 * CANDIDATES_PER_INTENT])
                           for intent, positions in by_intent.items()}  # fmt: skip
        total = max(1, self.size)
        idf = {word: math.log(1 + total / df) for word, df in document_frequency.items()}
        self._idf = idf
        self._norms = array("d", (_norm(weights, idf, 0.0) for weights in all_weights))
        del all_weights
        # (intent, word) → its gains and champion positions (see _champion_entry)
        self._champions: dict[tuple[Intent, str], _Champions] = {}
        for key, best in postings.items():
            ordered = heapq.nsmallest(CHAMPIONS_PER_WORD, best.items(), key=lambda item: (-item[1], item[0]))
            entry = _champion_entry(idf[key[1]], ordered)
            if entry[2] or entry[3]:
                self._champions[key] = entry

    def patched(self, changes: Mapping[str, tuple[Reply, ReplyAnalysis] | None]) -> ReplyIndex:
        """A copy with ``changes`` applied (reply id → its new reply and analysis, or None
        when it left the corpus), in time that grows with the changes, not the corpus.

        A changed reply's old position is marked gone and its new version appended, and
        joins the champion list of each of its words (a list may then hold a few more than
        ``CHAMPIONS_PER_WORD``); idf values are kept as they were (a new word gets the idf of a
        word seen once). Answers are those of an
        exact build up to that drift, which the corpus sync removes with a full rebuild
        once the corpus has been quiet for a while.
        """
        index = object.__new__(ReplyIndex)
        index.__dict__.update(self.__dict__)
        index._shops, index.slots = dict(self._shops), dict(self.slots)
        index._champions, index._by_intent = dict(self._champions), dict(self._by_intent)
        index._norms, index._idf = array("d", self._norms), dict(self._idf)
        added: list[tuple[Reply, ReplyAnalysis]] = []
        for reply_id, new in changes.items():
            old = self.ids.rindex(reply_id)  # the last one: earlier ones were patched away
            if old is not None and self._shops.get(old) is not _GONE:
                index._shops[old] = _GONE
                index.size -= 1
            if new is not None:
                added.append(new)
        index.size += len(added)
        unseen = math.log(1 + max(1, index.size))  # the idf of a word no other reply has
        for position, (reply, analysis) in enumerate(added, start=len(self.ids)):
            if reply.slots:
                index.slots[position] = reply.slots
            if reply.shop_id is not None:
                index._shops[position] = reply.shop_id
            weights = _trigger_weights(analysis)
            index._norms.append(_norm(weights, self._idf, unseen))
            for word in weights:  # a message's length counts the new words too
                index._idf.setdefault(word, unseen)
            for intent in reply.intents:
                fallback = index._by_intent.get(intent, ())
                if len(fallback) < 2 * CANDIDATES_PER_INTENT:
                    index._by_intent[intent] = (*fallback, position)
                for word, weight in weights.items():
                    idf = self._idf.get(word, unseen)
                    if weight <= 0 and idf < TEXT_MIN_IDF:
                        continue
                    entry = index._champions.get((intent, word)) or _champion_entry(idf, ())
                    trigger_gain, text_gain, trigger, text = entry
                    if weight > 0:
                        trigger = (*trigger, position)
                    else:
                        text = (*text, position)
                    index._champions[intent, word] = (trigger_gain, text_gain, trigger, text)
        index.ids = self.ids.plus(reply.id for reply, _ in added)
        index.texts = self.texts.plus(reply.text for reply, _ in added)
        index.folded = self.folded.plus(analysis.folded_text for _, analysis in added)
        index.triggers = self.triggers.plus(
            TRIGGER_SEPARATOR.join(content for _, content in analysis.triggers) for _, analysis in added
        )
        return index

    def save(self, path: Path) -> None:
        """Write the index for ``load``: a worker starting on an unchanged corpus reads this
        (a few big objects, ~0.1 s at 100,000 replies) instead of every reply row.

        Written under a temporary name of its own and renamed, so a worker never reads half
        a file, and workers saving at once (even threads of one process) never share one.
        """
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
        try:
            with os.fdopen(descriptor, "wb") as file:
                pickle.dump(self, file, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> ReplyIndex | None:
        """The index saved at ``path``, or None if there is none or it cannot be read."""
        try:
            index = _IndexUnpickler(io.BytesIO(path.read_bytes())).load()
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError, TypeError):
            return None
        return index if isinstance(index, cls) else None

    def shop_of(self, position: int) -> object:
        """The shop of the reply at ``position``: its id, None for a global reply."""
        return self._shops.get(position)

    @property
    def has_shop_replies(self) -> bool:
        return bool(self._shops)

    def query_norm(self, words: Iterable[str]) -> float:
        """The length of a message's word vector (idf per word the corpus knows)."""
        idf = self._idf
        return math.sqrt(sum(idf[word] ** 2 for word in words if word in idf)) or 1.0

    @property
    def norms(self) -> array:
        """Each position's reply vector length (see ``_norm``)."""
        return self._norms

    def candidates(self, intent: Intent, words: set[str], shop_id: str | None) -> list[int]:
        return self.matched(intent, words, shop_id)[0]

    def matched(
        self, intent: Intent, words: set[str], shop_id: str | None
    ) -> tuple[list[int], dict[int, float]]:
        """The intent's candidates for ``words``, best match first, and each matched one's dot
        product with the message (its shared words' gains; a candidate from the fallback has none)."""
        overlap: dict[int, float] = {}
        current = overlap.get
        for word in words:
            champions = self._champions.get((intent, word))
            if champions is not None:
                trigger_gain, text_gain, trigger, text = champions
                for position in trigger:
                    overlap[position] = current(position, 0.0) + trigger_gain
                for position in text:
                    overlap[position] = current(position, 0.0) + text_gain
        # Replies of the intent in corpus order fill up when few words match.
        fallback = self._by_intent.get(intent, ())
        candidates: list[int] = []
        seen: set[int] = set()
        for position in itertools.chain(_best_first(overlap), fallback):
            if position in seen:
                continue
            seen.add(position)
            owner = self._shops.get(position)
            if owner is None or owner == shop_id:
                candidates.append(position)
                if len(candidates) == CANDIDATES_PER_INTENT:
                    break
        return candidates, overlap


class _IndexUnpickler(pickle.Unpickler):
    """Only the index's own types: a file in the cache folder must not run other code."""

    _ALLOWED = {
        ("classifiers.index", "ReplyIndex"),
        ("classifiers.index", "_Strings"),
        ("classifiers.index", "_StringsWithTail"),
        ("classifiers.index", "_GONE"),
        ("classifiers.types", "Intent"),
        ("array", "array"),
        ("array", "_array_reconstructor"),
        ("copyreg", "_reconstructor"),
        ("builtins", "object"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of an index")
        return super().find_class(module, name)


def _best_first(overlap: dict[int, float]) -> list[int]:
    """Positions by overlap, best first, ties in corpus order."""
    # (-overlap, position) pairs built and compared in C: no Python call per position.
    return [position for _, position in sorted(zip(map(neg, overlap.values()), overlap))]

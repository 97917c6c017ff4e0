"""Intent classification: a linear model over jieba tokens and character n-grams.

Training uses scikit-learn (TF-IDF + one logistic regression per intent, so a message
can carry two intents). The trained weights are exported to a small JSON file and
scored here in pure Python: a message touches a few dozen features, so a dict lookup
per feature beats importing and calling scikit-learn on the hot path.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from operator import add
from pathlib import Path

from classifiers.types import SCORED_INTENTS, Classification, Intent, IntentScore

MODEL_FILE = Path(__file__).with_name("intent_model.json")

# Words that make a short message a follow-up question ("那大概几天能到", "还能再少点吗"),
# which may lean on the previous buyer message's intent.
_FOLLOW_UP_WORDS = frozenset(
    "吗 呢 么 嘛 怎么 怎么办 怎么样 多久 几天 什么 哪 哪里 多少 能不能 可不可以 可以 还能 再 那 那么".split()  # noqa: SIM905
)


@dataclass(frozen=True)
class ContextRule:
    """How a message leans on its conversation (issue 16's session-context candidates).

    ``every_unclear``: every unconfident message leans on the conversation, not only one with a
    follow-up word. ``keep_confident``: the conversation remembers the intents of the last
    message that got one; unclear messages leave it as it is, so a refund stays in memory
    across "好的" and "嗯嗯" (otherwise it remembers the last buyer message's). ``weight``: the
    share of the remembered scores added; None takes the trained model's ``context_weight``.
    """

    every_unclear: bool
    keep_confident: bool
    weight: float | None


# Tuned on the dev split only (BENCHMARKS.md, "Intent: session memory").
CONTEXT_RULES = {
    "follow-up": ContextRule(every_unclear=False, keep_confident=False, weight=None),  # before issue 16
    "unclear": ContextRule(every_unclear=True, keep_confident=False, weight=0.4),
    "memory": ContextRule(every_unclear=True, keep_confident=True, weight=0.3),
}
DEFAULT_CONTEXT = "follow-up"

# Hesitation needs a surer score than the other intents: 1 of the 1,707 labelled real buyer
# lines is hesitation (clear hesitation is rare in real chats), against 8 % of our training
# lines, so at the common bar most real lines it caught were false (再会, 质量问题, 加到购物车了).
# Below its bar an intent is not one at all, primary or secondary. Chosen on dev (BENCHMARKS.md,
# "Intent: a surer bar for hesitation").
INTENT_BARS = {Intent.HESITATION: 0.65}
_BARS = tuple((SCORED_INTENTS.index(intent), bar) for intent, bar in INTENT_BARS.items())


def _over_bars(scores: Sequence[float]) -> list[float]:
    """``scores`` with each intent under its own bar (``INTENT_BARS``) set to 0."""
    kept = list(scores)
    for index, bar in _BARS:
        if kept[index] < bar:
            kept[index] = 0.0
    return kept


def features(tokens: Sequence[str], content: str) -> Counter[str]:
    """Sparse features: words, character unigrams and bigrams of the content text."""
    counts: Counter[str] = Counter("w:" + token for token in tokens)
    counts.update("c:" + char for char in content)
    counts.update("b:" + content[i : i + 2] for i in range(len(content) - 1))
    return counts


class IntentModel:
    """Scores the four intents; abstains (``other``) below ``threshold``."""

    def __init__(
        self,
        weights: dict[str, tuple[float, ...]],
        intercepts: Sequence[float],
        threshold: float,
        secondary: float,
        context_weight: float,
        context: str = DEFAULT_CONTEXT,
    ) -> None:
        # weights[feature] = (idf, w_bargaining, w_hesitation, w_logistics, w_refund).
        # Scoring keeps one table per feature kind, so the hot path never builds "w:…" names,
        # and each row pre-multiplied: (idf², idf·w_bargaining, …, idf·w_refund).
        self._tables: dict[str, dict[str, tuple[float, ...]]] = {"w": {}, "c": {}, "b": {}}
        for name, (idf, *column) in weights.items():
            kind, _, value = name.partition(":")
            self._tables[kind][value] = (idf * idf, *(idf * w for w in column))
        self._intercepts = tuple(intercepts)
        self.threshold = threshold
        self.secondary = secondary
        rule = CONTEXT_RULES.get(context)
        if rule is None:
            raise ValueError(f"context rule {context!r}: one of {', '.join(sorted(CONTEXT_RULES))}")
        self.context = context
        self.context_weight = context_weight if rule.weight is None else rule.weight
        self._rule = rule

    @classmethod
    def load(cls, path: Path = MODEL_FILE, context: str = DEFAULT_CONTEXT) -> IntentModel:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["intents"] != [str(i) for i in SCORED_INTENTS]:
            raise ValueError(f"{path}: model intents {data['intents']} do not match this code")
        return cls(
            weights={name: tuple(values) for name, values in data["weights"].items()},
            intercepts=data["intercepts"],
            threshold=data["threshold"],
            secondary=data["secondary"],
            context_weight=data["context_weight"],
            context=context,
        )

    def scores(self, tokens: Sequence[str], content: str) -> list[float]:
        """Probability of each intent in ``SCORED_INTENTS`` order.

        The same sums as ``features`` + the trained TF-IDF (sublinear tf, l2 norm) + the
        linear models, counted with C-level Counters; the norm is applied once at the end.
        """
        if not content:
            return [0.0] * len(SCORED_INTENTS)
        norm = bargaining = hesitation = logistics = refund = 0.0
        for counts, table in (
            (Counter(tokens), self._tables["w"]),
            (Counter(content), self._tables["c"]),
            (Counter(map(add, content, content[1:])), self._tables["b"]),
        ):
            for name, count in counts.items():
                row = table.get(name)
                if row is None:
                    continue
                if count == 1:  # almost always: tf = 1
                    norm += row[0]
                    bargaining += row[1]
                    hesitation += row[2]
                    logistics += row[3]
                    refund += row[4]
                else:
                    tf = 1.0 + math.log(count)
                    norm += tf * tf * row[0]
                    bargaining += tf * row[1]
                    hesitation += tf * row[2]
                    logistics += tf * row[3]
                    refund += tf * row[4]
        scale = 1.0 / math.sqrt(norm) if norm else 0.0
        return [
            1.0 / (1.0 + math.exp(-(intercept + scale * total)))
            for intercept, total in zip(self._intercepts, (bargaining, hesitation, logistics, refund))
        ]

    def classify(
        self,
        tokens: list[str],
        content: str,
        previous: Sequence[float] | None = None,
    ) -> Classification:
        """Classify one message; ``previous`` holds the prior buyer message's scores."""
        return self.decide(tokens, self.scores(tokens, content), previous)

    def leans_on_context(self, tokens: Sequence[str], scores: Sequence[float]) -> bool:
        """Whether the remembered scores would count: a message not confident on its own
        (under the ``follow-up`` rule, only one with a follow-up word). Callers fetch the
        context only then."""
        if max(_over_bars(scores)) >= self.threshold:
            return False
        return self._rule.every_unclear or not _FOLLOW_UP_WORDS.isdisjoint(tokens)

    def remembered(self, classification: Classification) -> list[float] | None:
        """What the conversation remembers after ``classification``: its intents' scores
        (those at or above the secondary cut), or None to keep what it remembers now (the
        ``confident`` memory, for a message that got no intent)."""
        if self._rule.keep_confident and classification.intent == Intent.OTHER:
            return None
        by_intent = {s.intent: s.score for s in classification.intents}
        return [by_intent.get(i, 0.0) for i in SCORED_INTENTS]

    def decide(
        self, tokens: list[str], scores: Sequence[float], previous: Sequence[float] | None = None
    ) -> Classification:
        """The classification for ``scores`` (see ``scores``).

        A follow-up that leans on context borrows part of the previous message's scores, so
        "还能再少点吗" after bargaining stays bargaining.
        """
        if previous and self.leans_on_context(tokens, scores):
            scores = [min(1.0, s + self.context_weight * p) for s, p in zip(scores, previous)]
        ranked = sorted(zip(SCORED_INTENTS, _over_bars(scores)), key=lambda pair: -pair[1])
        top_intent, top_score = ranked[0]
        intents = [IntentScore(i, round(s, 4)) for i, s in ranked if s >= self.secondary]
        if top_score < self.threshold:
            # How sure it is of none: an intent under its own bar still counts against that.
            # A message with no words (？？？, an emoji) is a real, impatient message, but
            # nothing in it says which intent it is not either: other, with no confidence.
            confidence = round(1.0 - max(scores), 4) if tokens else 0.0
            return Classification(Intent.OTHER, confidence, intents, tokens)
        return Classification(top_intent, round(top_score, 4), intents, tokens)


def train(
    examples: Sequence[tuple[str, tuple[Intent, ...]]],
    analyze,
    *,
    c: float = 8.0,
    threshold: float = 0.5,
    secondary: float = 0.3,
    context_weight: float = 0.6,
) -> dict:
    """Fit the model on (text, intents) pairs; returns the JSON-ready artifact.

    ``analyze(text) -> (tokens, content)`` must be the same analysis used at run time.
    Deterministic: same examples, same artifact.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    documents = [features(*analyze(text)) for text, _ in examples]
    vectorizer = TfidfVectorizer(analyzer=lambda counts: list(counts.elements()), sublinear_tf=True)
    matrix = vectorizer.fit_transform(documents)
    names = vectorizer.get_feature_names_out()
    columns = []
    intercepts = []
    for intent in SCORED_INTENTS:
        labels = [intent in intents for _, intents in examples]
        model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000, solver="liblinear")
        model.fit(matrix, labels)
        columns.append(model.coef_[0])
        intercepts.append(round(float(model.intercept_[0]), 6))
    weights = {
        str(name): [round(float(vectorizer.idf_[j]), 6)] + [round(float(col[j]), 6) for col in columns]
        for j, name in enumerate(names)
    }
    return {
        "intents": [str(i) for i in SCORED_INTENTS],
        "threshold": threshold,
        "secondary": secondary,
        "context_weight": context_weight,
        "intercepts": intercepts,
        "weights": dict(sorted(weights.items())),
    }

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
from operator import add
from pathlib import Path

from classifiers.types import SCORED_INTENTS, Classification, Intent, IntentScore

MODEL_FILE = Path(__file__).with_name("intent_model.json")

# Words that make an unclear message a follow-up ("那大概几天能到", "还能再少点吗", "查到没",
# "盼着快点"), which may lean on the conversation's open request: questions, and urging, which
# takes the intent of what is being urged (eval/LABELS.md, context rules).
_FOLLOW_UP_WORDS = frozenset(
    "吗 呢 么 嘛 怎么 怎么办 怎么样 怎么弄 多久 几天 几时 什么 啥 咋 哪 哪里 多少 能不能 可不可以 "  # noqa: SIM905
    "可以 还能 再 那 那么 这么 还有 然后 没 好了没 结果 进度 "
    "催 催催 快点 快 尽快 加快 加急 赶紧 着急 急".split()
)
# Acknowledgements and closings ("好的谢谢", "没了", "那好吧"): never a follow-up, whatever the
# conversation, and they leave its open request as it was.
_CLOSING_WORDS = frozenset(
    "好 好的 好吧 的 谢谢 谢 谢了 多谢 感谢 嗯 嗯嗯 哦 哦哦 噢 行 ok 没 没有 没了 没事 了 啦 吧 呀 哈 啊 "  # noqa: SIM905
    "那 就 这样 知道 明白 可以 已经 再见 拜拜 麻烦 麻烦你了 辛苦 你 您 亲 暂时".split()
)
# A message that says thanks or goodbye ("没别的了 再见 祝你开心", "没有啦 多谢你哦") closes the
# request unless it also asks something (one of _QUESTION_WORDS: "好的谢谢 那什么时候到").
_CLOSING_MARKS = tuple("谢谢 谢了 多谢 感谢 再见 拜拜 再会 没了 没有了 没事了 没啦 没有啦 thank 祝".split())  # noqa: SIM905
_QUESTION_WORDS = frozenset(
    "吗 么 嘛 怎么 怎么办 怎么样 怎么弄 多久 几天 几时 什么 啥 咋 哪 哪里 多少 能不能 可不可以 还能".split()  # noqa: SIM905
)
# A message with no intent and at most this many other words (an order number, 白条, 提交了)
# is a bare answer: the conversation keeps its open request. A longer one is a new topic.
_BARE_ANSWER_WORDS = 2


def holds_context(classification: Classification) -> bool:
    """Whether a buyer message leaves its conversation's remembered scores as they were.

    An acknowledgement or a bare answer to the agent ("好的", "[订单x]", "白条") carries no intent
    of its own, and the request it answers is still open: "怎么弄" after "行" after a price
    protection request is about price protection. Anything with an intent, or a longer message
    with none (a new topic: "发票怎么开"), replaces them.
    """
    if classification.intents:
        return False
    return sum(token not in _CLOSING_WORDS for token in classification.tokens) <= _BARE_ANSWER_WORDS


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
        self.context_weight = context_weight

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> IntentModel:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["intents"] != [str(i) for i in SCORED_INTENTS]:
            raise ValueError(f"{path}: model intents {data['intents']} do not match this code")
        return cls(
            weights={name: tuple(values) for name, values in data["weights"].items()},
            intercepts=data["intercepts"],
            threshold=data["threshold"],
            secondary=data["secondary"],
            context_weight=data["context_weight"],
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
        """Whether the previous message's scores would count: a short follow-up question
        that is not confident on its own. Callers fetch the context only then."""
        if max(scores) >= self.threshold or _FOLLOW_UP_WORDS.isdisjoint(tokens):
            return False
        if _CLOSING_WORDS.issuperset(tokens):
            return False
        text = "".join(tokens)
        return not any(mark in text for mark in _CLOSING_MARKS) or not _QUESTION_WORDS.isdisjoint(tokens)

    def decide(
        self, tokens: list[str], scores: Sequence[float], previous: Sequence[float] | None = None
    ) -> Classification:
        """The classification for ``scores`` (see ``scores``).

        A follow-up that leans on context borrows part of the previous message's scores, so
        "还能再少点吗" after bargaining stays bargaining.
        """
        if previous and self.leans_on_context(tokens, scores):
            scores = [min(1.0, s + self.context_weight * p) for s, p in zip(scores, previous)]
        ranked = sorted(zip(SCORED_INTENTS, scores), key=lambda pair: -pair[1])
        top_intent, top_score = ranked[0]
        intents = [IntentScore(i, round(s, 4)) for i, s in ranked if s >= self.secondary]
        if top_score < self.threshold:
            # A message with no words (？？？, an emoji) is a real, impatient message, but
            # nothing in it says which intent it is not either: other, with no confidence.
            confidence = round(1.0 - top_score, 4) if tokens else 0.0
            return Classification(Intent.OTHER, confidence, intents, tokens)
        return Classification(top_intent, round(top_score, 4), intents, tokens)


def train(
    examples: Sequence[tuple[str, tuple[Intent, ...]]],
    analyze,
    *,
    c: float = 64.0,
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

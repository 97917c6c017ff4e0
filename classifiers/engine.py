"""The whole pipeline, message → normalize → tokenize → classify → rank → lint.

Build one ``Engine`` per process: it owns the jieba tokenizer, the intent model, the
reply index and the compiled lint rules, all loaded once. ``with_corpus`` makes a new
engine for a changed corpus that shares the heavy parts, so a server can swap it in
atomically.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from classifiers import corpus
from classifiers.intent import IntentModel
from classifiers.lint import Linter
from classifiers.normalize import content_only, normalize
from classifiers.rank import ReplyIndex
from classifiers.tokenize import Tokenizer
from classifiers.types import Classification, LintResult, LintRule, Reply, Suggestion

DEFAULT_CACHE_DIR = Path(tempfile.gettempdir()) / "huashu-cache"


@dataclass(frozen=True, slots=True)
class Analysis:
    tokens: list[str]
    content: str  # normalized text without spaces and punctuation


def analyze(tokenizer: Tokenizer, text: str) -> tuple[list[str], str]:
    """(tokens, content) of ``text``: the one analysis shared by training and serving."""
    normalized = normalize(text)
    return tokenizer.tokenize(normalized.text), content_only(normalized).text


class Engine:
    def __init__(
        self,
        tokenizer: Tokenizer,
        model: IntentModel,
        replies: Iterable[Reply],
        rules: Iterable[LintRule],
    ) -> None:
        self.tokenizer = tokenizer
        self.model = model
        self.replies = list(replies)
        self.rules = list(rules)
        self.index = ReplyIndex(self.replies, self._analyze_pair)
        self.linter = Linter(self.rules)

    @classmethod
    def load(
        cls,
        *,
        cache_dir: Path = DEFAULT_CACHE_DIR,
        replies: Iterable[Reply] | None = None,
        rules: Iterable[LintRule] | None = None,
        model_path: Path | None = None,
    ) -> Engine:
        """Load everything; replies and rules default to the files in ``scripts_corpus/``."""
        tokenizer = Tokenizer(corpus.DICTIONARY_FILE, cache_dir)
        model = IntentModel.load(model_path) if model_path else IntentModel.load()
        return cls(
            tokenizer,
            model,
            corpus.load_replies() if replies is None else replies,
            corpus.load_lint_rules() if rules is None else rules,
        )

    def with_corpus(
        self, replies: Iterable[Reply] | None = None, rules: Iterable[LintRule] | None = None
    ) -> Engine:
        """A new engine with other replies or rules, sharing the tokenizer and model."""
        return Engine(
            self.tokenizer,
            self.model,
            self.replies if replies is None else replies,
            self.rules if rules is None else rules,
        )

    def analyze(self, text: str) -> Analysis:
        return Analysis(*analyze(self.tokenizer, text))

    def _analyze_pair(self, text: str) -> tuple[list[str], str]:
        return analyze(self.tokenizer, text)

    def classify(self, text: str, previous: Sequence[float] | None = None) -> Classification:
        analysis = self.analyze(text)
        return self.model.classify(analysis.tokens, analysis.content, previous)

    def scores(self, text: str) -> list[float]:
        analysis = self.analyze(text)
        return self.model.scores(analysis.tokens, analysis.content)

    def suggest(
        self,
        text: str,
        *,
        k: int = 3,
        context: Mapping[str, str] | None = None,
        shop_id: str | None = None,
        previous: Sequence[float] | None = None,
        boosts: Mapping[tuple[str, str], float] | None = None,
    ) -> tuple[Classification, list[Suggestion]]:
        analysis = self.analyze(text)
        classification = self.model.classify(analysis.tokens, analysis.content, previous)
        suggestions = self.index.rank(
            classification, analysis.content, k=k, context=context, shop_id=shop_id, boosts=boosts
        )
        return classification, suggestions

    def lint(self, draft: str) -> LintResult:
        return self.linter.lint(draft)

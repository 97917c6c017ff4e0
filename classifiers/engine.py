"""The whole pipeline, message → normalize → tokenize → classify → rank → lint.

Build one ``Engine`` per process: it owns the jieba tokenizer, the intent model, the
reply index and the compiled lint rules, all loaded once. ``with_corpus`` makes a new
engine for a changed corpus that shares the heavy parts, so a server can swap it in
atomically.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from classifiers import corpus
from classifiers.index import ReplyAnalysis, ReplyIndex
from classifiers.intent import DEFAULT_CONTEXT, MODEL_FILE, IntentModel
from classifiers.lint import Linter
from classifiers.normalize import content_text, normalized_text
from classifiers.rank import rank_replies
from classifiers.tokenize import Tokenizer
from classifiers.types import Classification, Intent, LintProfile, LintResult, LintRule, Reply, Suggestion

# Bump when normalize or tokenize change how text is analysed: stored analyses become stale.
ANALYSIS_FORMAT = 3  # 2: look-alike letters, combining marks and fillers folded; 3: text words


_SLOT_RE = re.compile(r"\{\w+\}")


@dataclass(frozen=True, slots=True)
class Analysis:
    tokens: list[str]
    content: str  # normalized text without spaces and punctuation


@cache
def analyzer_version() -> str:
    """Changes whenever a stored ``ReplyAnalysis`` would come out differently."""
    digest = hashlib.sha256(corpus.DICTIONARY_FILE.read_bytes())
    # A new rjieba may ship a changed dictionary.
    digest.update(f"{ANALYSIS_FORMAT}-{importlib.metadata.version('rjieba')}".encode())
    return digest.hexdigest()[:16]


def analyze(tokenizer: Tokenizer, text: str) -> tuple[list[str], str]:
    """(tokens, content) of ``text``: the one analysis shared by training and serving."""
    normalized = normalized_text(text)
    return tokenizer.tokenize(normalized), content_text(normalized)


class Engine:
    def __init__(
        self,
        tokenizer: Tokenizer,
        model: IntentModel,
        replies: Iterable[Reply],
        rules: Iterable[LintRule],
        analyses: Mapping[str, ReplyAnalysis] | None = None,
        index: ReplyIndex | None = None,
        profiles: Mapping[str, LintProfile] | None = None,
    ) -> None:
        """``analyses`` (reply id → stored analysis) skips re-analysing those replies;
        an ``index`` already built for ``replies`` (see ``ReplyIndex.load``) skips building.
        ``profiles`` (lint profile → what it changes) default to the rules file's."""
        self.tokenizer = tokenizer
        self.model = model
        self.rules = list(rules)
        analyses = analyses or {}
        # The index keeps what it needs in compact form; the Reply objects are not kept.
        self.index = index or ReplyIndex(
            (reply, analyses.get(reply.id) or self.analyze_reply(reply)) for reply in replies
        )
        self.profiles = dict(corpus.load_lint_profiles() if profiles is None else profiles)
        self.linter = Linter(self.rules, self.profiles)

    @classmethod
    def load(
        cls,
        *,
        replies: Iterable[Reply] | None = None,
        rules: Iterable[LintRule] | None = None,
        model_path: Path | None = None,
        context: str = DEFAULT_CONTEXT,
    ) -> Engine:
        """Load everything; replies and rules default to the files in ``scripts_corpus/``;
        ``context`` names the intent model's context rule (``CONTEXT_RULES``)."""
        tokenizer = Tokenizer(corpus.DICTIONARY_FILE)
        model = IntentModel.load(model_path or MODEL_FILE, context=context)
        return cls(
            tokenizer,
            model,
            corpus.load_replies() if replies is None else replies,
            corpus.load_lint_rules() if rules is None else rules,
        )

    def with_corpus(
        self,
        replies: Iterable[Reply],
        rules: Iterable[LintRule] | None = None,
        analyses: Mapping[str, ReplyAnalysis] | None = None,
        index: ReplyIndex | None = None,
    ) -> Engine:
        """A new engine with other replies (and rules), sharing the tokenizer and model."""
        rules = self.rules if rules is None else rules
        return Engine(self.tokenizer, self.model, replies, rules, analyses, index, self.profiles)

    def analyze(self, text: str) -> Analysis:
        return Analysis(*analyze(self.tokenizer, text))

    def analyze_reply(self, reply: Reply) -> ReplyAnalysis:
        triggers = []
        for trigger in reply.triggers:
            tokens, content = analyze(self.tokenizer, trigger)
            triggers.append((tuple(tokens), content))
        # The text's words, without its {slot} names, let ranking match what the reply says.
        text_tokens, _ = analyze(self.tokenizer, _SLOT_RE.sub("", reply.text))
        return ReplyAnalysis(tuple(triggers), content_text(normalized_text(reply.text)), tuple(text_tokens))

    def classify(self, text: str, previous: Sequence[float] | None = None) -> Classification:
        analysis = self.analyze(text)
        return self.model.classify(analysis.tokens, analysis.content, previous)

    def scores(self, text: str) -> list[float]:
        """Each scored intent's probability for ``text``: what a conversation remembers."""
        return self.intent_scores(self.analyze(text))

    # The three steps of ``classify`` apart, for a caller that fetches the conversation's
    # previous scores itself, and only when ``needs_context`` says they matter.
    def intent_scores(self, analysis: Analysis) -> list[float]:
        return self.model.scores(analysis.tokens, analysis.content)

    def needs_context(self, analysis: Analysis, scores: Sequence[float]) -> bool:
        """Whether the message is an unclear follow-up whose intent the previous one decides."""
        return self.model.leans_on_context(analysis.tokens, scores)

    def decide(
        self, analysis: Analysis, scores: Sequence[float], previous: Sequence[float] | None = None
    ) -> Classification:
        return self.model.decide(analysis.tokens, scores, previous)

    def remembered(self, classification: Classification) -> list[float] | None:
        """What the conversation remembers after this message; None: keep what it has."""
        return self.model.remembered(classification)

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
        return classification, self.rank(
            classification, analysis, k=k, context=context, shop_id=shop_id, boosts=boosts
        )

    def rank(
        self,
        classification: Classification,
        analysis: Analysis,
        *,
        k: int = 3,
        context: Mapping[str, str] | None = None,
        shop_id: str | None = None,
        boosts: Mapping[tuple[str, str], float] | None = None,
    ) -> list[Suggestion]:
        return rank_replies(
            self.index, classification, analysis.content, k=k, context=context, shop_id=shop_id, boosts=boosts
        )

    def lint(self, draft: str, profile: str | None = None) -> LintResult:
        """``profile``: strict (None, the default), taobao, jd or pinduoduo."""
        return self.linter.lint(draft, profile)

    def nearest_reply(
        self, draft: str, *, shop_id: str | None = None, profile: str | None = None
    ) -> Suggestion | None:
        """The approved reply nearest to a flagged ``draft``: the best one for the draft's
        intent, ranked against the draft's own words, that the profile lets the agent send;
        None when the draft has no clear intent. One classification and one ranking (of the
        index's few best candidates), done only for drafts that were flagged."""
        analysis = self.analyze(draft)
        classification = self.model.classify(analysis.tokens, analysis.content)
        if classification.intent is Intent.OTHER:
            return None
        ranked = self.rank(classification, analysis, k=3, shop_id=shop_id)
        # A reply for the draft's own intent, complete (no slot left for the agent) first.
        ranked.sort(key=lambda s: (s.intent is not classification.intent, bool(s.missing_slots)))
        for suggestion in ranked:
            if self.linter.lint(suggestion.text, profile).ok:
                return suggestion
        return None

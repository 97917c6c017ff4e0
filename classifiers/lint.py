"""Lint an agent's draft against the banned-phrasing rules."""

from __future__ import annotations

import re
from collections.abc import Iterable

from classifiers.normalize import content_only, content_text, normalize, normalized_text
from classifiers.types import LintFlag, LintResult, LintRule, Severity

SINGLE_CHARACTER = "single_character"


def _fold(phrase: str) -> str:
    return content_only(normalize(phrase)).text


def _compile(rule: LintRule) -> re.Pattern[str]:
    # Longest phrase first, so "全网最低" wins over a shorter phrase at the same place.
    phrases = sorted({_fold(p) for p in rule.phrases if _fold(p)}, key=len, reverse=True)
    if not phrases:
        raise ValueError(f"lint rule {rule.id!r} has no phrases")
    behind = "".join(f"(?<!{re.escape(_fold(p))})" for p in rule.not_before if _fold(p))
    ahead_options = "|".join(re.escape(_fold(p)) for p in rule.not_after if _fold(p))
    ahead = f"(?!{ahead_options})" if ahead_options else ""
    return re.compile(behind + "(?:" + "|".join(map(re.escape, phrases)) + ")" + ahead)


def rule_problems(rule: LintRule) -> list[str]:
    """Why ``rule`` cannot work, or nothing. Checked before an editor's rule is stored:
    one broken rule would keep every worker's linter from building."""
    if rule.kind == SINGLE_CHARACTER:
        return ["a single_character rule has no phrases"] if rule.phrases else []
    problems = [] if rule.phrases else ["a phrase rule needs at least one phrase"]
    for field in ("phrases", "not_before", "not_after"):
        empty = [p for p in getattr(rule, field) if not _fold(p)]
        if empty:
            problems.append(f"{field} {empty}: nothing is left to match once punctuation and emoji go")
    return problems


class Linter:
    """Compiles the rules once; ``lint`` then scans one draft."""

    def __init__(self, rules: Iterable[LintRule]) -> None:
        self._phrase_rules: list[tuple[LintRule, re.Pattern[str]]] = []
        self._single_character_rules: list[LintRule] = []
        for rule in rules:
            if rule.kind == SINGLE_CHARACTER:
                self._single_character_rules.append(rule)
            else:
                self._phrase_rules.append((rule, _compile(rule)))
        # Every banned phrase in one plain alternation, without the rules' exceptions: most
        # drafts are clean, and this scan (which re runs with a first-character prefilter)
        # says so in a few microseconds; the exact rules run only on a hit.
        phrases = {_fold(p) for rule, _ in self._phrase_rules for p in rule.phrases} - {""}
        self._any_phrase = re.compile("|".join(map(re.escape, sorted(phrases))) or "(?!)")

    def lint(self, draft: str) -> LintResult:
        """Flags in the order they appear; spans index the original ``draft``.

        Matching ignores spaces, punctuation, emoji, full-width forms and Traditional
        characters, so "可 能 吧~~~" and "應該是吧" are caught.
        """
        text = content_text(normalized_text(draft))
        if len(set(text)) > 1 and (
            not self._any_phrase.search(text)
            # A phrase inside one of its rule's exceptions ("不可以的话"): the rules say clean.
            or not any(pattern.search(text) for _, pattern in self._phrase_rules)
        ):
            return LintResult(ok=True, flags=[])
        return self.lint_exactly(draft)

    def lint_exactly(self, draft: str) -> LintResult:
        """``lint`` without the clean-draft shortcut: every rule runs, spans are mapped."""
        content = content_only(normalize(draft))
        flags: list[LintFlag] = []
        if len(set(content.text)) <= 1:
            # One character, repeated or not ("嗯", "嗯嗯", "？", "👍"): too curt to send.
            start, end = content.to_original(0, len(content.text)) if content.text else (0, len(draft))
            for rule in self._single_character_rules:
                flags.append(_flag(rule, draft, start, end))
        for rule, pattern in self._phrase_rules:
            for match in pattern.finditer(content.text):
                start, end = content.to_original(match.start(), match.end())
                flags.append(_flag(rule, draft, start, end))
        flags.sort(key=lambda flag: (flag.start, flag.end))
        return LintResult(ok=not any(f.severity is Severity.BLOCK for f in flags), flags=flags)


def _flag(rule: LintRule, draft: str, start: int, end: int) -> LintFlag:
    return LintFlag(
        rule_id=rule.id,
        category=rule.category,
        severity=rule.severity,
        start=start,
        end=end,
        match=draft[start:end],
        suggestion=rule.suggestion,
    )

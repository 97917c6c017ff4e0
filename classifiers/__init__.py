"""Huashu's language core: normalize, tokenize, classify, suggest and lint, without a server.

The functions here use one default ``Engine`` built on first use from ``scripts_corpus/``;
build your own ``Engine`` to use another corpus or cache folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from classifiers.engine import Engine
from classifiers.normalize import NormalizedText, normalize
from classifiers.types import (
    Classification,
    Intent,
    IntentScore,
    LintFlag,
    LintResult,
    LintRule,
    Reply,
    Severity,
    Suggestion,
)

__all__ = [
    "Classification",
    "Engine",
    "Intent",
    "IntentScore",
    "LintFlag",
    "LintResult",
    "LintRule",
    "NormalizedText",
    "Reply",
    "Severity",
    "Suggestion",
    "classify",
    "default_engine",
    "lint",
    "normalize",
    "suggest",
    "tokenize",
]


@cache
def default_engine() -> Engine:
    return Engine.load()


def tokenize(text: str) -> list[str]:
    """Normalize ``text`` and split it into words."""
    return default_engine().analyze(text).tokens


def classify(text: str) -> Classification:
    """The buyer message's intent, its confidence and every likely intent."""
    return default_engine().classify(text)


def suggest(text: str, k: int = 3, context: Mapping[str, str] | None = None) -> list[Suggestion]:
    """The top ``k`` approved replies for a buyer message, slots filled from ``context``."""
    return default_engine().suggest(text, k=k, context=context)[1]


def lint(draft: str) -> LintResult:
    """Flags for banned phrasing in an agent's draft; ``ok`` when nothing blocks it."""
    return default_engine().lint(draft)

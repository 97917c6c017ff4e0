"""Typed results shared by every step of the pipeline."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum


class Intent(StrEnum):
    BARGAINING = "bargaining"
    HESITATION = "hesitation"
    LOGISTICS = "logistics"
    REFUND = "refund"
    OTHER = "other"


# The intents the model scores; OTHER is what is left when none of them is confident.
SCORED_INTENTS: tuple[Intent, ...] = (
    Intent.BARGAINING,
    Intent.HESITATION,
    Intent.LOGISTICS,
    Intent.REFUND,
)


class Severity(StrEnum):
    BLOCK = "block"
    WARN = "warn"


@dataclass(frozen=True, slots=True)
class IntentScore:
    intent: Intent
    score: float


@dataclass(frozen=True, slots=True)
class Classification:
    intent: Intent
    confidence: float
    intents: list[IntentScore]
    tokens: list[str]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Reply:
    """An approved scripted reply (话术)."""

    id: str
    intents: tuple[Intent, ...]
    text: str
    triggers: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    # Slot name → default value; None means the caller must supply it.
    slots: dict[str, str | None] = field(default_factory=dict)
    shop_id: str | None = None


@dataclass(frozen=True, slots=True)
class Suggestion:
    reply_id: str
    text: str
    intent: Intent
    score: float
    missing_slots: list[str]


@dataclass(frozen=True, slots=True)
class LintRule:
    id: str
    category: str
    severity: Severity
    suggestion: str
    phrases: tuple[str, ...] = ()
    not_before: tuple[str, ...] = ()
    not_after: tuple[str, ...] = ()
    kind: str = "phrase"  # or "single_character"


@dataclass(frozen=True, slots=True)
class LintProfile:
    """What one platform's rules change: rules it does not need, and warnings it blocks."""

    switch_off: frozenset[str] = frozenset()
    block: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class LintFlag:
    rule_id: str
    category: str
    severity: Severity
    start: int
    end: int
    match: str
    suggestion: str


@dataclass(frozen=True, slots=True)
class LintResult:
    ok: bool
    flags: list[LintFlag]

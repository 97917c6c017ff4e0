"""Request and response models of the REST API and the WebSocket protocol."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from classifiers import Classification, Intent, LintResult, Suggestion

# What the edge (app/guard.py) refuses in every string of a request (path, query, JSON body,
# keys too): C0 and C1 controls but tab and line breaks. app/openapi.py states it in the
# document as this pattern on every request string.
CLEAN_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
# Whitespace, controls and format characters (zero-width spaces and joiners, bidi marks, the
# BOM…): a message of only these is empty (422 empty_text). Written as BMP escapes that Python,
# Rust (pydantic) and ECMAScript regular expressions all read alike.
_INVISIBLE = (
    r"\x00-\x20\x7f-\xa0\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u1680\u180e"
    r"\u2000-\u200f\u2028-\u202f\u205f-\u2064\u2066-\u206f\u3000\ufeff\ufff9-\ufffb"
)
_CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
# A buyer message or a draft: no control character and at least one visible one.
MESSAGE_PATTERN = rf"^[^{_CONTROL}]*[^{_INVISIBLE}][^{_CONTROL}]*$"
_VISIBLE = re.compile(f"[^{_INVISIBLE}]")


def visible(text: str) -> bool:
    """Whether ``text`` has a character that shows (the check behind 422 empty_text)."""
    return _VISIBLE.search(text) is not None


# The pattern is the document's; the assistant's own check answers 422 empty_text.
MessageText = Annotated[str, Field(json_schema_extra={"pattern": MESSAGE_PATTERN})]


# RFC 3339, as OpenAPI's date-time says: pydantic alone would also take "0.5" (Unix seconds).
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def _rfc3339(value: Any) -> Any:
    if isinstance(value, str) and not _RFC3339.fullmatch(value):
        raise ValueError("not an RFC 3339 date-time, e.g. 2026-12-01T08:00:00+08:00")
    return value


Timestamp = Annotated[datetime, BeforeValidator(_rfc3339)]


class _Request(BaseModel):
    """A REST request body: a field the schema does not name is refused (422), so that the
    document's ``additionalProperties: false`` is true and a misspelt field is not ignored."""

    model_config = ConfigDict(extra="forbid")


FeedbackAction = Literal["shown", "used", "edited", "dismissed"]
MAX_SUGGESTIONS = 10
# How many suggestions a message asks for. Numbers and booleans in bodies are strict ("3" is
# no integer, 0 no boolean), as the document's types say.
SuggestionCount = Annotated[int, Field(ge=1, le=MAX_SUGGESTIONS, strict=True)]


class IntentScoreOut(BaseModel):
    intent: Intent
    score: float


class ClassifyRequest(_Request):
    text: MessageText
    conversation_id: str | None = Field(default=None, max_length=200)


class ClassifyResponse(BaseModel):
    intent: Intent
    confidence: float
    intents: list[IntentScoreOut]
    tokens: list[str]


class SuggestRequest(_Request):
    text: MessageText
    conversation_id: str | None = Field(default=None, max_length=200)
    context: dict[str, str] = Field(default_factory=dict, description="slot values, e.g. {'courier': '顺丰'}")
    shop_id: str | None = Field(default=None, max_length=120)
    k: SuggestionCount = 3


class SuggestionOut(BaseModel):
    reply_id: str
    text: str
    intent: Intent
    score: float
    missing_slots: list[str]


class SuggestResponse(ClassifyResponse):
    suggestions: list[SuggestionOut]


# The lint profiles (scripts_corpus/lint_rules.yaml): what each platform forbids. strict, the
# default, forbids everything any of them does.
LintProfileName = Literal["strict", "taobao", "jd", "pinduoduo"]
LINT_PROFILES: tuple[str, ...] = get_args(LintProfileName)


class LintRequest(_Request):
    text: MessageText
    profile: LintProfileName | None = Field(
        default=None, description="the platform's rules; default the shop's (SHOP_PROFILES), else strict"
    )
    shop_id: str | None = Field(
        default=None, max_length=120, description="picks the shop's profile and replies"
    )


class FlagOut(BaseModel):
    rule_id: str
    category: str
    severity: Literal["block", "warn"]
    start: int
    end: int
    match: str
    suggestion: str


class NearestReply(BaseModel):
    reply_id: str
    text: str
    intent: Intent


class LintResponse(BaseModel):
    ok: bool
    flags: list[FlagOut]
    nearest_reply: NearestReply | None = Field(
        default=None,
        description="the approved reply nearest to a flagged draft, when the draft has a clear intent",
    )


class FeedbackRequest(_Request):
    reply_id: str = Field(max_length=120)
    action: FeedbackAction
    conversation_id: str | None = Field(default=None, max_length=200)
    final_text: str | None = Field(default=None, max_length=4000)
    intent: Intent | None = Field(
        default=None, description="the intent it was suggested for; default its first"
    )


# WebSocket frames from the client; "type" picks the model.
class BuyerMessageFrame(BaseModel):
    type: Literal["buyer_message"]
    id: str | int | None = None
    conversation_id: str = Field(max_length=200)
    text: str
    context: dict[str, str] = Field(default_factory=dict)
    shop_id: str | None = Field(default=None, max_length=120)
    k: SuggestionCount = 3


class DraftFrame(BaseModel):
    type: Literal["draft"]
    id: str | int | None = None
    conversation_id: str | None = Field(default=None, max_length=200)
    text: str
    profile: LintProfileName | None = None
    shop_id: str | None = Field(default=None, max_length=120)


class FeedbackFrame(FeedbackRequest):
    model_config = ConfigDict(extra="ignore")  # WebSocket frames stay as lenient as before

    type: Literal["feedback"]
    id: str | int | None = None


class PingFrame(BaseModel):
    type: Literal["ping"]
    id: str | int | None = None


_FRAMES = BuyerMessageFrame | DraftFrame | FeedbackFrame | PingFrame
ClientFrame = Annotated[_FRAMES, Field(discriminator="type")]
# The "type" of each frame model, in the union's order.
FRAME_TYPES = tuple(get_args(frame.model_fields["type"].annotation)[0] for frame in get_args(_FRAMES))


ReplyStatus = Literal["draft", "approved", "retired"]


class ReplyIn(BaseModel):
    """A scripted reply as an editor writes it. ``{slot}`` placeholders are filled at suggestion time."""

    text: str = Field(min_length=1, max_length=2000)
    intents: list[Intent] = Field(min_length=1)
    triggers: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=50, description="buyer phrasings this reply answers"
    )
    tags: list[str] = Field(default_factory=list, max_length=20)
    slots: dict[str, str | None] = Field(
        default_factory=dict, description="slot → default; null: caller fills"
    )
    shop_id: str | None = Field(default=None, max_length=120)
    status: ReplyStatus = "approved"


# What creating, editing and reading one (reply or rule) adds to its fields.
# A reply's or rule's id, as created and as named in paths.
ID_PATTERN = r"^[\w.~-]+$"
MAX_ID_CHARS = 120


class _New(BaseModel):
    id: str = Field(min_length=1, max_length=MAX_ID_CHARS, pattern=ID_PATTERN)


class _Edited(BaseModel):
    version: int = Field(
        ge=1, le=2**31 - 1, strict=True, description="the version you edited; a newer one on the server → 409"
    )
    # A body read with GET may be sent back whole, id included, so the id is allowed here;
    # naming another reply or rule than the path does is refused (422 id_mismatch).
    id: str | None = Field(
        default=None,
        max_length=MAX_ID_CHARS,
        pattern=ID_PATTERN,
        description="optional, as GET answers it; must be the id in the path",
    )


class _Stored(BaseModel):
    id: str
    version: int


class ReplyCreate(ReplyIn, _New, _Request):
    pass


class ReplyUpdate(ReplyIn, _Edited, _Request):
    pass


class ReplyOut(ReplyIn, _Stored):
    pass


# A phrase, or a pattern rule's expression (longer: families expanded). classifiers.lint's
# rule_problems holds a phrase to MAX_PHRASE_CHARS.
_Phrase = Annotated[str, Field(min_length=1, max_length=4000)]


class LintRuleIn(BaseModel):
    """A banned-phrasing rule as an editor writes it (see ``scripts_corpus/lint_rules.yaml``).

    Phrases match ignoring spaces, punctuation, emoji, width and Traditional characters;
    ``not_before`` / ``not_after`` are what, right before / after a phrase, make it ordinary
    wording (第一 in 第一次). A ``pattern`` rule's phrases and exceptions are regular
    expressions over the same folded text (see the rules file's header). A
    ``single_character`` rule has no phrases: it flags a draft that is one character,
    repeated or not.
    """

    # What classifiers.lint.rule_problems asks of phrases by kind, as far as a schema can say
    # (that each folds to some text and each pattern compiles is checked on save: invalid_rule).
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"kind": {"const": "single_character"}}, "required": ["kind"]},
            "then": {"properties": {"phrases": {"maxItems": 0}}},
            "else": {"properties": {"phrases": {"minItems": 1}}, "required": ["phrases"]},
        }
    )

    category: str = Field(min_length=1, max_length=40, pattern=r"^[a-z_]+$")
    severity: Literal["block", "warn"]
    suggestion: str = Field(min_length=1, max_length=500, description="the better wording shown with a flag")
    kind: Literal["phrase", "pattern", "single_character"] = "phrase"
    phrases: list[_Phrase] = Field(default_factory=list, max_length=200)
    not_before: list[_Phrase] = Field(default_factory=list, max_length=50)
    not_after: list[_Phrase] = Field(default_factory=list, max_length=50)
    enabled: bool = Field(default=True, strict=True)


class LintRuleCreate(LintRuleIn, _New, _Request):
    pass


class LintRuleUpdate(LintRuleIn, _Edited, _Request):
    pass


class LintRuleOut(LintRuleIn, _Stored):
    pass


class Liveness(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready"]
    replies: int = Field(description="approved replies in this worker's index")
    corpus_version: int
    worker: int = Field(description="the answering process, to tell workers apart behind one port")
    corpus_loaded_at: float = Field(description="Unix time this worker started serving that version")


class KeyOut(BaseModel):
    id: int
    name: str
    role: Literal["agent", "editor", "admin"]
    prefix: str
    revoked: bool


# The answers' JSON, built field by field: dataclasses.asdict deep-copies, which cost more
# than ranking did. REST, WebSocket and the CLI all answer these shapes.
def classification_body(classification: Classification) -> dict:
    return {
        "intent": classification.intent,
        "confidence": classification.confidence,
        "intents": [{"intent": s.intent, "score": s.score} for s in classification.intents],
        "tokens": classification.tokens,
    }


def suggestions_body(suggestions: list[Suggestion]) -> list[dict]:
    return [
        {
            "reply_id": s.reply_id,
            "text": s.text,
            "intent": s.intent,
            "score": s.score,
            "missing_slots": s.missing_slots,
        }
        for s in suggestions
    ]


def lint_body(result: LintResult, nearest: Suggestion | None = None) -> dict:
    flags = [
        {
            "rule_id": f.rule_id,
            "category": f.category,
            "severity": f.severity,
            "start": f.start,
            "end": f.end,
            "match": f.match,
            "suggestion": f.suggestion,
        }
        for f in result.flags
    ]
    nearest_reply = (
        None
        if nearest is None
        else {"reply_id": nearest.reply_id, "text": nearest.text, "intent": nearest.intent}
    )
    return {"ok": result.ok, "flags": flags, "nearest_reply": nearest_reply}


# The studio: partial edits, history, audit, import / export, preview and analytics.
class _Patch(_Edited, _Request):
    """Only the fields given change; the rest stay as stored (a PUT replaces them all). A
    field given as null stays as stored too, but those in ``_CLEARABLE`` (null clears them)."""

    _CLEARABLE: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _null_is_unchanged(self):
        for name in [n for n in self.model_fields_set if getattr(self, n) is None]:
            if name not in self._CLEARABLE:
                self.model_fields_set.discard(name)
        return self


class ReplyPatch(_Patch):
    """Only the fields given change; the rest stay as stored (a PUT replaces them all). Null
    leaves a field as stored, but ``shop_id``: null makes the reply every shop's."""

    _CLEARABLE = ("shop_id",)

    text: str | None = Field(default=None, min_length=1, max_length=2000)
    intents: list[Intent] | None = Field(default=None, min_length=1)
    triggers: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        default=None, max_length=50
    )
    tags: list[str] | None = Field(default=None, max_length=20)
    slots: dict[str, str | None] | None = None
    shop_id: str | None = Field(default=None, max_length=120)
    status: ReplyStatus | None = None


class LintRulePatch(_Patch):
    """Only the fields given change; the rest stay as stored (a PUT replaces them all); null
    leaves a field as stored."""

    category: str | None = Field(default=None, min_length=1, max_length=40, pattern=r"^[a-z_]+$")
    severity: Literal["block", "warn"] | None = None
    suggestion: str | None = Field(default=None, min_length=1, max_length=500)
    kind: Literal["phrase", "pattern", "single_character"] | None = None
    phrases: list[_Phrase] | None = Field(default=None, max_length=200)
    not_before: list[_Phrase] | None = Field(default=None, max_length=50)
    not_after: list[_Phrase] | None = Field(default=None, max_length=50)
    enabled: bool | None = Field(default=None, strict=True)


class VersionOut(BaseModel):
    """One stored version: the editor's fields as they were saved, by whom and when."""

    version: int
    actor: str
    created_at: datetime
    data: dict[str, Any]


class AuditOut(BaseModel):
    id: int
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
    created_at: datetime


class ImportItem(BaseModel):
    kind: Literal["reply", "lint_rule"]
    id: str
    line: int | None = None  # where the item starts in the file (YAML and CSV)


class ImportChange(ImportItem):
    diff: dict[str, dict[str, Any]]  # field → {"from", "to"}


class ImportRefusal(ImportItem):
    code: str
    reason: str
    detail: Any = None


class ImportReport(BaseModel):
    dry_run: bool
    applied: bool
    created: list[ImportItem]
    changed: list[ImportChange]
    retired: list[ImportItem]
    unchanged: int
    refused: list[ImportRefusal]


class PreviewRequest(_Request):
    text: str = Field(min_length=1, max_length=2000)
    intents: list[Intent] = Field(min_length=1)
    triggers: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default_factory=list)
    slots: dict[str, str | None] = Field(default_factory=dict)
    shop_id: str | None = Field(default=None, max_length=120)
    messages: list[Annotated[MessageText, Field(min_length=1, max_length=2000)]] = Field(
        default_factory=list, max_length=50, description="buyer messages to rank the draft for"
    )


class PreviewRank(BaseModel):
    message: str
    intent: Intent
    rank: int | None  # 1 = the top suggestion; None: not among the top MAX_SUGGESTIONS
    score: float | None
    top: list[SuggestionOut]


class PreviewResponse(LintResponse):
    ranks: list[PreviewRank]


# Analytics (``app.analytics``): every answer names its window. Days are calendar days at
# ``utc_offset_minutes`` (default 480: China time), ``from`` and ``to`` both included.
class AnalyticsWindow(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from", description="first day, YYYY-MM-DD")
    to: str = Field(description="last day, YYYY-MM-DD (included)")
    utc_offset_minutes: int
    shop_id: str | None = Field(description="only this shop's messages and feedback; null: all")


class ReplyUsage(BaseModel):
    reply_id: str
    text: str | None = Field(description="null: no longer in the corpus")
    intents: list[str]
    shop_id: str | None
    status: str | None
    offered: int = Field(description="buyer messages it was suggested for")
    shown: int
    used: int
    edited: int
    dismissed: int
    use_rate: float | None = Field(
        description="(used + edited) / offered (offered at least shown and every action); null: never offered"
    )
    never_used: bool = Field(description="neither used nor edited in the window")
    heavily_edited: bool = Field(description="edited at least 3 times, in at least half of its uses")


class ReplyAnalytics(AnalyticsWindow):
    total: int = Field(description="replies matching, before limit/offset")
    replies: list[ReplyUsage]


class IntentDay(BaseModel):
    day: str
    intent: str = Field(description="the best-scored intent (other: none scored)")
    messages: int = Field(description="buyer messages whose best-scored intent this is")
    abstentions: int = Field(description="of those, the ones answered as other (not confident enough)")
    used: int = Field(description="suggestions for this intent agents used or edited that day")
    use_rate: float | None = Field(description="used / messages; null when no messages")


class DayTotal(BaseModel):
    day: str
    messages: int
    abstentions: int
    used: int
    use_rate: float | None


class IntentAnalytics(AnalyticsWindow):
    days: list[IntentDay] = Field(description="one row per day and intent with messages or uses")
    totals: list[DayTotal] = Field(description="one row per day of the window, every intent together")


class TextGroup(BaseModel):
    """Similar texts counted together (rapidfuzz ratio on the folded text)."""

    text: str = Field(description="the group's most frequent text")
    count: int
    examples: list[str] = Field(description="up to 5 other texts of the group, most frequent first")


class EditedReply(BaseModel):
    reply_id: str
    text: str | None = Field(description="the reply as it is now; null: no longer in the corpus")
    edited: int
    used: int
    edit_share: float = Field(description="edited / (used + edited)")
    final_texts: list[TextGroup] = Field(description="what agents sent instead, grouped")


class EditAnalytics(AnalyticsWindow):
    replies: list[EditedReply] = Field(description="most edited first")


class CoverageIntent(BaseModel):
    intent: str
    messages: int
    uncovered: int
    groups: list[TextGroup] = Field(description="uncovered messages, grouped, largest first")


class CoverageAnalytics(AnalyticsWindow):
    messages: int = Field(description="buyer messages counted (see README: which count)")
    uncovered: int = Field(description="of those, the ones for which no suggestion was used or edited")
    intents: list[CoverageIntent] = Field(description="most uncovered first")


# The studio's rule editor: which approved replies a rule, as edited, would flag.
class RuleImpactRequest(LintRuleIn, _Request):
    id: str = Field(default="draft-rule", min_length=1, max_length=120, pattern=r"^[\w.~-]+$")


class FlaggedReply(BaseModel):
    reply_id: str
    text: str
    flags: list[FlagOut]


class RuleImpact(BaseModel):
    blocks: bool  # enabled and severity block: saving it is refused while count > 0
    count: int  # approved replies it flags
    replies: list[FlaggedReply]  # the first IMPACT_REPLIES of them, in id order

"""What the service does for one message, shared by REST and WebSocket.

It wraps the language core with the service's state: the current engine (swapped
whole when the corpus changes), each conversation's recent buyer messages, and
the feedback boosts.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from dataclasses import asdict

from sqlalchemy.engine import Engine as DatabaseEngine
from sqlmodel import Session

from app import store
from app.config import Settings
from app.errors import ApiError
from app.metrics import SUGGESTIONS
from app.schemas import FeedbackRequest
from classifiers import Classification, Engine, LintResult, Suggestion
from classifiers.normalize import content_only, normalize
from classifiers.types import SCORED_INTENTS

# Feedback boost: at most this much is added to a reply's score.
MAX_BOOST = 0.1
# Neutral events assumed before any feedback, so one click does not move a reply far.
BOOST_PRIOR = 5


class ConversationMemory:
    """The last few buyer messages' intent scores per conversation, bounded and expiring."""

    def __init__(self, turns: int, ttl: float, max_conversations: int) -> None:
        self._turns = turns
        self._ttl = ttl
        self._max = max_conversations
        self._conversations: OrderedDict[str, deque[tuple[float, list[float]]]] = OrderedDict()

    def previous(self, conversation_id: str | None) -> list[float] | None:
        if not conversation_id or conversation_id not in self._conversations:
            return None
        turns = self._conversations[conversation_id]
        when, scores = turns[-1]
        if time.monotonic() - when > self._ttl:
            del self._conversations[conversation_id]
            return None
        return scores

    def remember(self, conversation_id: str | None, classification: Classification) -> None:
        if not conversation_id:
            return
        by_intent = {s.intent: s.score for s in classification.intents}
        scores = [by_intent.get(intent, 0.0) for intent in SCORED_INTENTS]
        turns = self._conversations.pop(conversation_id, None) or deque(maxlen=self._turns)
        turns.append((time.monotonic(), scores))
        self._conversations[conversation_id] = turns  # most recent last
        while len(self._conversations) > self._max:
            self._conversations.popitem(last=False)


def feedback_boost(counts: dict[str, int]) -> float:
    """MAX_BOOST × the share of offers agents took (an edit counts half), with a prior."""
    taken = counts.get("used", 0) + 0.5 * counts.get("edited", 0)
    offered = max(
        counts.get("shown", 0), counts.get("used", 0) + counts.get("edited", 0) + counts.get("dismissed", 0)
    )
    return MAX_BOOST * taken / (offered + BOOST_PRIOR)


class Assistant:
    def __init__(self, engine: Engine, database: DatabaseEngine, settings: Settings) -> None:
        self.engine = engine
        self.database = database
        self.settings = settings
        self.memory = ConversationMemory(
            settings.context_turns, settings.context_ttl_s, settings.context_max_conversations
        )
        with Session(database) as session:
            self._feedback = store.feedback_counts(session)
        self._boosts = {key: feedback_boost(counts) for key, counts in self._feedback.items()}

    def replace_engine(self, engine: Engine) -> None:
        """Swap in an engine built for a changed corpus; in-flight messages finish on the old one."""
        self.engine = engine

    def check_text(self, text: str, *, allow_noise: bool = False) -> None:
        if len(text) > self.settings.max_text_chars:
            raise ApiError(
                413,
                "text_too_long",
                f"text has {len(text)} characters; the limit is {self.settings.max_text_chars}",
            )
        if not text.strip() or (not allow_noise and not content_only(normalize(text)).text):
            raise ApiError(422, "empty_text", "text is empty once emoji, punctuation and spaces are removed")

    def classify(self, text: str, conversation_id: str | None = None) -> Classification:
        self.check_text(text)
        return self.engine.classify(text, self.memory.previous(conversation_id))

    def suggest(
        self,
        text: str,
        *,
        conversation_id: str | None = None,
        context: dict[str, str] | None = None,
        shop_id: str | None = None,
        k: int = 3,
    ) -> tuple[Classification, list[Suggestion]]:
        self.check_text(text)
        classification, suggestions = self.engine.suggest(
            text,
            k=min(k, self.settings.max_suggestions),
            context=context,
            shop_id=shop_id,
            previous=self.memory.previous(conversation_id),
            boosts=self._boosts,
        )
        self.memory.remember(conversation_id, classification)
        SUGGESTIONS.labels(str(classification.intent)).inc(len(suggestions))
        return classification, suggestions

    def lint(self, text: str) -> LintResult:
        # An emoji-only draft is a real draft: the linter flags it as curt.
        self.check_text(text, allow_noise=True)
        return self.engine.lint(text)

    def feedback(self, event: FeedbackRequest, *, key_id: int | None) -> None:
        """Store a feedback event and update that reply's boost. Blocking: call off the event loop."""
        reply_id, intent = event.reply_id, event.intent
        with Session(self.database) as session:
            intents = store.reply_intents(session, reply_id=reply_id)
            if intents is None:
                raise ApiError(404, "unknown_reply", f"no reply with id {reply_id!r}")
            if intent is None:
                intent = intents[0]
            store.add_feedback(
                session,
                reply_id=reply_id,
                intent=intent,
                action=event.action,
                conversation_id=event.conversation_id,
                final_text=event.final_text,
                key_id=key_id,
            )
        counts = self._feedback.setdefault((reply_id, intent), {})
        counts[event.action] = counts.get(event.action, 0) + 1
        self._boosts = {**self._boosts, (reply_id, intent): feedback_boost(counts)}


def classification_body(classification: Classification) -> dict:
    return {
        "intent": classification.intent,
        "confidence": classification.confidence,
        "intents": [{"intent": s.intent, "score": s.score} for s in classification.intents],
        "tokens": classification.tokens,
    }


def suggestions_body(suggestions: list[Suggestion]) -> list[dict]:
    return [asdict(s) for s in suggestions]


def lint_body(result: LintResult) -> dict:
    return {"ok": result.ok, "flags": [asdict(flag) for flag in result.flags]}

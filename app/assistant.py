"""What the service does for one message, shared by REST and WebSocket.

It wraps the language core with the service's state, none of which is private to one
worker: the current engine (rebuilt whenever the database's corpus version moves, see
``app.sync``), each conversation's last intent scores and the feedback counts, both in
the database.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import asdict

from sqlalchemy.engine import Engine as DatabaseEngine
from sqlmodel import Session

from app import store
from app.config import Settings
from app.errors import ApiError
from app.metrics import SUGGESTIONS
from app.schemas import FeedbackRequest
from classifiers import Classification, Engine, LintResult, Suggestion
from classifiers.engine import Analysis
from classifiers.types import SCORED_INTENTS

# Feedback boost: at most this much is added to a reply's score.
MAX_BOOST = 0.1
# Neutral events assumed before any feedback, so one click does not move a reply far.
BOOST_PRIOR = 5


class ConversationContext:
    """Each conversation's last buyer message's intent scores, kept in the database so that
    the next message may land on any worker. Blocking: call through a thread."""

    def __init__(self, database: DatabaseEngine, ttl: float) -> None:
        self._database = database
        self._ttl = ttl

    def previous(self, conversation_id: str) -> list[float] | None:
        with self._database.connect() as connection:
            return store.previous_scores(
                connection, conversation_id=conversation_id, since=time.time() - self._ttl
            )

    def remember(self, conversation_id: str, classification: Classification) -> None:
        by_intent = {s.intent: s.score for s in classification.intents}
        scores = [by_intent.get(intent, 0.0) for intent in SCORED_INTENTS]
        with self._database.begin() as connection:
            store.remember_scores(connection, conversation_id=conversation_id, scores=scores)

    def forget_expired(self) -> int:
        with self._database.begin() as connection:
            return store.forget_conversations(connection, before=time.time() - self._ttl)


def feedback_boost(counts: dict[str, int]) -> float:
    """MAX_BOOST × the share of offers agents took (an edit counts half), with a prior."""
    taken = counts.get("used", 0) + 0.5 * counts.get("edited", 0)
    offered = max(
        counts.get("shown", 0), counts.get("used", 0) + counts.get("edited", 0) + counts.get("dismissed", 0)
    )
    return MAX_BOOST * taken / (offered + BOOST_PRIOR)


class FeedbackBoosts:
    """Ranking boosts from the feedback events in the database, caught up incrementally.

    ``boosts`` is replaced whole, never mutated, so the event loop reads it without a lock.
    """

    def __init__(self) -> None:
        self.boosts: dict[tuple[str, str], float] = {}
        self._counts: dict[tuple[str, str], dict[str, int]] = {}
        self._last_event_id = 0
        self._lock = threading.Lock()

    def catch_up(self, session: Session) -> None:
        with self._lock:
            new, self._last_event_id = store.feedback_counts_since(session, after_id=self._last_event_id)
            if not new:
                return
            changed = {}
            for key, actions in new.items():
                counts = self._counts.setdefault(key, {})
                for action, count in actions.items():
                    counts[action] = counts.get(action, 0) + count
                changed[key] = feedback_boost(counts)
            self.boosts = {**self.boosts, **changed}


class Assistant:
    def __init__(
        self, engine: Engine, corpus_version: int, database: DatabaseEngine, settings: Settings
    ) -> None:
        self.engine = engine
        self.corpus_version = corpus_version
        self.database = database
        self.settings = settings
        self.context = ConversationContext(database, settings.context_ttl_s)
        self.feedback_boosts = FeedbackBoosts()
        with Session(database) as session:
            self.feedback_boosts.catch_up(session)

    def replace_engine(self, engine: Engine, corpus_version: int) -> None:
        """Swap in an engine built for a changed corpus; in-flight messages finish on the old one."""
        self.engine, self.corpus_version = engine, corpus_version

    def check_length(self, text: str) -> None:
        if len(text) > self.settings.max_text_chars:
            raise ApiError(
                413,
                "text_too_long",
                f"text has {len(text)} characters; the limit is {self.settings.max_text_chars}",
            )
        if not text.strip():
            raise ApiError(422, "empty_text", "text is empty")

    def analyze(self, text: str) -> Analysis:
        """The message's analysis, made once; refuses text too long or without content."""
        self.check_length(text)
        analysis = self.engine.analyze(text)
        if not analysis.content:
            raise ApiError(422, "empty_text", "text is empty once emoji, punctuation and spaces are removed")
        return analysis

    async def previous_scores(self, conversation_id: str | None) -> list[float] | None:
        if not conversation_id:
            return None
        return await asyncio.to_thread(self.context.previous, conversation_id)

    async def classify(self, text: str, conversation_id: str | None = None) -> Classification:
        analysis = self.analyze(text)
        previous = await self.previous_scores(conversation_id)
        return self.engine.model.classify(analysis.tokens, analysis.content, previous)

    async def suggest(
        self,
        text: str,
        *,
        conversation_id: str | None = None,
        context: dict[str, str] | None = None,
        shop_id: str | None = None,
        k: int = 3,
    ) -> tuple[Classification, list[Suggestion]]:
        analysis = self.analyze(text)
        previous = await self.previous_scores(conversation_id)
        classification, suggestions = self.engine.suggest(
            analysis,
            k=min(k, self.settings.max_suggestions),
            context=context,
            shop_id=shop_id,
            previous=previous,
            boosts=self.feedback_boosts.boosts,
        )
        if conversation_id:
            # Awaited, so the conversation's next message (on any worker) sees this one.
            await asyncio.to_thread(self.context.remember, conversation_id, classification)
        SUGGESTIONS.labels(str(classification.intent)).inc(len(suggestions))
        return classification, suggestions

    def lint(self, text: str) -> LintResult:
        # An emoji-only draft is a real draft: the linter flags it as curt.
        self.check_length(text)
        return self.engine.lint(text)

    def feedback(self, event: FeedbackRequest, *, key_id: int | None) -> None:
        """Store a feedback event and catch the boosts up. Blocking: call off the event loop."""
        reply_id, intent = event.reply_id, event.intent
        with Session(self.database) as session:
            intents = store.reply_intents(session, reply_id=reply_id)
            if intents is None:
                raise ApiError(404, "unknown_reply", f"no reply with id {reply_id!r}")
            store.add_feedback(
                session,
                reply_id=reply_id,
                intent=intent or intents[0],
                action=event.action,
                conversation_id=event.conversation_id,
                final_text=event.final_text,
                key_id=key_id,
            )
            self.feedback_boosts.catch_up(session)


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

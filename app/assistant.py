"""What the service does for one message, shared by REST and WebSocket.

It wraps the language core with the service's state, none of which is private to one
worker: the current engine (patched or rebuilt whenever the database's corpus version
moves, see ``app.sync``), each conversation's last intent scores (``app.context``) and the
feedback boosts (``app.feedback``), both kept in the database.
"""

from __future__ import annotations

import asyncio
import os
import time

from sqlalchemy.engine import Engine as DatabaseEngine
from sqlmodel import Session

from app import store
from app.config import Settings, parse_shop_profiles
from app.context import ConversationContext
from app.errors import ApiError
from app.events import SuggestionRecorder
from app.feedback import FeedbackBoosts
from app.metrics import SUGGESTIONS, child
from app.schemas import FeedbackRequest, visible
from classifiers import Classification, Engine, LintResult, Suggestion
from classifiers.engine import Analysis


class Assistant:
    def __init__(
        self, engine: Engine, corpus_version: int, database: DatabaseEngine, settings: Settings
    ) -> None:
        self.engine = engine
        self.corpus_version = corpus_version
        self.corpus_loaded_at = time.time()
        self.database = database
        self.settings = settings
        self.context = ConversationContext(database, settings.context_ttl_s)
        self.shop_profiles = parse_shop_profiles(settings.shop_profiles)
        self.feedback_boosts = FeedbackBoosts()
        self.events = SuggestionRecorder(database)
        with Session(database) as session:
            self.feedback_boosts.catch_up(session)

    async def close(self) -> None:
        await self.context.close()
        await asyncio.to_thread(self.events.close)

    def readiness(self) -> dict:
        """Ready when the database answers; 503 ``database_unavailable`` when it does not."""
        try:
            with Session(self.database) as session:
                store.ping(session)
        except Exception as exc:  # any driver error means not ready
            raise ApiError(
                503, "database_unavailable", f"database check failed: {type(exc).__name__}"
            ) from exc
        return {
            "status": "ready",
            "replies": self.engine.index.size,
            "corpus_version": self.corpus_version,
            "worker": os.getpid(),
            "corpus_loaded_at": self.corpus_loaded_at,
        }

    def replace_engine(self, engine: Engine, corpus_version: int) -> None:
        """Swap in an engine built for a changed corpus; in-flight messages finish on the old one."""
        self.engine, self.corpus_version, self.corpus_loaded_at = engine, corpus_version, time.time()

    def check_length(self, text: str) -> None:
        if len(text) > self.settings.max_text_chars:
            raise ApiError(
                413,
                "text_too_long",
                f"text has {len(text)} characters; the limit is {self.settings.max_text_chars}",
            )
        if not visible(text):  # the same rule the OpenAPI document states (MESSAGE_PATTERN)
            raise ApiError(422, "empty_text", "text is empty (only spaces or invisible characters)")

    def analyze(self, text: str) -> Analysis:
        """The message's analysis, made once; refuses text too long or with nothing visible."""
        self.check_length(text)
        return self.engine.analyze(text)

    async def _classify(
        self, engine: Engine, analysis: Analysis, conversation_id: str | None
    ) -> Classification:
        scores = engine.intent_scores(analysis)
        previous = None
        # Only an unclear follow-up reads the conversation's context: most messages never
        # touch the database.
        if conversation_id and engine.needs_context(analysis, scores):
            previous = await self.context.previous(conversation_id)
        return engine.decide(analysis, scores, previous)

    async def classify(self, text: str, conversation_id: str | None = None) -> Classification:
        engine = self.engine
        return await self._classify(engine, self.analyze(text), conversation_id)

    async def suggest(
        self,
        text: str,
        *,
        conversation_id: str | None = None,
        context: dict[str, str] | None = None,
        shop_id: str | None = None,
        k: int = 3,
    ) -> tuple[Classification, list[Suggestion]]:
        engine = self.engine  # one engine for the whole message, even if a rebuild lands meanwhile
        analysis = self.analyze(text)
        classification = await self._classify(engine, analysis, conversation_id)
        suggestions = engine.rank(
            classification,
            analysis,
            k=k,
            context=context,
            shop_id=shop_id,
            boosts=self.feedback_boosts.boosts,
        )
        if conversation_id:
            remembered = engine.remembered(classification)
            if remembered is not None:  # None: the session keeps what it remembers
                self.context.remember(conversation_id, remembered)
        self.events.record(
            conversation_id=conversation_id,
            shop_id=shop_id,
            classification=classification,
            text=text,
            reply_ids=[s.reply_id for s in suggestions],
        )
        child(SUGGESTIONS, str(classification.intent)).inc(len(suggestions))
        return classification, suggestions

    def lint(
        self, text: str, *, profile: str | None = None, shop_id: str | None = None
    ) -> tuple[LintResult, Suggestion | None]:
        """The flags under the request's profile (else its shop's, else strict), and for a
        flagged draft the nearest approved reply."""
        # An emoji-only draft is a real draft: the linter flags it as curt.
        self.check_length(text)
        engine = self.engine
        profile = profile or (self.shop_profiles.get(shop_id) if shop_id else None)
        result = engine.lint(text, profile)
        nearest = engine.nearest_reply(text, shop_id=shop_id, profile=profile) if result.flags else None
        return result, nearest

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

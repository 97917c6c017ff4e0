"""The conversation context: what it remembers, and bad values refused."""

import asyncio

import pytest
from pydantic import ValidationError

from app import store
from app.config import Settings
from app.context import ConversationContext


def test_remembers_scores_across_a_fresh_reader(client, settings):  # client: the schema is made
    database = store.connect(settings.database_url)

    async def scenario() -> list[float] | None:
        writer = ConversationContext(database, ttl=600)
        writer.remember("ctx-memory", [0.0, 0.0, 0.1, 0.9])
        assert await writer.previous("ctx-memory") == [0.0, 0.0, 0.1, 0.9]  # before the flush
        writer.flush()
        await writer.close()
        reader = ConversationContext(database, ttl=600)  # nothing cached: it reads the database
        try:
            return await reader.previous("ctx-memory")
        finally:
            await reader.close()

    try:
        assert asyncio.run(scenario()) == [0.0, 0.0, 0.1, 0.9]
    finally:
        database.dispose()


def test_wrong_number_of_scores_is_refused(settings):
    database = store.connect(settings.database_url)
    context = ConversationContext(database, ttl=600)
    try:
        with pytest.raises(ValueError, match="3 scores; a conversation remembers 4"):
            context.remember("ctx-short", [0.1, 0.2, 0.3])
    finally:
        database.dispose()


def test_unknown_intent_context_setting_is_refused():
    message = "INTENT_CONTEXT 'sometimes': one of follow-up, memory, unclear"
    with pytest.raises(ValidationError, match=message):
        Settings(intent_context="sometimes")

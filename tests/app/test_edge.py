"""The edge (issue 17): control characters, the context batch, a database that goes away, the
Host check. Each runs on SQLite and on a real PostgreSQL server."""

import asyncio
import logging

import pytest

from app import store
from app.context import ConversationContext
from tests.helpers import bearer

NUL = "\x00"


@pytest.fixture()
def agent(keys):
    return bearer(keys["agent"])


@pytest.fixture()
def editor(keys):
    return bearer(keys["editor"])


def _control_character(response) -> dict:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "control_character" and error["message"]
    return error


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/v1/feedback", {"reply_id": "ship-within-48h", "action": "edited", "final_text": f"好的{NUL}亲"}),
        ("/v1/feedback", {"reply_id": f"ship{NUL}", "action": "used"}),
        ("/v1/suggest", {"text": "包邮吗", "conversation_id": f"c{NUL}1"}),
        ("/v1/suggest", {"text": "包邮吗", "context": {"courier": "顺\x1b丰"}}),
        ("/v1/classify", {"text": "包邮\x7f吗"}),
        ("/v1/lint", {"text": "可能\u0085吧"}),
    ],
)
def test_control_characters_in_agent_bodies_are_refused(client, agent, path, payload):
    error = _control_character(client.post(path, json=payload, headers=agent))
    assert error["detail"]["loc"].startswith("body.")


def test_control_characters_in_editor_bodies_paths_and_queries_are_refused(client, editor):
    reply = {"id": "nul-reply", "text": f"亲{NUL}好的", "intents": ["greeting"]}
    error = _control_character(client.post("/v1/replies", json=reply, headers=editor))
    assert error["detail"] == {"loc": "body.text", "codepoint": "U+0000"}
    _control_character(client.get("/v1/replies/a%00b", headers=editor))
    _control_character(
        client.put("/v1/replies/a%00b", json={**reply, "text": "亲", "version": 1}, headers=editor)
    )
    _control_character(client.delete("/v1/lint-rules/x%00?version=1", headers=editor))
    _control_character(client.get("/v1/replies?q=%00", headers=editor))
    # Nothing was stored, and the service answers as before.
    assert client.get("/v1/replies/nul-reply", headers=editor).status_code == 404
    assert client.get("/healthz").json() == {"status": "ok"}


def test_a_lone_surrogate_is_refused_not_a_500(client, agent):
    # Valid JSON (Python's parser takes it), but no database can store it.
    body = b'{"text": "\\ud800\xe5\x8c\x85\xe9\x82\xae\xe5\x90\x97", "conversation_id": "c"}'
    response = client.post("/v1/suggest", content=body, headers={**agent, "content-type": "application/json"})
    assert _control_character(response)["detail"]["codepoint"] == "U+D800"


def test_tab_and_line_breaks_are_text(client, agent):
    response = client.post("/v1/suggest", json={"text": "包邮吗\n\t今天发货吗\r\n"}, headers=agent)
    assert response.status_code == 200


def test_a_control_character_in_a_socket_frame_is_an_error_frame(client, agent, keys):
    with client.websocket_connect(f"/v1/ws?token={keys['agent']}") as ws:
        ws.send_json({"type": "buyer_message", "conversation_id": f"c{NUL}", "text": "包邮吗", "id": 1})
        answer = ws.receive_json()
        assert (answer["type"], answer["code"], answer["in_reply_to"]) == ("error", "control_character", 1)
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}  # the socket stays usable


def test_one_bad_row_never_costs_a_batch(settings, engine, caplog):
    """A row the database refuses (NUL on PostgreSQL, a lone surrogate on both) is dropped
    alone: the other conversations in the same batch keep their context."""
    database = store.connect(settings.database_url)
    bad = ["bad-\ud800"] + (["bad-\x00"] if database.dialect.name == "postgresql" else [])
    remembered = engine.remembered(engine.classify("能便宜点吗"))
    assert remembered is not None

    async def scenario() -> tuple[list[float] | None, list[float] | None]:
        writer = ConversationContext(database, ttl=600)
        for conversation_id in ["keep-a", *bad, "keep-z"]:
            writer.remember(conversation_id, remembered)
        writer.flush()
        await writer.close()
        reader = ConversationContext(database, ttl=600)  # nothing cached: it reads the database
        try:
            return await reader.previous("keep-a"), await reader.previous("keep-z")
        finally:
            await reader.close()

    with caplog.at_level(logging.WARNING, logger="huashu"):
        first, last = asyncio.run(scenario())
    database.dispose()
    assert first is not None and last is not None and max(first) > 0.5
    assert any(f"refused {len(bad)} of {len(bad) + 2} rows" in r.getMessage() for r in caplog.records)
    assert not any("bad-" in r.getMessage() for r in caplog.records)  # no caller text in the log


def test_a_database_that_cannot_be_reached_is_a_503_said_once(settings, keys, caplog):
    from fastapi.testclient import TestClient
    from sqlalchemy import create_engine

    from app.errors import OUTAGE
    from app.main import create_app

    closed_port = create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:1/none", connect_args={"connect_timeout": 2}
    )
    with TestClient(create_app(settings)) as app_client, caplog.at_level(logging.ERROR, logger="huashu"):
        live = app_client.app.state.keys._database
        app_client.app.state.keys._database = closed_port
        answers = [
            app_client.post("/v1/lint", json={"text": "好的亲"}, headers=bearer(keys["agent"]))
            for _ in range(3)
        ]
        app_client.app.state.keys._database = live  # back: answered again
        again = app_client.post("/v1/lint", json={"text": "好的亲"}, headers=bearer(keys["agent"]))
    closed_port.dispose()
    OUTAGE.recovered()
    for answer in answers:
        assert answer.status_code == 503 and answer.json()["error"]["code"] == "database_unavailable"
        assert answer.headers["retry-after"] == "5"
    assert again.status_code == 200
    said = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert len(said) == 1 and said[0].exc_info is None


def test_a_foreign_host_is_refused_and_never_redirected_to(settings, keys):
    from fastapi.testclient import TestClient

    from app.main import create_app

    agent = bearer(keys["agent"])
    strict = settings.model_copy(update={"allowed_hosts": ["localhost", "127.0.0.1"]})
    with TestClient(create_app(strict), base_url="http://localhost") as local:
        assert local.get("/healthz").status_code == 200
        evil = local.post("/v1/suggest/", json={"text": "包邮吗"}, headers={**agent, "Host": "evil.example"})
        assert evil.status_code == 400 and evil.json()["error"]["code"] == "invalid_host"
        assert "location" not in evil.headers
    anything = settings.model_copy(update={"allowed_hosts": ["*"]})
    with TestClient(create_app(anything), follow_redirects=False) as open_client:
        slashed = open_client.post(
            "/v1/suggest/", json={"text": "包邮吗"}, headers={**agent, "Host": "evil.example"}
        )
        assert slashed.status_code == 404 and "location" not in slashed.headers

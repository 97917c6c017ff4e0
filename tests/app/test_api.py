import pytest
from sqlmodel import Session, select

from app import store
from tests.helpers import bearer


@pytest.fixture()
def agent(keys):
    return bearer(keys["agent"])


def test_probes(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["replies"] >= 80 and ready["corpus_version"] >= 1


def test_suggest(client, agent):
    response = client.post(
        "/v1/suggest", json={"text": "什麼時候發貨？", "context": {"courier": "顺丰"}, "k": 4}, headers=agent
    )
    assert response.status_code == 200
    body = response.json()
    assert body["intent"] == "logistics" and body["confidence"] > 0.5
    assert body["tokens"] and body["intents"][0]["intent"] == "logistics"
    assert len(body["suggestions"]) == 4
    for suggestion in body["suggestions"]:
        assert set(suggestion) == {"reply_id", "text", "intent", "score", "missing_slots"}
        assert ("{" in suggestion["text"]) == bool(suggestion["missing_slots"])


def test_classify_and_lint(client, agent):
    assert client.post("/v1/classify", json={"text": "我要退貨"}, headers=agent).json()["intent"] == "refund"
    body = client.post("/v1/lint", json={"text": "亲，可 能 吧~~~"}, headers=agent).json()
    assert body["ok"] is False
    flag = body["flags"][0]
    assert (flag["category"], flag["severity"], flag["start"], flag["end"], flag["match"]) == (
        "uncertain",
        "block",
        2,
        7,
        "可 能 吧",
    )
    assert client.post("/v1/lint", json={"text": "好的亲，马上为您安排"}, headers=agent).json() == {
        "ok": True,
        "flags": [],
    }
    # An emoji-only draft is linted (curt), not refused.
    assert (
        client.post("/v1/lint", json={"text": "👌"}, headers=agent).json()["flags"][0]["category"] == "curt"
    )


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "unauthorized"),
        ({"Authorization": "Bearer hs_not-a-key"}, 401, "unauthorized"),
        ({"Authorization": "Basic abc"}, 401, "unauthorized"),
    ],
)
def test_auth_errors(client, headers, status, code):
    response = client.post("/v1/lint", json={"text": "好的"}, headers=headers)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_revoked_key_is_refused(client, keys):
    response = client.post("/v1/lint", json={"text": "好的"}, headers=bearer(keys["revoked"]))
    assert response.status_code == 401


def test_roles(client, keys):
    assert client.get("/v1/keys", headers=bearer(keys["agent"])).status_code == 403
    assert client.get("/v1/keys", headers=bearer(keys["editor"])).status_code == 403
    listed = client.get("/v1/keys", headers=bearer(keys["admin"])).json()
    assert {"test-agent", "test-admin", "test-revoked"} <= {k["name"] for k in listed}
    assert all(set(k) == {"id", "name", "role", "prefix", "revoked"} for k in listed)
    # Editors and admins may do what agents do.
    assert client.post("/v1/lint", json={"text": "好的亲"}, headers=bearer(keys["editor"])).status_code == 200


def test_keys_stored_hashed(client, keys, settings):
    database = store.connect(settings.database_url)
    with Session(database) as session:
        rows = session.exec(select(store.ApiKey)).all()
    database.dispose()
    stored = {value for row in rows for value in (row.key_hash, row.prefix, row.name)}
    assert not any(key in stored for key in keys.values())
    assert all(len(row.key_hash) == 64 for row in rows)


@pytest.mark.parametrize(
    ("path", "payload", "status", "code"),
    [
        ("/v1/suggest", {"text": ""}, 422, "empty_text"),
        ("/v1/suggest", {"text": "\u200b\u3000\u200d"}, 422, "empty_text"),
        ("/v1/classify", {"text": "   "}, 422, "empty_text"),
        ("/v1/lint", {"text": ""}, 422, "empty_text"),
        ("/v1/suggest", {"text": "好" * 501}, 413, "text_too_long"),
        ("/v1/suggest", {"text": "包邮吗", "k": 0}, 422, "invalid_request"),
        ("/v1/suggest", {"txt": "包邮吗"}, 422, "invalid_request"),
        ("/v1/suggest", {"text": "包邮吗", "context": "顺丰"}, 422, "invalid_request"),
        ("/v1/feedback", {"reply_id": "ship-within-48h", "action": "liked"}, 422, "invalid_request"),
        ("/v1/feedback", {"reply_id": "no-such-reply", "action": "used"}, 404, "unknown_reply"),
    ],
)
def test_bad_input(client, agent, path, payload, status, code):
    response = client.post(path, json=payload, headers=agent)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]


def test_invalid_json_and_oversize_body(client, agent):
    response = client.post(
        "/v1/suggest", content=b"{not json", headers={**agent, "content-type": "application/json"}
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_request"
    response = client.post("/v1/lint", json={"text": "好" * 10_000}, headers=agent)
    assert response.status_code == 413 and response.json()["error"]["code"] == "body_too_large"


def test_unknown_route_has_the_error_shape(client):
    response = client.get("/v1/nothing")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_feedback_is_stored_and_lifts_the_reply(client, agent, settings):
    message = {"text": "寄到广州几天能到", "k": 3}
    before = client.post("/v1/suggest", json=message, headers=agent).json()["suggestions"]
    third = before[2]
    for _ in range(30):
        response = client.post(
            "/v1/feedback",
            json={
                "reply_id": third["reply_id"],
                "action": "used",
                "conversation_id": "c-fb",
                "intent": third["intent"],
            },
            headers=agent,
        )
        assert response.status_code == 204
    after = client.post("/v1/suggest", json=message, headers=agent).json()["suggestions"]
    lifted = next(s for s in after if s["reply_id"] == third["reply_id"])
    assert lifted["score"] > third["score"]
    assert lifted["score"] <= third["score"] + 0.1 + 1e-6
    assert after.index(lifted) <= 2
    database = store.connect(settings.database_url)
    with Session(database) as session:
        counts = store.feedback_counts_through(session, last_id=store.last_feedback_id(session))
    database.dispose()
    assert counts[(third["reply_id"], third["intent"])]["used"] >= 30


def test_conversation_context(client, agent):
    alone = client.post("/v1/suggest", json={"text": "那多少呢", "conversation_id": "c-new"}, headers=agent)
    assert alone.json()["intent"] == "other"
    client.post("/v1/suggest", json={"text": "能便宜点吗", "conversation_id": "c-ctx"}, headers=agent)
    follow_up = {"text": "那多少呢", "conversation_id": "c-ctx"}
    answer = client.post("/v1/suggest", json=follow_up, headers=agent).json()
    assert answer["intent"] == "bargaining"
    assert answer["suggestions"][0]["intent"] == "bargaining"


def test_metrics(client, agent):
    client.post("/v1/suggest", json={"text": "包邮吗"}, headers=agent)
    text = client.get("/metrics").text
    assert 'huashu_suggestions_total{intent="logistics"}' in text
    assert 'huashu_http_requests_total{method="POST",route="/v1/suggest",status="200"}' in text
    assert "huashu_websockets_open" in text


def test_openapi_lists_models_and_errors(client):
    spec = client.get("/openapi.json").json()
    for path in ("/v1/suggest", "/v1/lint", "/v1/classify", "/v1/feedback"):
        assert "401" in spec["paths"][path]["post"]["responses"]
    assert {"SuggestRequest", "SuggestResponse", "LintResponse", "ErrorResponse"} <= set(
        spec["components"]["schemas"]
    )
    assert client.get("/docs").status_code == 200


def test_rate_limit(settings, keys):
    from fastapi.testclient import TestClient

    from app.main import create_app

    limited = settings.model_copy(update={"rate_limit_per_minute": 3})
    with TestClient(create_app(limited)) as limited_client:
        answers = [
            limited_client.post("/v1/lint", json={"text": "好的亲"}, headers=bearer(keys["agent"]))
            for _ in range(5)
        ]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    # 3 a minute: one request's worth comes back after 20 s, said in the header and the body.
    refused = answers[-1]
    assert 19 <= int(refused.headers["retry-after"]) <= 20
    assert refused.json()["error"]["detail"] == {"retry_after_s": int(refused.headers["retry-after"])}
    assert "retry-after" not in answers[0].headers


@pytest.mark.parametrize("text", ["？？？", "😊😊！！", "。。。"])
def test_a_message_without_words_is_answered_unsure(client, agent, text):
    """An impatient ？？？ is a real message: other, with no confidence, general replies."""
    body = client.post("/v1/suggest", json={"text": text}, headers=agent).json()
    assert body["intent"] == "other" and body["confidence"] == 0.0
    assert body["suggestions"] and all(s["intent"] == "other" for s in body["suggestions"])


def test_an_unexpected_error_is_a_json_500_in_the_one_shape(settings, keys):
    from fastapi.testclient import TestClient

    from app.main import create_app

    with TestClient(create_app(settings), raise_server_exceptions=False) as broken:

        def fail(key: str) -> None:
            raise RuntimeError("secret SQL parameters")

        broken.app.state.keys.check = fail
        answer = broken.post("/v1/lint", json={"text": "好的亲"}, headers=bearer(keys["agent"]))
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "internal_error"
    assert "secret" not in answer.text

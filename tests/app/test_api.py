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
        "nearest_reply": None,
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


def test_lint_offers_the_nearest_approved_reply(client, agent):
    body = client.post("/v1/lint", json={"text": "估计快递太忙了吧"}, headers=agent).json()
    assert body["ok"] is False and body["flags"][0]["category"] == "uncertain"
    nearest = body["nearest_reply"]
    assert set(nearest) == {"reply_id", "text", "intent"} and nearest["intent"] == "logistics"
    assert "{" not in nearest["text"]
    # The reply offered is itself sendable.
    assert client.post("/v1/lint", json={"text": nearest["text"]}, headers=agent).json()["ok"] is True
    # A flag with no clear intent: no reply to offer.
    assert client.post("/v1/lint", json={"text": "嗯"}, headers=agent).json()["nearest_reply"] is None


def test_lint_profiles_by_request_and_by_shop(client, agent, settings):
    from fastapi.testclient import TestClient

    from app.main import create_app

    draft = {"text": "亲，感谢您对京东的支持"}
    strict = client.post("/v1/lint", json=draft, headers=agent).json()
    assert strict["ok"] is True and strict["flags"][0]["severity"] == "warn"
    assert client.post("/v1/lint", json={**draft, "profile": "jd"}, headers=agent).json()["flags"] == []
    assert client.post("/v1/lint", json={**draft, "profile": "taobao"}, headers=agent).json()["ok"] is False
    refused = client.post("/v1/lint", json={**draft, "profile": "amazon"}, headers=agent)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_request"
    with TestClient(
        create_app(settings.model_copy(update={"shop_profiles": "shop-jd=jd, shop-tb=taobao"}))
    ) as shops:
        by_shop = lambda shop: shops.post("/v1/lint", json={**draft, "shop_id": shop}, headers=agent).json()  # noqa: E731
        assert by_shop("shop-jd")["flags"] == []
        assert by_shop("shop-tb")["ok"] is False
        assert by_shop("shop-unknown")["ok"] is True  # strict: a warning only
        # The request's own profile wins over its shop's.
        body = shops.post(
            "/v1/lint", json={**draft, "shop_id": "shop-jd", "profile": "pinduoduo"}, headers=agent
        )
        assert body.json()["ok"] is False


@pytest.mark.parametrize("value", ["shopA", "shopA=amazon", "=jd"])
def test_bad_shop_profiles_are_refused_at_start(value):
    from pydantic import ValidationError

    from app.config import Settings

    with pytest.raises(ValidationError, match="SHOP_PROFILES"):
        Settings(shop_profiles=value)


def test_an_editors_pattern_rule(client, agent, keys):
    import time
    import uuid

    from tests.helpers import bearer

    editor = bearer(keys["editor"])
    rule_id = f"pattern-{uuid.uuid4().hex[:6]}"
    rule = {"id": rule_id, "category": "deflecting", "severity": "warn", "kind": "pattern",
            "phrases": ["不归(?:我们|本店)(?:管|负责)"], "not_before": ["如果.*"],
            "suggestion": "亲，这个我来帮您跟进处理哦～"}  # fmt: skip
    broken = client.post("/v1/lint-rules", json={**rule, "phrases": ["不归(我们"]}, headers=editor)
    assert broken.status_code == 422 and broken.json()["error"]["code"] == "invalid_rule"
    assert "not a regular expression" in str(broken.json()["error"]["detail"])
    long_phrase = client.post(
        "/v1/lint-rules", json={**rule, "kind": "phrase", "phrases": ["长" * 51]}, headers=editor
    )
    assert long_phrase.status_code == 422
    assert client.post("/v1/lint-rules", json=rule, headers=editor).status_code == 201
    try:
        deadline = time.monotonic() + 10
        while True:  # each worker picks the rule up within its sync interval
            # The built-in deflect-to-others flags the same words: look at the editor's rule.
            answer = client.post("/v1/lint", json={"text": "这个不归本店管"}, headers=agent).json()
            flags = [f for f in answer["flags"] if f["rule_id"] == rule_id]
            if flags or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert [(f["rule_id"], f["match"]) for f in flags] == [(rule_id, "不归本店管")]
        assert (
            client.post("/v1/lint", json={"text": "如果不归本店管，我也帮您转达"}, headers=agent).json()[
                "flags"
            ]
            == []
        )
    finally:
        client.patch(f"/v1/lint-rules/{rule_id}", json={"version": 1, "enabled": False}, headers=editor)

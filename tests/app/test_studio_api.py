"""The studio's API: partial edits, history, audit, search (on SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers import bearer


@pytest.fixture()
def editor(keys):
    return bearer(keys["editor"])


def _new_reply(client, editor, **fields) -> dict:
    body = {
        "id": f"studio-{uuid.uuid4().hex[:8]}",
        "intents": ["logistics"],
        "text": "亲，今天下单明天就发货哦",
        "triggers": ["什么时候发货", "明天能发吗"],
        "tags": ["发货"],
        "status": "draft",
        **fields,
    }
    created = client.post("/v1/replies", json=body, headers=editor)
    assert created.status_code == 201, created.text
    return created.json()


def test_patch_changes_only_the_fields_given(client, editor):
    reply = _new_reply(client, editor)
    patched = client.patch(
        f"/v1/replies/{reply['id']}", json={"version": 1, "text": "亲，明天一早就发货哦"}, headers=editor
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    # A PUT without triggers or status would empty the one and approve the draft.
    assert (body["version"], body["text"], body["triggers"], body["status"], body["tags"]) == (
        2, "亲，明天一早就发货哦", reply["triggers"], "draft", ["发货"]
    )  # fmt: skip
    stale = client.patch(f"/v1/replies/{reply['id']}", json={"version": 1, "tags": []}, headers=editor)
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "stale_edit"
    assert stale.json()["error"]["detail"]["current"]["version"] == 2
    bad = client.patch(f"/v1/replies/{reply['id']}", json={"version": 2, "intents": []}, headers=editor)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
    approve_banned = client.patch(
        f"/v1/replies/{reply['id']}",
        json={"version": 2, "text": "可能吧", "status": "approved"},
        headers=editor,
    )
    assert approve_banned.status_code == 422 and approve_banned.json()["error"]["code"] == "reply_fails_lint"
    assert client.get(f"/v1/replies/{reply['id']}", headers=editor).json()["version"] == 2


def test_a_reply_read_with_get_can_be_put_back_whole(client, editor):
    reply = _new_reply(client, editor)
    read = client.get(f"/v1/replies/{reply['id']}", headers=editor).json()
    saved = client.put(
        f"/v1/replies/{reply['id']}", json={**read, "text": "亲，明天一早就发货哦"}, headers=editor
    )
    assert saved.status_code == 200, saved.text
    assert (saved.json()["id"], saved.json()["version"]) == (reply["id"], 2)
    other = client.put(
        f"/v1/replies/{reply['id']}", json={**saved.json(), "id": "someone-else"}, headers=editor
    )
    assert other.status_code == 422 and other.json()["error"]["code"] == "id_mismatch"
    patched = client.patch(
        f"/v1/replies/{reply['id']}", json={"version": 2, "id": "someone-else", "tags": []}, headers=editor
    )
    assert patched.status_code == 422 and patched.json()["error"]["code"] == "id_mismatch"
    unknown = client.put(f"/v1/replies/{reply['id']}", json={**saved.json(), "colour": "red"}, headers=editor)
    assert unknown.status_code == 422
    after = client.get(f"/v1/replies/{reply['id']}", headers=editor).json()
    assert (after["version"], after["text"], after["tags"]) == (2, "亲，明天一早就发货哦", ["发货"])


def test_a_rule_read_with_get_can_be_put_back_whole(client, editor):
    rule = {
        "id": "studio-rule-roundtrip",
        "category": "curt",
        "severity": "warn",
        "suggestion": "亲，我帮您看一下哦",
        "phrases": ["随便你"],
    }
    assert client.post("/v1/lint-rules", json=rule, headers=editor).status_code == 201
    read = client.get("/v1/lint-rules/studio-rule-roundtrip", headers=editor).json()
    saved = client.put(
        "/v1/lint-rules/studio-rule-roundtrip", json={**read, "phrases": ["随便您"]}, headers=editor
    )
    assert saved.status_code == 200, saved.text
    assert (saved.json()["id"], saved.json()["phrases"]) == ("studio-rule-roundtrip", ["随便您"])


def test_history_keeps_every_version(client, editor, keys):
    reply = _new_reply(client, editor)
    path = f"/v1/replies/{reply['id']}"
    client.patch(path, json={"version": 1, "text": "亲，明天发货哦"}, headers=editor)
    client.patch(path, json={"version": 2, "status": "approved"}, headers=editor)
    client.delete(f"{path}?version=3", headers=editor)
    versions = client.get(f"{path}/history", headers=editor).json()
    assert [v["version"] for v in versions] == [1, 2, 3, 4]
    assert [v["data"]["status"] for v in versions] == ["draft", "draft", "approved", "retired"]
    assert (
        versions[0]["data"]["text"] == "亲，今天下单明天就发货哦"
        and versions[1]["data"]["text"] == "亲，明天发货哦"
    )
    assert versions[0]["data"]["triggers"] == reply["triggers"]
    assert {v["actor"] for v in versions} == {"test-editor"} and all(v["created_at"] for v in versions)
    # The seeded corpus has its first version too; an unknown id is 404.
    assert client.get("/v1/replies/bargain-quality-service/history", headers=editor).json()[0]["version"] == 1
    missing = client.get("/v1/replies/no-such-reply/history", headers=editor)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_reply"
    assert client.get(f"{path}/history", headers=bearer(keys["agent"])).status_code == 403


def test_rule_history_and_patch(client, editor):
    rule_id = f"studio-rule-{uuid.uuid4().hex[:6]}"
    rule = {"id": rule_id, "category": "deflecting", "severity": "warn", "phrases": ["不归我们管"],
            "suggestion": "亲，这个我来帮您跟进处理哦～"}  # fmt: skip
    assert client.post("/v1/lint-rules", json=rule, headers=editor).status_code == 201
    patched = client.patch(f"/v1/lint-rules/{rule_id}", json={"version": 1, "enabled": False}, headers=editor)
    assert patched.status_code == 200 and patched.json()["phrases"] == ["不归我们管"]
    versions = client.get(f"/v1/lint-rules/{rule_id}/history", headers=editor).json()
    assert [(v["version"], v["data"]["enabled"]) for v in versions] == [(1, True), (2, False)]


def test_audit_is_paged_and_filtered(client, editor):
    reply = _new_reply(client, editor)
    client.patch(f"/v1/replies/{reply['id']}", json={"version": 1, "tags": ["x"]}, headers=editor)
    lines = client.get(f"/v1/audit?entity={reply['id']}", headers=editor).json()
    assert [line["action"] for line in lines] == ["update_reply", "create_reply"]  # newest first
    assert client.get(f"/v1/audit?entity={reply['id']}&limit=1&offset=1", headers=editor).json() == lines[1:]
    assert client.get("/v1/audit?actor=nobody", headers=editor).json() == []
    since = lines[0]["created_at"]
    assert [x["id"] for x in client.get("/v1/audit", params={"since": since, "entity": reply["id"]},
                                         headers=editor).json()] == [lines[0]["id"]]  # fmt: skip
    bad = client.get("/v1/audit?since=yesterday", headers=editor)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"


def test_search_finds_simplified_from_traditional_and_filters(client, editor):
    shop = f"shop-{uuid.uuid4().hex[:6]}"
    reply = _new_reply(client, editor, shop_id=shop, text="亲，这款发货很快，一般两天内发出哦")
    found = client.get("/v1/replies", params={"q": "發貨很快"}, headers=editor).json()
    assert reply["id"] in [r["id"] for r in found]
    by_shop = client.get("/v1/replies", params={"shop_id": shop}, headers=editor).json()
    assert [r["id"] for r in by_shop] == [reply["id"]]
    assert (
        client.get("/v1/replies", params={"shop_id": shop, "intent": "refund"}, headers=editor).json() == []
    )
    assert len(client.get("/v1/replies", params={"shop_id": shop, "tag": "发货"}, headers=editor).json()) == 1
    refunds = client.get(
        "/v1/replies", params={"intent": "refund", "status": "approved"}, headers=editor
    ).json()
    assert refunds and all("refund" in r["intents"] and r["status"] == "approved" for r in refunds)


def test_preview_lints_a_draft_and_ranks_it_for_buyer_messages(client, editor, keys):
    draft = {"text": "亲，可能吧，明天发", "intents": ["logistics"], "triggers": ["明天能到北极吗"],
             "messages": ["明天能到北极吗", "我要退款"]}  # fmt: skip
    response = client.post("/v1/replies/preview", json=draft, headers=editor)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is False and body["flags"][0]["rule_id"] == "uncertain-guess"
    first, second = body["ranks"]
    assert first["intent"] == "logistics" and first["rank"] == 1 and first["score"] > 0
    assert second["intent"] == "refund" and second["rank"] is None and second["top"]
    # Nothing was stored: the draft is not offered to agents.
    texts = [s["text"] for s in client.post("/v1/suggest", json={"text": "明天能到北极吗", "k": 10},
                                            headers=editor).json()["suggestions"]]  # fmt: skip
    assert "亲，可能吧，明天发" not in texts
    empty = client.post("/v1/replies/preview", json={**draft, "messages": ["\u200b "]}, headers=editor)
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "empty_text"
    assert client.post("/v1/replies/preview", json=draft, headers=bearer(keys["agent"])).status_code == 403


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/v1/replies?offset=100000000000000000000"),
        ("GET", f"/v1/lint-rules?offset={2**63}"),
        ("DELETE", "/v1/replies/any-id?version=100000000000000000000"),
    ],
)
def test_huge_integers_are_a_422_not_a_database_overflow(client, editor, method, path):
    answer = client.request(method, path, headers=editor)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "invalid_request"
    assert client.get("/healthz").status_code == 200


def test_huge_version_in_a_body_is_a_422(client, editor):
    reply = _new_reply(client, editor)
    answer = client.patch(
        f"/v1/replies/{reply['id']}", json={"version": 10**20, "text": "亲"}, headers=editor
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "invalid_request"


def test_rule_impact_names_the_approved_replies_a_rule_would_flag(client, editor, keys):
    reply = _new_reply(client, editor, text="亲，这款不归我们仓库管发货哦", status="approved")
    rule = {"category": "deflecting", "severity": "block", "phrases": ["不归我们仓库管"],
            "suggestion": "亲，这个我来帮您跟进处理哦～"}  # fmt: skip
    impact = client.post("/v1/lint-rules/impact", json=rule, headers=editor)
    assert impact.status_code == 200, impact.text
    body = impact.json()
    assert body["blocks"] is True and body["count"] == 1
    (flagged,) = body["replies"]
    assert flagged["reply_id"] == reply["id"] and flagged["flags"][0]["match"] == "不归我们仓库管"
    # What the impact says is what saving it does; a warn rule flags the reply and blocks nothing.
    saved = client.post("/v1/lint-rules", json={"id": f"r-{uuid.uuid4().hex[:6]}", **rule}, headers=editor)
    assert saved.status_code == 422 and saved.json()["error"]["code"] == "rule_blocks_approved_replies"
    warn = client.post("/v1/lint-rules/impact", json={**rule, "severity": "warn"}, headers=editor).json()
    assert warn["blocks"] is False and warn["count"] == 1
    useless = client.post("/v1/lint-rules/impact", json={**rule, "phrases": ["！！"]}, headers=editor)
    assert useless.status_code == 422 and useless.json()["error"]["code"] == "invalid_rule"
    assert client.post("/v1/lint-rules/impact", json=rule, headers=bearer(keys["agent"])).status_code == 403

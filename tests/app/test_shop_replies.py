"""Per-shop corpora through the API: a shop's reply overrides a global one answering the same
trigger when the request names that shop, and `GET /v1/replies?shop_id=` lists that shop's."""

from __future__ import annotations

import uuid

from tests.helpers import bearer


def _create(client, editor, **fields) -> dict:
    created = client.post("/v1/replies", json={"intents": ["logistics"], "status": "approved", **fields},
                          headers=editor)  # fmt: skip
    assert created.status_code == 201, created.text
    return created.json()


def test_a_shops_reply_overrides_the_global_one_for_that_shop(client, keys):
    editor, agent = bearer(keys["editor"]), bearer(keys["agent"])
    tag = uuid.uuid4().hex[:6]
    shop = f"shop-{tag}"
    trigger = "木头礼盒哪天能寄出来"  # our own phrasing, shared by both replies
    common = _create(client, editor, id=f"global-{tag}", text="亲，礼盒类商品付款后三天内寄出哦。",
                     triggers=[trigger])  # fmt: skip
    own = _create(client, editor, id=f"own-{tag}", shop_id=shop, text="亲，本店礼盒当天打包，次日寄出哦。",
                  triggers=[trigger])  # fmt: skip

    def offered(shop_id: str | None) -> list[str]:
        body = {"text": trigger, "k": 5, **({"shop_id": shop_id} if shop_id else {})}
        answer = client.post("/v1/suggest", json=body, headers=agent)
        assert answer.status_code == 200, answer.text
        return [s["reply_id"] for s in answer.json()["suggestions"]]

    for_shop, for_all, for_other = offered(shop), offered(None), offered(f"shop-other-{tag}")
    assert own["id"] in for_shop and common["id"] not in for_shop
    assert common["id"] in for_all and own["id"] not in for_all
    assert common["id"] in for_other and own["id"] not in for_other

    listed = client.get("/v1/replies", params={"shop_id": shop}, headers=editor)
    assert [r["id"] for r in listed.json()] == [own["id"]] and listed.json()[0]["shop_id"] == shop
    bad = client.get("/v1/replies", params={"shop_id": "x" * 121}, headers=editor)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
    for reply in (own, common):
        gone = client.delete(
            f"/v1/replies/{reply['id']}", params={"version": reply["version"]}, headers=editor
        )
        assert gone.status_code in (200, 204), gone.text

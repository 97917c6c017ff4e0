import { test } from "node:test";
import assert from "node:assert/strict";
import { fillSlots, segments } from "../panel/logic.js";
import { backoff, socketUrl } from "../panel/connection.js";

test("unfilled slots are reported and left as placeholders", () => {
  assert.deepEqual(fillSlots("原价{original_price}元", {}), { text: "原价{original_price}元", missing: ["original_price"] });
  assert.deepEqual(fillSlots("原价{original_price}元", { original_price: " 99 " }), { text: "原价99元", missing: [] });
});

test("spans count code points, so an emoji before a flag does not shift it", () => {
  assert.deepEqual(segments("😀可能吧", [{ start: 1, end: 4, severity: "block" }]), [
    { text: "😀" },
    { text: "可能吧", severity: "block" },
  ]);
});

test("backoff grows and is capped; the socket URL carries the key", () => {
  assert.deepEqual([0, 1, 2, 10].map(backoff), [500, 1000, 2000, 10000]);
  assert.equal(socketUrl("https://h.example/", "hs_x"), "wss://h.example/v1/ws?token=hs_x");
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { fillSlots, segments } from "../panel/logic.js";
import { CLOSE_BAD_KEY, Connection, backoff, socketProtocols, socketUrl } from "../panel/connection.js";

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

test("backoff grows and is capped; the socket URL never carries the key", () => {
  assert.deepEqual([0, 1, 2, 10].map(backoff), [500, 1000, 2000, 10000]);
  assert.equal(socketUrl("https://h.example/"), "wss://h.example/v1/ws");
  assert.equal(socketUrl("http://127.0.0.1:8000/any/path?token=old#x"), "ws://127.0.0.1:8000/v1/ws");
  assert.deepEqual(socketProtocols("hs_Ab-9_z"), ["huashu", "bearer.hs_Ab-9_z"]);
  // What a browser would refuse to offer (it throws) is refused here first, with a reason.
  for (const bad of ["hs_a b", "密钥", "hs_x,y", ""]) assert.equal(socketProtocols(bad), null, bad);
});

/** A stand-in WebSocket that records how it was opened. */
function fakeSocket() {
  const opened = [];
  class FakeSocket {
    constructor(url, protocols) { this.url = url; this.protocols = protocols; this.readyState = 0; this.sent = []; opened.push(this); }
    send(data) { this.sent.push(JSON.parse(data)); }
  }
  return { opened, FakeSocket };
}

test("the connection offers the key as a subprotocol, and a refused key is a clear error, not a retry", () => {
  const { opened, FakeSocket } = fakeSocket();
  const statuses = [];
  const connection = new Connection({ server: "http://127.0.0.1:8000", key: "hs_secret", WebSocketImpl: FakeSocket,
    onStatus: (status, message) => statuses.push([status, message]), onFrame: () => {} });
  assert.equal(opened.length, 1);
  assert.equal(opened[0].url, "ws://127.0.0.1:8000/v1/ws");
  assert.ok(!opened[0].url.includes("hs_secret"));
  assert.deepEqual(opened[0].protocols, ["huashu", "bearer.hs_secret"]);
  connection.send({ type: "ping" }); // queued until open
  opened[0].readyState = 1;
  opened[0].onopen();
  assert.deepEqual(opened[0].sent, [{ type: "ping" }]);
  clearInterval(connection.ping);
  opened[0].onclose({ code: CLOSE_BAD_KEY, reason: "unknown or revoked API key" });
  assert.deepEqual(statuses.at(-1), ["error", "服务器拒绝了 API 密钥（unknown or revoked API key），请检查选项页"]);
  assert.equal(opened.length, 1, "a refused key is not retried");
});

test("a key that cannot be a subprotocol is refused before any socket opens", () => {
  const { opened, FakeSocket } = fakeSocket();
  const statuses = [];
  new Connection({ server: "http://127.0.0.1:8000", key: "hs_有 空格", WebSocketImpl: FakeSocket,
    onStatus: (status, message) => statuses.push([status, message]), onFrame: () => {} });
  assert.equal(opened.length, 0);
  assert.equal(statuses.at(-1)[0], "error");
  assert.match(statuses.at(-1)[1], /API 密钥格式无效/);
});

test("apply fix: the span becomes the suggestion's quoted wording", async () => {
  const { applyFix } = await import("../panel/logic.js");
  const guess = { start: 5, end: 8, match: "可能吧", suggestion: "用肯定的语气回答；拿不准时说“亲，我马上为您核实一下，请稍等哦”。" };
  assert.equal(applyFix("亲，明天。可能吧", guess), "亲，明天。我马上为您核实一下，请稍等哦");
  const curt = { start: 0, end: 1, match: "嗯", suggestion: "不要只回一个字：把“嗯”换成“好的呢亲”，把“哦”换成“好的，亲，收到啦～”。" };
  assert.equal(applyFix("嗯", curt), "好的呢亲");
  const plain = { start: 0, end: 5, match: "我也不清楚", suggestion: "亲，这个问题我马上帮您核实，确认后第一时间回复您哦。" };
  assert.equal(applyFix("我也不清楚", plain), plain.suggestion);
});

test("the preview never shows a raw placeholder: unfilled slots show their Chinese name", async () => {
  const { preview } = await import("../panel/logic.js");
  const { SLOTS } = await import("../panel/labels.js");
  assert.equal(preview("{courier}发货，{days}天到", { days: "3" }, SLOTS), "【快递公司】发货，3天到");
  assert.equal(preview("{unknown_slot}", {}, SLOTS), "【unknown_slot】");
});

test("feedback: sent as inserted is used, changed is edited with what went out, 不合适 is dismissed", async () => {
  const { sentFeedback, suggestionFeedback } = await import("../panel/logic.js");
  const inserted = { reply_id: "r1", intent: "logistics", text: "亲，今天发货" };
  assert.deepEqual(sentFeedback(inserted, "亲，今天发货", "c1"),
    { type: "feedback", reply_id: "r1", intent: "logistics", conversation_id: "c1", action: "used" });
  assert.deepEqual(sentFeedback(inserted, "亲，今天下午发货", "c1"),
    { type: "feedback", reply_id: "r1", intent: "logistics", conversation_id: "c1", action: "edited", final_text: "亲，今天下午发货" });
  assert.equal(suggestionFeedback("dismissed", { reply_id: "r2", intent: "refund", text: "x" }, "c2").action, "dismissed");
});

test("take the nearest approved reply: shown only when the lint answer names one in the contract's shape", async () => {
  const { nearestReply, takeReplyView } = await import("../panel/logic.js");
  const flags = [{ start: 0, end: 3, match: "可能吧", severity: "block", category: "uncertain", suggestion: "…" }];
  // A lint answer from before the field existed, or with none for this draft: no button.
  assert.equal(takeReplyView({ type: "lint", ok: false, flags }, {}), null);
  assert.equal(takeReplyView({ type: "lint", ok: false, flags, nearest_reply: null }, {}), null);
  for (const bad of ["r1", { text: "亲" }, { reply_id: "r1", text: "  " }, { reply_id: 7, text: "亲" }]) {
    assert.equal(nearestReply({ nearest_reply: bad }), null, JSON.stringify(bad));
  }
  const answer = { type: "lint", ok: false, flags, nearest_reply: { reply_id: "logistics-03", text: "亲，{courier}发货，{days}天左右到", intent: "logistics" } };
  const waiting = takeReplyView(answer, { days: "3" }, { courier: "快递公司" });
  assert.deepEqual(waiting, { reply_id: "logistics-03", text: answer.nearest_reply.text, intent: "logistics",
    preview: "亲，【快递公司】发货，3天左右到", insertText: null, missing: ["courier"] });
  assert.equal(takeReplyView(answer, { days: "3", courier: "顺丰" }).insertText, "亲，顺丰发货，3天左右到");
});

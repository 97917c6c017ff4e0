// The site adapters against fixture pages (our assumption of each workbench, see the adapters'
// comments), in jsdom: which adapter a URL gets, who said what, the conversation, the input.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { JSDOM } from "jsdom";
import { BUILT_IN, adaptersFor } from "../content/adapters/index.js";
import { genericAdapter } from "../content/adapters/generic.js";
import { PageReader, matchesUrl, pickAdapter, readInput, writeInput } from "../content/reader.js";

const fixture = (name) => readFileSync(new URL(`fixtures/${name}.html`, import.meta.url), "utf8");
const page = (name, url) => new JSDOM(fixture(name), { url }).window.document;
const byId = Object.fromEntries(BUILT_IN.map((a) => [a.id, a]));

const CASES = [
  {
    id: "qianniu", profile: "taobao", url: "https://myseller.taobao.com/home.htm/app-customer-service/toolpage/Message", conversation: "tb_buyer_b",
    said: [["buyer", "这件有黑色吗"], ["seller", "亲，有的呢"], [null, "买家已下单，待付款"], ["buyer", "能便宜点吗"]],
    append: (doc, text) => {
      const row = doc.createElement("div");
      row.className = "imui-msg left";
      row.innerHTML = `<span class="nick">tb_buyer_b</span><div class="imui-msg-content"></div>`;
      row.lastChild.textContent = text;
      doc.querySelector(".imui-msg-list").append(row);
    },
  },
  {
    id: "jd", profile: "jd", url: "https://dongdong.jd.com/#/chat/jd%E4%B9%B0%E5%AE%B6_9", conversation: "jd买家_9",
    said: [["buyer", "什么时候发货"], ["seller", "亲，今天下午发出"], [null, "会话已转接"], ["buyer", "发什么快递"]],
    append: (doc, text) => {
      const row = doc.createElement("div");
      row.className = "dd-msg"; row.dataset.role = "customer";
      row.innerHTML = `<p class="dd-msg-text"></p><time>10:09</time>`;
      row.firstChild.textContent = text;
      doc.querySelector(".dd-chat-msgs").append(row);
    },
  },
  {
    id: "pinduoduo", profile: "pinduoduo", url: "https://mms.pinduoduo.com/chat-merchant/index.html#/", conversation: "pdd_uid_7",
    said: [["buyer", "我想退款"], ["seller", "亲，您好，请问有什么可以帮您"], [null, "买家正在浏览商品"], ["buyer", "再考虑一下"]],
    append: (doc, text) => {
      const row = doc.createElement("li");
      row.className = "msg-item buyer-item";
      row.innerHTML = `<div class="msg-content-box"></div>`;
      row.firstChild.textContent = text;
      doc.querySelector(".msg-list").append(row);
    },
  },
];

for (const c of CASES) {
  test(`${c.id}: the URL picks it, it reads who said what, the conversation, and new messages`, () => {
    const doc = page(c.id, c.url);
    const adapter = pickAdapter(BUILT_IN, {}, c.url);
    assert.equal(adapter?.id, c.id);
    const reader = new PageReader(adapter, doc);
    assert.deepEqual(reader.page(), { type: "page", adapter: c.id, adapterName: adapter.name, state: "ok", conversationId: c.conversation, profile: c.profile });
    const list = doc.querySelector(adapter.selectors.messageList);
    const rows = [...list.querySelectorAll(adapter.selectors.message)];
    assert.deepEqual(rows.map((row) => [adapter.author(row), adapter.text(row).trim()]), c.said);
    // The first scan sees the history; only its newest message is news.
    const first = reader.scan();
    assert.equal(first.changed, true);
    assert.deepEqual([first.message.type, first.message.text], ["buyer_message", c.said.at(-1)[1]]);
    assert.equal(reader.scan().message, null);
    c.append(doc, "那多少钱");
    const next = reader.scan();
    assert.equal(next.changed, false);
    assert.deepEqual([next.message.type, next.message.text, next.message.conversationId], ["buyer_message", "那多少钱", c.conversation]);
    // Insert puts the text in the input (a textarea or a rich editor) without sending.
    const input = reader.input();
    writeInput(input, "亲，好的呢");
    assert.equal(readInput(input), "亲，好的呢");
  });

  test(`${c.id}: switched off, it does not claim its pages`, () => {
    assert.equal(pickAdapter(BUILT_IN, { [c.id]: false }, c.url), null);
  });
}

test("each built-in adapter claims only its own sites", () => {
  assert.equal(pickAdapter(BUILT_IN, {}, "https://www.taobao.com/")?.id, undefined);
  assert.equal(pickAdapter(BUILT_IN, {}, "https://mms.pinduoduo.com/goods/list")?.id, undefined);
  assert.equal(pickAdapter(BUILT_IN, {}, "http://127.0.0.1:18101/demo/chat")?.id, "demo");
  assert.equal(byId.jd.conversationId(page("jd", "https://dd.jd.com/")), "jd_pin_from_list"); // no hash: the session list
});

test("match patterns follow Chrome's rules", () => {
  assert.ok(matchesUrl("https://*.example.com/chat/*", "https://a.b.example.com/chat/1?x=2"));
  assert.ok(matchesUrl("https://*.example.com/*", "https://example.com/"));
  assert.ok(!matchesUrl("https://*.example.com/*", "https://badexample.com/"));
  assert.ok(matchesUrl("*://shop.example/*", "http://shop.example/x"));
  assert.ok(!matchesUrl("https://shop.example/*", "http://shop.example/x"));
  assert.ok(matchesUrl("http://127.0.0.1/demo/*", "http://127.0.0.1:8000/demo/chat"), "Chrome ignores the port");
  assert.ok(!matchesUrl("not a pattern", "https://shop.example/"));
});

const GENERIC = {
  matches: "https://chat.shop.example/*", messageList: "#messages", message: ".message", buyer: ".buyer",
  input: "#chat-input", conversation: "#conversations li.active", conversationAttr: "data-conversation-id",
};

test("generic: the shop's selectors read a page; it comes before the built-in ones", () => {
  const url = "https://chat.shop.example/inbox";
  assert.equal(genericAdapter({ ...GENERIC, input: "" }), null, "not filled in enough to try");
  const adapter = pickAdapter(adaptersFor({ "huashu.generic": GENERIC }), {}, url);
  assert.equal(adapter.id, "generic");
  const reader = new PageReader(adapter, page("demo-like", url));
  const { page: state, message } = reader.scan();
  assert.equal(state.conversationId, "g1");
  assert.deepEqual([message.type, message.text], ["seller_message", "亲，默认中通"]);
  assert.equal(pickAdapter(adaptersFor({ "huashu.generic": GENERIC }), { generic: false }, url), null);
});

test("generic: with no conversation selector, the URL tells conversations apart", () => {
  const url = "https://chat.shop.example/inbox/42";
  const adapter = genericAdapter({ ...GENERIC, conversation: "" });
  assert.equal(new PageReader(adapter, page("demo-like", url)).page().conversationId, "generic:/inbox/42");
});

test("a wrong selector: searching at first, then 'cannot read this page' naming what is missing", () => {
  let clock = 0;
  const adapter = genericAdapter({ ...GENERIC, messageList: "#no-such-list", input: "textarea[" }); // the second is not even a selector
  const reader = new PageReader(adapter, page("demo-like", "https://chat.shop.example/"), { graceMs: 4000, now: () => clock });
  assert.equal(reader.scan().page.state, "searching");
  clock = 3999;
  assert.equal(reader.scan().changed, false);
  clock = 4000;
  const late = reader.scan();
  assert.equal(late.changed, true);
  assert.equal(late.page.state, "unreadable");
  assert.match(late.page.reason, /^无法读取此页面：通用适配器找不到消息列表（#no-such-list）和输入框（textarea\[）$/);
});

test("a chat that appears late is read once it is there", () => {
  let clock = 0;
  const doc = page("demo-like", "https://chat.shop.example/");
  const list = doc.querySelector("#messages");
  list.remove();
  const reader = new PageReader(genericAdapter(GENERIC), doc, { now: () => clock });
  clock = 10000;
  assert.equal(reader.scan().page.state, "unreadable");
  doc.body.prepend(list);
  const back = reader.scan();
  assert.deepEqual([back.changed, back.page.state], [true, "ok"]);
});

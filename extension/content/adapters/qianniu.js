// Taobao / Tmall 千牛 web workbench (接待中心 in the browser).
//
// NOT VERIFIED: we cannot reach Taobao from our machines, so these selectors are written to the
// shape we assume, and extension/test/fixtures/qianniu.html is that assumption, not a copy of the
// real page. Assumed: the workbench is a single-page app on myseller.taobao.com (or qn.taobao.com);
// the open conversation is the highlighted item of the contact list, which carries the buyer's
// nick in a data attribute; messages are rows in one scrolling list, the buyer's on the left
// ("left" / "other" in the row's class), ours on the right, system notices (订单卡片, 系统提示)
// rows without a side; the input is a contenteditable rich editor. Comma-separated selectors
// name the alternatives we expect. If a shop finds it wrong, the panel says 无法读取此页面, and the
// generic adapter (options page) takes the shop's own selectors for the same page.
import { nodeText } from "../reader.js";

const selectors = {
  messageList: ".imui-msg-list, [class*='message-list']",
  message: ".imui-msg, [class*='message-item']",
  input: ".imui-editor [contenteditable], [class*='editor'] [contenteditable='true']",
  text: ".imui-msg-content, [class*='message-content']",
  conversation: ".imui-contact-item.active, [class*='contact-item'][class*='active']",
};

export default {
  id: "qianniu",
  name: "千牛工作台",
  matches: ["https://myseller.taobao.com/*", "https://qn.taobao.com/*"],
  selectors,
  profile: "taobao", // the lint profile for this platform's rules (lint requests' `profile`)
  author(node) {
    const cls = node.className;
    if (/\b(left|other)\b/.test(cls)) return "buyer";
    if (/\b(right|self)\b/.test(cls)) return "seller";
    return null; // a system notice or an order card: neither side said it
  },
  conversationId(doc) {
    const item = doc.querySelector(selectors.conversation);
    return item?.dataset.nick || item?.dataset.cid || null;
  },
  text: (node) => nodeText(node, selectors.text),
  messageId: (node) => node.dataset.msgid ?? null,
};

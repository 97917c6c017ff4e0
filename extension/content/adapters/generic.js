// The generic adapter: for any other web chat, a shop sets these selectors in the options page
// (stored in chrome.storage.local under "huashu.generic"). It assumes only what every chat has:
// one list of messages, some way to tell the buyer's from ours, and an input box.
import { nodeText } from "../reader.js";

/** The shop's settings, as the options page stores them. */
export const FIELDS = [
  ["matches", "适用网址（Chrome 网址规则，如 https://chat.example.com/*）"],
  ["messageList", "消息列表"],
  ["message", "单条消息（在消息列表内）"],
  ["buyer", "买家消息（单条消息同时符合此选择器即为买家发的）"],
  ["seller", "我方消息（可留空：不是买家的都算我方）"],
  ["text", "消息文字（在单条消息内，可留空）"],
  ["input", "输入框"],
  ["conversation", "当前会话元素（可留空：用网址区分会话）"],
  ["conversationAttr", "会话标识所在属性（可留空：用该元素的文字）"],
];

const matchesSafe = (node, selector) => { try { return node.matches(selector); } catch { return false; } };

/** An adapter from the shop's settings; null when they are not filled in enough to try. */
export function genericAdapter(config) {
  const c = config ?? {};
  if (!c.matches || !c.messageList || !c.message || !c.buyer || !c.input) return null;
  return {
    id: "generic",
    name: "通用",
    matches: String(c.matches).split(/\s+/).filter(Boolean),
    selectors: { messageList: c.messageList, message: c.message, input: c.input, text: c.text || null },
    author(node) {
      if (matchesSafe(node, c.buyer)) return "buyer";
      return !c.seller || matchesSafe(node, c.seller) ? "seller" : null;
    },
    conversationId(doc) {
      if (!c.conversation) return null;
      let element = null;
      try { element = doc.querySelector(c.conversation); } catch { return null; }
      if (!element) return null;
      return (c.conversationAttr ? element.getAttribute(c.conversationAttr) : element.textContent?.trim()) || null;
    },
    text: (node) => nodeText(node, c.text || null),
  };
}

// The demo seller chat the server serves at /demo/chat (app/demo/chat.html): written with the
// page, so these selectors are known to be right; the browser tests run through it.
import { nodeText } from "../reader.js";

export default {
  id: "demo",
  name: "演示工作台",
  matches: ["http://127.0.0.1/demo/*", "http://localhost/demo/*"],
  selectors: { messageList: "#messages", message: ".message", input: "#chat-input" },
  author: (node) => (node.dataset.from === "buyer" ? "buyer" : node.dataset.from === "seller" ? "seller" : null),
  conversationId: (doc) => doc.querySelector("#messages")?.dataset.conversationId || null,
  text: (node) => nodeText(node),
  messageId: (node) => node.dataset.messageId ?? null,
};

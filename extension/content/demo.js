// Adapter for the demo seller chat (/demo/chat): reports buyer messages and the conversation to
// the panel over a port, and inserts a chosen reply into the chat input (never sends it).
(() => {
  "use strict";
  const SELECTORS = { messages: "#messages", message: ".message", input: "#chat-input" };
  const ports = new Set();
  const seen = new WeakSet();
  const post = (message) => ports.forEach((port) => port.postMessage(message));

  function state() {
    const list = document.querySelector(SELECTORS.messages);
    const input = document.querySelector(SELECTORS.input);
    if (!list || !input) return { type: "page", ok: false, reason: "无法读取此页面：找不到消息列表或输入框" };
    return { type: "page", ok: true, adapter: "demo", conversationId: list.dataset.conversationId };
  }
  let conversation = null;
  function scan() {
    const page = state();
    if (!page.ok) return post(page);
    if (page.conversationId !== conversation) { conversation = page.conversationId; post(page); }
    // Only the newest new message is news: a re-rendered list (a conversation switch) is history.
    let newest = null;
    for (const node of document.querySelectorAll(`${SELECTORS.messages} ${SELECTORS.message}`)) {
      if (!seen.has(node)) { seen.add(node); newest = node; }
    }
    if (newest) {
      post({ type: newest.dataset.from === "buyer" ? "buyer_message" : "seller_message", conversationId: conversation,
             text: newest.textContent, messageId: newest.dataset.messageId, at: performance.timeOrigin + performance.now() });
    }
  }
  new MutationObserver(scan).observe(document.body, { childList: true, subtree: true, attributes: true,
    attributeFilter: ["data-conversation-id"] });
  document.addEventListener("input", (event) => {
    if (event.target.matches?.(SELECTORS.input)) post({ type: "draft", conversationId: conversation, text: event.target.value });
  });

  chrome.runtime.onConnect.addListener((port) => {
    if (port.name !== "huashu-panel") return;
    ports.add(port);
    port.onDisconnect.addListener(() => ports.delete(port));
    port.onMessage.addListener((message) => {
      if (message.type !== "insert") return;
      const input = document.querySelector(SELECTORS.input);
      if (!input) return port.postMessage(state());
      input.value = message.text;
      input.dispatchEvent(new Event("input", { bubbles: true }));
      input.focus();
    });
    conversation = null;
    scan();
    port.postMessage(state());
  });
})();

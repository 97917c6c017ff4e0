// Reading a chat page through a site adapter: pure DOM logic (no chrome.* calls), so the same
// code runs in the content script and, against fixture HTML in jsdom, in extension/test/.

/** Whether a URL matches a Chrome match pattern ("https://*.example.com/chat/*", "<all_urls>"). */
export function matchesUrl(pattern, url) {
  if (pattern === "<all_urls>") return /^(https?|file):/.test(url);
  const parts = /^(\*|https?|file):\/\/(\*|(?:\*\.)?[^/*]*)(\/.*)$/.exec(pattern);
  if (!parts) return false;
  const [, scheme, host, path] = parts;
  let target;
  try { target = new URL(url); } catch { return false; }
  const targetScheme = target.protocol.slice(0, -1);
  if (scheme === "*" ? !["http", "https"].includes(targetScheme) : scheme !== targetScheme) return false;
  if (host !== "*") {
    if (host.startsWith("*.")) {
      const base = host.slice(2);
      if (target.hostname !== base && !target.hostname.endsWith(`.${base}`)) return false;
    } else if (target.hostname !== host) return false;
  }
  const glob = new RegExp(`^${path.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`);
  return glob.test(target.pathname + target.search);
}

/** The first adapter that is switched on and claims the URL; the shop's generic adapter first,
 * so a shop can override a built-in one on its own page. */
export function pickAdapter(adapters, enabled, url) {
  const ordered = [...adapters].sort((a, b) => (b.id === "generic") - (a.id === "generic"));
  return ordered.find((a) => enabled[a.id] !== false && a.matches.some((p) => matchesUrl(p, url))) ?? null;
}

/** Which selectors are wrong, for the "cannot read this page" message. */
function missingParts(adapter, doc) {
  const { messageList, input } = adapter.selectors;
  const missing = [];
  if (!safeQuery(doc, messageList)) missing.push(`消息列表（${messageList}）`);
  if (!safeQuery(doc, input)) missing.push(`输入框（${input}）`);
  return missing;
}

function safeQuery(root, selector) {
  try { return selector ? root.querySelector(selector) : null; } catch { return null; } // a malformed selector reads as not found
}

function safeQueryAll(root, selector) {
  try { return selector ? [...root.querySelectorAll(selector)] : []; } catch { return []; }
}

/** The chat input's text: a textarea's value or a rich editor's (contenteditable) text. */
export function readInput(input) {
  return editable(input) ? input.innerText ?? input.textContent ?? "" : input.value ?? "";
}

const editable = (node) => node.isContentEditable || ["", "true", "plaintext-only"].includes(node.getAttribute("contenteditable"));

/** Puts text into the chat input without sending it, the way a person typing would look to the
 * page's own code: the native value setter (React and Vue wrap `value`) and an input event, or
 * for a contenteditable editor the browser's insertText command, which its listeners hear. */
export function writeInput(input, text) {
  const view = input.ownerDocument.defaultView;
  input.focus();
  if (editable(input)) {
    const selection = view.getSelection();
    selection?.selectAllChildren(input);
    const done = input.ownerDocument.execCommand?.("insertText", false, text);
    if (!done || readInput(input) !== text) input.textContent = text;
  } else {
    const proto = input.tagName === "TEXTAREA" ? view.HTMLTextAreaElement.prototype : view.HTMLInputElement.prototype;
    Object.getOwnPropertyDescriptor(proto, "value").set.call(input, text);
  }
  input.dispatchEvent(new view.Event("input", { bubbles: true }));
}

export class PageReader {
  /** graceMs: how long a page may take to draw its chat (single-page workbenches load late)
   * before a missing message list or input is reported as "cannot read this page". */
  constructor(adapter, doc, { graceMs = 4000, now = () => Date.now() } = {}) {
    Object.assign(this, { adapter, doc, graceMs, now });
    this.since = now();
    this.seen = new WeakSet();
    this.conversationId = undefined;
  }

  /** {state: "ok" | "searching" | "unreadable", ...} — searching until graceMs has passed. */
  page() {
    const { adapter, doc } = this;
    const missing = missingParts(adapter, doc);
    const base = { type: "page", adapter: adapter.id, adapterName: adapter.name };
    if (missing.length) {
      const late = this.now() - this.since >= this.graceMs;
      return late
        ? { ...base, state: "unreadable", reason: `无法读取此页面：${adapter.name}适配器找不到${missing.join("和")}` }
        : { ...base, state: "searching", reason: "正在查找聊天窗口…" };
    }
    const id = adapter.conversationId(doc) || `${adapter.id}:${doc.location?.pathname ?? ""}`;
    return { ...base, state: "ok", conversationId: String(id), profile: adapter.profile ?? null };
  }

  /** The input element, or null. */
  input() {
    return safeQuery(this.doc, this.adapter.selectors.input);
  }

  /** What changed since the last scan: the page state when it changed (a conversation switch, a
   * chat that appeared or vanished), and the newest message not seen before, if any. Only the
   * newest is news: a list drawn anew (a conversation switch) is history, and its last message
   * is the one still waiting for an answer. */
  scan() {
    const page = this.page();
    const key = page.state === "ok" ? `ok:${page.conversationId}` : page.state;
    const changed = key !== this.lastKey;
    this.lastKey = key;
    if (page.state !== "ok") return { page, changed, message: null };
    const list = safeQuery(this.doc, this.adapter.selectors.messageList);
    let newest = null;
    for (const node of safeQueryAll(list, this.adapter.selectors.message)) {
      if (!this.seen.has(node)) { this.seen.add(node); newest = node; }
    }
    let message = null;
    const author = newest && this.adapter.author(newest);
    const text = newest && this.adapter.text(newest).trim();
    if (author && text) {
      message = { type: author === "buyer" ? "buyer_message" : "seller_message", conversationId: page.conversationId,
                  text, messageId: this.adapter.messageId?.(newest) ?? null };
    }
    return { page, changed, message };
  }
}

/** The text of a message node: its bubble's text when the adapter names one, else the node's. */
export function nodeText(node, selector) {
  const bubble = selector ? safeQuery(node, selector) : null;
  return (bubble ?? node).textContent ?? "";
}

// The content script proper (loaded by loader.js): picks the site adapter for this page, watches
// the page with a MutationObserver, and talks to the side panel over a port: page state, buyer
// and seller messages and the draft go out; "insert" comes in (it never sends anything).
import { adaptersFor } from "./adapters/index.js";
import { PageReader, pickAdapter, readInput, writeInput } from "./reader.js";

const SETTINGS = ["huashu.adapters", "huashu.generic"];
const ports = new Set();
const post = (message) => ports.forEach((port) => port.postMessage(message));
let reader = null;
let page = null;
let recheck = null;

async function setup() {
  const settings = await chrome.storage.local.get(SETTINGS);
  const adapter = pickAdapter(adaptersFor(settings), settings["huashu.adapters"] ?? {}, location.href);
  reader = adapter ? new PageReader(adapter, document) : null;
  // A frame no adapter claims leaves the panel's port: the panel then says this tab cannot be read.
  if (!reader) ports.forEach((port) => port.disconnect());
  scan(true);
}

function scan(force = false) {
  if (!reader) return;
  const result = reader.scan();
  page = result.page;
  if (result.changed || force) post(page);
  if (page.state === "searching" && !recheck) {
    // Nothing on the page may change while the chat is missing: look again once the grace is over.
    recheck = setTimeout(() => { recheck = null; scan(); }, reader.graceMs + 50);
  }
  if (result.message) post({ ...result.message, at: performance.timeOrigin + performance.now() });
}

new MutationObserver(() => scan()).observe(document.documentElement, {
  childList: true, subtree: true, characterData: false, attributes: true,
  attributeFilter: ["class", "data-conversation-id", "data-cid", "data-nick", "data-pin", "data-uid"],
});
addEventListener("hashchange", () => scan());
chrome.storage.onChanged.addListener((changes, area) => {
  if (area === "local" && SETTINGS.some((key) => key in changes)) ready = setup();
});

document.addEventListener("input", (event) => {
  const input = reader?.input();
  if (input && (input === event.target || input.contains(event.target)) && page?.state === "ok") {
    post({ type: "draft", conversationId: page.conversationId, text: readInput(input) });
  }
}, true);

// Alt+1…Alt+3 in the chat page insert that suggestion (the panel does the inserting, as for its
// own buttons). event.code, not key: Alt+digit types other characters on some layouts. Taken
// in the capture phase, before the page's own handlers, and the default action is prevented.
export const SHORTCUTS = { Digit1: 0, Digit2: 1, Digit3: 2 };
document.addEventListener("keydown", (event) => {
  if (!event.altKey || event.ctrlKey || event.metaKey || event.shiftKey || !(event.code in SHORTCUTS)) return;
  if (!reader || !ports.size) return;
  event.preventDefault();
  event.stopPropagation();
  post({ type: "shortcut", index: SHORTCUTS[event.code] });
}, true);

let ready = null;
chrome.runtime.onConnect.addListener(async (port) => {
  if (port.name !== "huashu-panel") return;
  await ready;
  if (!reader) { port.disconnect(); return; }
  ports.add(port);
  port.onDisconnect.addListener(() => ports.delete(port));
  port.onMessage.addListener((message) => {
    if (message.type !== "insert") return;
    const input = reader?.input();
    if (!input) { scan(true); return; }
    writeInput(input, message.text);
  });
  scan();
  port.postMessage(page);
});

ready = setup();

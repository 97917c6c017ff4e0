// The side panel: it owns the WebSocket to the Huashu server (the MV3 service worker sleeps, the
// panel page lives while it is open) and a port to the chat tab's content script.
import { Connection } from "./connection.js";
import { CATEGORIES, INTENTS, SEVERITIES, SLOTS, label } from "./labels.js";
import { applyFix, fillSlots, highlight, preview, sentFeedback, suggestionFeedback, takeReplyView } from "./logic.js";

const $ = (id) => document.getElementById(id);
const state = { conversationId: null, suggestions: [], slotValues: {}, inserted: null, updaters: [] };
let tabId = Number(new URLSearchParams(location.search).get("tabId")) || null;
let port = null;

const { "huashu.server": server, "huashu.key": key } = await chrome.storage.local.get(["huashu.server", "huashu.key"]);
const connection = new Connection({
  server, key,
  onStatus: (status, message) => {
    $("status").textContent = message;
    $("status").className = `status ${status}`;
    $("status").dataset.state = status;
  },
  onFrame: handleFrame,
});

function handleFrame(frame) {
  if (frame.type === "suggestions" && frame.conversation_id === state.conversationId) renderSuggestions(frame);
  else if (frame.type === "lint") renderFlags(frame);
}

function renderSuggestions(frame) {
  const unsure = frame.intent === "other";
  $("intent").textContent = unsure ? `拿不准（${frame.confidence.toFixed(2)}）` : `${label(INTENTS, frame.intent)} ${frame.confidence.toFixed(2)}`;
  $("intent").dataset.intent = frame.intent;
  state.suggestions = frame.suggestions;
  paintSuggestions();
  requestAnimationFrame(() => { document.body.dataset.paintedAt = String(performance.timeOrigin + performance.now()); });
  for (const s of frame.suggestions) connection.send(suggestionFeedback("shown", s, state.conversationId));
}

function paintSuggestions() {
  state.updaters = [];
  $("suggestions").replaceChildren(...state.suggestions.map((s, i) => suggestionElement(s, i)));
}

/** The agent says a suggestion does not fit: it goes, and the server hears "dismissed". (A
 * suggestion replaced by the next buyer message unused is not counted as dismissed: it was
 * shown and not used, which the shown/used counts already say.) */
function dismiss(i) {
  const [s] = state.suggestions.splice(i, 1);
  if (!s) return;
  connection.send(suggestionFeedback("dismissed", s, state.conversationId));
  paintSuggestions();
}

function suggestionElement(s, i) {
  const li = document.createElement("li");
  li.dataset.testid = "suggestion";
  li.dataset.replyId = s.reply_id;
  const text = document.createElement("div");
  text.dataset.template = s.text;
  text.className = "reply";
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = `${label(INTENTS, s.intent)} · 匹配度 ${s.score.toFixed(2)}${s.missing_slots.length ? ` · 待填：${s.missing_slots.map((slot) => label(SLOTS, slot)).join("、")}` : ""}`;
  const fields = s.missing_slots.map((slot) => {
    const field = document.createElement("input");
    field.placeholder = `填写${label(SLOTS, slot)}`; field.dataset.slot = slot;
    field.value = state.slotValues[slot] ?? "";
    field.oninput = () => { state.slotValues[slot] = field.value; state.updaters.forEach((u) => u()); state.takeUpdate?.(); };
    return field;
  });
  const button = document.createElement("button");
  button.dataset.testid = "insert";
  button.textContent = i < 3 ? `插入（Alt+${i + 1}）` : "插入";
  const update = () => {
    text.textContent = preview(s.text, state.slotValues, SLOTS);
    button.disabled = fillSlots(s.text, state.slotValues).missing.length > 0;
  };
  state.updaters.push(update);
  update();
  button.onclick = () => insert(i);
  const drop = document.createElement("button");
  drop.dataset.testid = "dismiss";
  drop.textContent = "不合适";
  drop.title = "隐藏这条建议，并告诉服务器它不合适";
  drop.onclick = () => dismiss(i);
  li.append(text, meta, ...fields, button, " ", drop);
  return li;
}

function insert(i) {
  const s = state.suggestions[i];
  if (!s || !port) return;
  const { text, missing } = fillSlots(s.text, state.slotValues);
  if (missing.length) return; // never insert a raw {placeholder}
  state.inserted = { reply_id: s.reply_id, intent: s.intent, text };
  port.postMessage({ type: "insert", text });
}

function renderFlags(frame) {
  if (!state.draft?.trim()) return; // an answer for a draft the agent has since cleared
  $("draft").replaceChildren(...highlight(state.draft || "", frame.flags));
  $("flags").replaceChildren(...frame.flags.map((flag) => {
    const li = document.createElement("li");
    li.dataset.testid = "lint-flag";
    li.dataset.severity = flag.severity;
    li.dataset.category = flag.category;
    li.textContent = `${label(SEVERITIES, flag.severity)} · ${label(CATEGORIES, flag.category)} · “${flag.match}” → ${flag.suggestion} `;
    const fix = document.createElement("button");
    fix.dataset.testid = "apply-fix";
    fix.textContent = "一键改正";
    const draft = state.draft || "";
    fix.onclick = () => port?.postMessage({ type: "insert", text: applyFix(draft, flag) });
    li.append(fix);
    return li;
  }));
  state.lintFrame = frame;
  renderTakeReply();
}

/** "改用审核话术": the approved reply nearest to the draft (when the lint answer names one), put in
 * the input instead of the draft; its slots are filled first, like a suggestion's. Sending it
 * then records used / edited feedback for that reply. */
function renderTakeReply() {
  state.takeUpdate = null;
  const first = takeReplyView(state.lintFrame, state.slotValues, SLOTS);
  if (!first) { $("take").replaceChildren(); return; }
  const box = document.createElement("div");
  box.dataset.testid = "nearest-reply";
  box.dataset.replyId = first.reply_id;
  const text = Object.assign(document.createElement("div"), { className: "reply" });
  const fields = first.missing.map((slot) => {
    const field = Object.assign(document.createElement("input"), { placeholder: `填写${label(SLOTS, slot)}` });
    field.dataset.slot = slot;
    field.oninput = () => { state.slotValues[slot] = field.value; state.updaters.forEach((u) => u()); update(); };
    return field;
  });
  const take = Object.assign(document.createElement("button"), { textContent: "改用这条审核话术" });
  take.dataset.testid = "take-reply";
  let view = first;
  const update = () => {
    view = takeReplyView(state.lintFrame, state.slotValues, SLOTS);
    text.textContent = `审核话术：${view.preview}`;
    take.disabled = !view.insertText;
  };
  state.takeUpdate = update;
  update();
  take.onclick = () => {
    if (!view.insertText || !port) return;
    state.inserted = { reply_id: view.reply_id, intent: view.intent, text: view.insertText };
    port.postMessage({ type: "insert", text: view.insertText });
  };
  box.append(text, ...fields, take);
  $("take").replaceChildren(box);
}

/** The page state the content script reports: ok, searching (the chat has not appeared yet) or
 * unreadable (an adapter's selector found nothing, or no adapter claims the tab). */
function showPage(pageState, text) {
  $("page").dataset.state = pageState;
  $("page").textContent = text;
}

let draftTimer = null;
/** The draft to lint, under the platform's lint profile when the adapter names one; an emptied
 * input clears the flags instead (there is nothing left to check). */
function sendDraft() {
  if (!state.draft.trim()) {
    state.lintFrame = null;
    $("flags").replaceChildren(); $("draft").replaceChildren(); renderTakeReply();
    return;
  }
  connection.send({ type: "draft", text: state.draft, conversation_id: state.conversationId,
                    ...(state.profile ? { profile: state.profile } : {}) });
}
function onPage(message) {
  if (message.type === "page") {
    showPage(message.state, message.state === "ok" ? `${message.adapterName} · 会话 ${message.conversationId}` : message.reason);
    if (message.state === "ok" && message.conversationId !== state.conversationId) {
      state.conversationId = message.conversationId;
      state.profile = message.profile ?? null;
      state.suggestions = []; state.inserted = null; state.lintFrame = null;
      $("flags").replaceChildren(); $("draft").replaceChildren(); renderTakeReply();
      $("suggestions").replaceChildren(); $("intent").textContent = "—"; delete $("intent").dataset.intent;
    }
  } else if (message.type === "shortcut") {
    insert(message.index);
  } else if (message.type === "buyer_message") {
    connection.send({ type: "buyer_message", conversation_id: message.conversationId, text: message.text });
  } else if (message.type === "draft") {
    state.draft = message.text;
    clearTimeout(draftTimer);
    draftTimer = setTimeout(sendDraft, 120);
  } else if (message.type === "seller_message" && state.inserted) {
    connection.send(sentFeedback(state.inserted, message.text, message.conversationId));
    state.inserted = null;
  }
}

async function bind() {
  if (!tabId) [{ id: tabId }] = await chrome.tabs.query({ active: true, currentWindow: true });
  port = chrome.tabs.connect(tabId, { name: "huashu-panel" });
  port.onMessage.addListener(onPage);
  port.onDisconnect.addListener(() => {
    void chrome.runtime.lastError;
    port = null;
    showPage("unreadable", "无法读取此页面：此标签页没有启用的站点适配器（见选项页）");
    setTimeout(bind, 1000);
  });
}

// The same shortcuts while the panel has focus (the chat page's come as "shortcut" messages).
document.addEventListener("keydown", (event) => {
  const index = { Digit1: 0, Digit2: 1, Digit3: 2 }[event.code];
  if (!event.altKey || event.ctrlKey || event.metaKey || index === undefined) return;
  event.preventDefault();
  insert(index);
});
bind();

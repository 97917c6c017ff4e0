// Pure panel logic, unit-tested in Node (extension/test/).
const SLOT = /\{(\w+)\}/g;

/** Fills {slot} placeholders from values; returns the text and the slots still unfilled. */
export function fillSlots(text, values) {
  const missing = [];
  const filled = text.replace(SLOT, (whole, name) => {
    const value = (values[name] ?? "").trim();
    if (!value) { missing.push(name); return whole; }
    return value;
  });
  return { text: filled, missing };
}

/** The reply as the agent will send it: filled slots show their value, unfilled ones their name
 * (from names, e.g. 【快递公司】), so the panel never shows a raw {placeholder}. */
export function preview(text, values, names = {}) {
  return text.replace(SLOT, (whole, name) => (values[name] ?? "").trim() || `【${names[name] ?? name}】`);
}

/** The draft split into text and <mark> nodes at the flags' spans. The server's offsets count
 * code points (Python), so the text is indexed with Array.from, not UTF-16 units. */
export function segments(text, flags) {
  const chars = Array.from(text);
  const spans = [...flags].sort((a, b) => a.start - b.start);
  const out = [];
  let at = 0;
  for (const flag of spans) {
    if (flag.start < at) continue;
    if (flag.start > at) out.push({ text: chars.slice(at, flag.start).join("") });
    out.push({ text: chars.slice(flag.start, flag.end).join(""), severity: flag.severity });
    at = flag.end;
  }
  if (at < chars.length) out.push({ text: chars.slice(at).join("") });
  return out;
}

export function highlight(text, flags) {
  return segments(text, flags).map((part) => {
    if (!part.severity) return document.createTextNode(part.text);
    const mark = document.createElement("mark");
    mark.className = part.severity;
    mark.textContent = part.text;
    return mark;
  });
}

/** The better wording a flag's suggestion offers: the Y of 把“X”换成“Y” for this match, else its
 * first quoted wording, else the suggestion itself (a whole sentence to say instead). */
export function replacementFor(flag) {
  const text = flag.suggestion;
  for (const [, from, to] of text.matchAll(/把“([^”]+)”换成“([^”]+)”/g)) {
    if (from === flag.match) return to;
  }
  const quoted = text.match(/“([^”]+)”/);
  return quoted ? quoted[1] : text;
}

/** The draft with the flag's span replaced by the better wording (a leading 亲， is dropped when
 * the span is not at the start, so the draft does not greet twice). */
export function applyFix(draft, flag) {
  const chars = Array.from(draft);
  let wording = replacementFor(flag);
  if (flag.start > 0) wording = wording.replace(/^亲[，,]\s*/, "");
  return chars.slice(0, flag.start).join("") + wording + chars.slice(flag.end).join("");
}

/** The feedback frame for a reply the agent inserted and then sent: "used" when it went out as
 * inserted, "edited" with the text that went out when the agent changed it first. */
export function sentFeedback(inserted, sentText, conversationId) {
  const { reply_id, intent, text } = inserted;
  const unchanged = sentText.trim() === text.trim();
  return { type: "feedback", reply_id, intent, conversation_id: conversationId,
           action: unchanged ? "used" : "edited", ...(unchanged ? {} : { final_text: sentText }) };
}

/** The feedback frame for a suggestion shown or dismissed (the agent's 不合适 button). */
export function suggestionFeedback(action, suggestion, conversationId) {
  return { type: "feedback", reply_id: suggestion.reply_id, intent: suggestion.intent, action, conversation_id: conversationId };
}

/** The lint answer's nearest approved reply ({reply_id, text, intent}), or null when the answer
 * has none or it is not in that shape (a server from before the field existed sends none). */
export function nearestReply(frame) {
  const reply = frame?.nearest_reply;
  if (!reply || typeof reply !== "object") return null;
  const { reply_id, text, intent } = reply;
  if (typeof reply_id !== "string" || !reply_id || typeof text !== "string" || !text.trim()) return null;
  return { reply_id, text, intent: typeof intent === "string" ? intent : null };
}

/** What the panel shows for "take the nearest approved reply instead": the reply as it would be
 * inserted, the slots still to fill, and whether it may be inserted yet. */
export function takeReplyView(frame, values, names = {}) {
  const reply = nearestReply(frame);
  if (!reply) return null;
  const { text, missing } = fillSlots(reply.text, values);
  return { ...reply, preview: preview(reply.text, values, names), insertText: missing.length ? null : text, missing };
}

// Live lint as the editor types: debounced /v1/lint, spans highlighted, better wording offered.
import { api } from "./api.js";
import { SEVERITIES, applyFix, categoryLabel, replacementFor, segments } from "./logic.js";
import { debounce, explain, h } from "./ui.js";

const LINT_DEBOUNCE_MS = 150;

/** Wires a textarea to a highlighted mirror and a flag list; `onFix` gets the fixed text. */
export function liveLint(textarea, { onChange = () => {} } = {}) {
  const mirror = h("div", { class: "mirror", testid: "lint-mirror", "aria-hidden": "true" });
  const status = h("p", { class: "muted", testid: "lint-status" });
  const list = h("ul", { class: "flags" });
  const nearest = h("div");
  let asked = 0;
  let flags = [];

  const paint = (text) => {
    mirror.replaceChildren(...segments(text, flags).map((part) =>
      part.flag ? h("mark", { class: part.flag.severity, title: part.flag.suggestion }, part.text) : part.text));
  };
  const run = async () => {
    const text = textarea.value;
    const mine = ++asked;
    if (!text.trim()) { flags = []; paint(""); list.replaceChildren(); status.textContent = ""; return; }
    let answer;
    try {
      answer = await api("POST", "/v1/lint", { body: { text } });
    } catch (error) {
      if (mine === asked) status.textContent = explain(error);
      return;
    }
    if (mine !== asked || text !== textarea.value) return; // typed on since: a newer answer comes
    flags = answer.flags;
    paint(text);
    status.className = flags.length ? "muted" : "lint-ok";
    status.textContent = flags.length ? `发现 ${flags.length} 处问题` : "✓ 未发现禁用语";
    list.replaceChildren(...flags.map((flag) => flagItem(flag, text)));
    nearest.replaceChildren(...(answer.nearest_reply ? [h("p", { class: "muted" },
      "最接近的已批准回复：", h("span", { testid: "nearest-reply" }, answer.nearest_reply.text),
      ` （${answer.nearest_reply.reply_id}）`)] : []));
  };
  const flagItem = (flag, text) => {
    const wording = replacementFor(flag);
    return h("li", { testid: "lint-flag", "data-severity": flag.severity, "data-rule": flag.rule_id },
      h("span", { class: `sev ${flag.severity}` }, SEVERITIES[flag.severity]),
      `「${flag.match}」 `, h("span", { class: "muted" }, `${categoryLabel(flag.category)} · ${flag.rule_id}`),
      h("div", {}, "建议：", flag.suggestion),
      wording && h("button", { type: "button", testid: "apply-fix", onclick: () => {
        textarea.value = applyFix(text, flag);
        textarea.dispatchEvent(new Event("input", { bubbles: true }));
      } }, `改为「${wording}」`));
  };
  const soon = debounce(run, LINT_DEBOUNCE_MS);
  textarea.addEventListener("input", () => { paint(textarea.value); soon(); onChange(); });
  paint(textarea.value);
  run();
  return { nodes: [mirror, status, list, nearest], refresh: run };
}

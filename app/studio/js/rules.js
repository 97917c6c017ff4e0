// Banned-phrasing rules: the list (enable / disable in place), one rule's editor with the
// approved replies it would flag or block, and its history.
import { api } from "./api.js";
import { CATEGORIES, SEVERITIES, categoryLabel, commaList, lines } from "./logic.js";
import { versionHistory } from "./history.js";
import { debounce, explain, h, toast } from "./ui.js";

export async function ruleList(container) {
  const body = h("tbody");
  const summary = h("p", { class: "summary" });
  container.append(h("h2", {}, "禁用语规则"),
    h("p", { class: "row" }, h("a", { class: "button primary", href: "#/rule" }, "新建规则"),
      h("span", { class: "muted" }, "“禁止”级规则会拦截客服的草稿，也不允许它拦截任何已批准的回复；“提醒”只提示。")),
    summary,
    h("table", { class: "list" },
      h("thead", {}, h("tr", {}, ["编号", "类别", "级别", "禁用短语", "更好的说法", "启用"].map((t) => h("th", {}, t)))), body));
  const load = async () => {
    let rules;
    try { rules = await api("GET", "/v1/lint-rules", { query: { limit: 1000 } }); } catch (error) { summary.textContent = explain(error); return; }
    summary.textContent = `共 ${rules.length} 条规则，启用 ${rules.filter((r) => r.enabled).length} 条`;
    body.replaceChildren(...rules.map((rule) => {
      const open = () => { location.hash = `#/rule/${encodeURIComponent(rule.id)}`; };
      const toggle = h("button", { type: "button", testid: "toggle-rule", onclick: async (event) => {
        event.stopPropagation();
        try {
          await api("PATCH", `/v1/lint-rules/${encodeURIComponent(rule.id)}`, { body: { version: rule.version, enabled: !rule.enabled } });
          toast(rule.enabled ? `已停用 ${rule.id}` : `已启用 ${rule.id}`);
        } catch (error) { toast(explain(error), "error"); }
        load();
      } }, rule.enabled ? "停用" : "启用");
      return h("tr", { testid: "rule-row", "data-id": rule.id, class: rule.enabled ? "" : "disabled", onclick: open },
        h("td", { class: "id" }, rule.id),
        h("td", {}, categoryLabel(rule.category)),
        h("td", {}, h("span", { class: `sev ${rule.severity}` }, SEVERITIES[rule.severity])),
        h("td", { class: "text" }, rule.kind === "single_character" ? "（只回一个字）" : rule.phrases.join("、")),
        h("td", { class: "text" }, rule.suggestion),
        h("td", {}, h("span", { class: rule.enabled ? "lint-ok" : "muted" }, rule.enabled ? "启用 " : "停用 "), toggle));
    }));
  };
  await load();
}

export async function ruleEditor(container, { arg }) {
  let rule = null;
  if (arg) {
    try { rule = await api("GET", `/v1/lint-rules/${encodeURIComponent(arg)}`); } catch (error) {
      container.append(h("p", { class: "error" }, explain(error))); return;
    }
  }
  let version = rule?.version ?? null;
  const id = h("input", { type: "text", testid: "rule-id", value: rule?.id || "", placeholder: "例如 deflecting" });
  const category = h("input", { type: "text", testid: "rule-category", list: "categories", value: rule?.category || "" });
  const severity = h("select", { testid: "rule-severity" }, Object.entries(SEVERITIES).map(([v, t]) => h("option", { value: v, selected: rule?.severity === v }, t)));
  const kind = h("select", { testid: "rule-kind" },
    h("option", { value: "phrase", selected: rule?.kind !== "single_character" }, "短语"),
    h("option", { value: "single_character", selected: rule?.kind === "single_character" }, "只回一个字"));
  const phrases = h("textarea", { testid: "rule-phrases", rows: 4, placeholder: "一行一个短语（忽略空格、标点、表情、全半角和繁简差异）" }, (rule?.phrases || []).join("\n"));
  const notBefore = h("input", { type: "text", testid: "rule-not-before", value: (rule?.not_before || []).join("，"), placeholder: "用逗号分隔，如：您，如果" });
  const notAfter = h("input", { type: "text", testid: "rule-not-after", value: (rule?.not_after || []).join("，"), placeholder: "用逗号分隔，如：次，天" });
  const suggestion = h("textarea", { testid: "rule-suggestion", rows: 2 }, rule?.suggestion || "");
  const enabled = h("input", { type: "checkbox", testid: "rule-enabled", checked: rule ? rule.enabled : true });
  const impact = h("div", { testid: "impact" });
  const problem = h("div", { testid: "rule-problem" });
  const fields = () => ({
    category: category.value.trim(), severity: severity.value, kind: kind.value, phrases: lines(phrases.value),
    not_before: commaList(notBefore.value), not_after: commaList(notAfter.value), suggestion: suggestion.value.trim(), enabled: enabled.checked,
  });

  let asked = 0;
  const checkImpact = async () => {
    const mine = ++asked;
    const body = fields();
    if (!body.category || !body.suggestion) { impact.replaceChildren(h("p", { class: "muted" }, "填好类别和更好的说法后，这里列出它会命中的已批准回复。")); return; }
    let answer;
    try { answer = await api("POST", "/v1/lint-rules/impact", { body }); } catch (error) {
      if (mine === asked) impact.replaceChildren(h("p", { class: "error" }, explain(error), detailList(error.detail)));
      return;
    }
    if (mine !== asked) return;
    const head = answer.count === 0 ? h("p", { class: "lint-ok" }, "✓ 不会命中任何已批准的回复")
      : h("p", { class: answer.blocks ? "refusal" : "muted" }, answer.blocks
        ? `这条“禁止”规则会拦截 ${answer.count} 条已批准的回复，保存会被拒绝：先改写它们，或把级别改为“提醒”。`
        : `会在 ${answer.count} 条已批准的回复上提示（“提醒”或未启用，不拦截）。`);
    impact.replaceChildren(head, h("ul", {}, answer.replies.map((r) => h("li", { testid: "impacted-reply" },
      h("a", { href: `#/reply/${encodeURIComponent(r.reply_id)}` }, r.reply_id), "：", r.text,
      h("span", { class: "muted" }, ` 命中「${r.flags.map((f) => f.match).join("」「")}」`)))));
  };
  const soon = debounce(checkImpact, 300);
  for (const input of [category, severity, kind, phrases, notBefore, notAfter, suggestion, enabled]) input.addEventListener("input", soon);

  const save = async () => {
    problem.replaceChildren();
    try {
      const saved = version === null
        ? await api("POST", "/v1/lint-rules", { body: { id: id.value.trim(), ...fields() } })
        : await api("PUT", `/v1/lint-rules/${encodeURIComponent(rule.id)}`, { body: { ...fields(), version } });
      toast(`已保存规则 ${saved.id}，版本 ${saved.version}`);
      if (!rule) { location.hash = `#/rule/${encodeURIComponent(saved.id)}`; return; }
      rule = saved; version = saved.version; historyView.refresh();
    } catch (error) {
      const current = error.code === "stale_edit" ? error.detail.current : null;
      problem.replaceChildren(h("div", { class: "gate", role: "alert" }, explain(error),
        current ? h("p", {}, `对方保存的版本 ${current.version}：${current.phrases.join("、")} → ${current.suggestion}`,
          h("button", { type: "button", onclick: () => { location.reload(); } }, "载入对方的版本")) : detailList(error.detail)));
    }
  };
  const historyView = rule ? versionHistory("lint-rules", rule.id) : { node: null, refresh() {} };
  container.append(
    h("p", {}, h("a", { href: "#/rules" }, "← 规则列表")),
    h("h2", {}, rule ? `编辑规则 ${rule.id}` : "新建规则"),
    h("datalist", { id: "categories" }, Object.entries(CATEGORIES).map(([v, t]) => h("option", { value: v }, t))),
    h("div", { class: "grid" },
      h("div", { class: "card" },
        rule ? null : h("label", { class: "field" }, h("span", {}, "编号"), id),
        h("label", { class: "field" }, h("span", {}, "类别（小写英文，如 uncertain）"), category),
        h("div", { class: "row" }, h("label", {}, "级别 ", severity), h("label", {}, "类型 ", kind), h("label", {}, enabled, " 启用")),
        h("label", { class: "field" }, h("span", {}, "禁用短语"), phrases),
        h("label", { class: "field" }, h("span", {}, "短语前面是这些时不算（如 您不清楚）"), notBefore),
        h("label", { class: "field" }, h("span", {}, "短语后面是这些时不算（如 第一次）"), notAfter),
        h("label", { class: "field" }, h("span", {}, "更好的说法（随标记显示给客服）"), suggestion),
        h("div", { class: "row" }, h("button", { type: "button", class: "primary", testid: "save", onclick: save }, "保存"),
          rule ? h("span", { class: "muted" }, `版本 ${rule.version}`) : null),
        problem),
      h("div", {}, h("div", { class: "card" }, h("h3", {}, "会命中的已批准回复"), impact), historyView.node)));
  checkImpact();
}

function detailList(detail) {
  if (!detail) return null;
  if (Array.isArray(detail)) return h("ul", {}, detail.map((d) => h("li", {}, typeof d === "string" ? d : `${(d.loc || []).join(".")} ${d.msg || JSON.stringify(d)}`)));
  if (detail.replies) return h("p", {}, `涉及：${detail.replies.join("、")}`);
  return h("pre", { class: "value" }, JSON.stringify(detail, null, 1));
}

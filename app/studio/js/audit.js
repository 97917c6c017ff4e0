// The audit log, newest first, filtered and paged.
import { api } from "./api.js";
import { ACTIONS } from "./logic.js";
import { explain, formatTime, h } from "./ui.js";

const PAGE = 50;

export async function auditLog(container, { params }) {
  const form = h("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); offset = 0; load(); } },
    h("label", {}, "起始时间 ", h("input", { type: "datetime-local", name: "since", value: params.since || "" })),
    h("label", {}, "操作人 ", h("input", { name: "actor", value: params.actor || "", size: 12 })),
    h("label", {}, "对象编号 ", h("input", { name: "entity", testid: "audit-entity", value: params.entity || "", size: 20 })),
    h("button", { type: "submit" }, "筛选"));
  const body = h("tbody");
  const pager = h("div", { class: "row" });
  let offset = 0;
  container.append(h("h2", {}, "审计日志"), form,
    h("table", { class: "list" }, h("thead", {}, h("tr", {}, ["时间", "操作人", "操作", "对象", "详情"].map((t) => h("th", {}, t)))), body), pager);
  async function load() {
    const values = Object.fromEntries(new FormData(form));
    const since = values.since ? new Date(values.since).toISOString() : undefined;
    let lines;
    try {
      lines = await api("GET", "/v1/audit", { query: { since, actor: values.actor, entity: values.entity, limit: PAGE + 1, offset } });
    } catch (error) { body.replaceChildren(h("tr", {}, h("td", { class: "error", colspan: 5 }, explain(error)))); return; }
    const more = lines.length > PAGE;
    body.replaceChildren(...lines.slice(0, PAGE).map((line) => h("tr", { testid: "audit-row" },
      h("td", {}, formatTime(line.created_at)), h("td", {}, line.actor), h("td", {}, ACTIONS[line.action] || line.action),
      h("td", { class: "id" }, targetLink(line)),
      h("td", { class: "text muted" }, JSON.stringify(line.detail)))));
    pager.replaceChildren(
      h("button", { type: "button", disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - PAGE); load(); } }, "上一页"),
      h("span", { class: "muted" }, `第 ${offset / PAGE + 1} 页`),
      h("button", { type: "button", disabled: !more, onclick: () => { offset += PAGE; load(); } }, "下一页"));
  }
  await load();
}

/** A link to the reply or rule a line is about (keys and imports have none). */
function targetLink(line) {
  const view = line.action.endsWith("_lint_rule") ? "rule" : line.action.endsWith("_reply") ? "reply" : null;
  return view ? h("a", { href: `#/${view}/${encodeURIComponent(line.target)}` }, line.target) : line.target;
}

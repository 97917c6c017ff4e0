// Every saved version of a reply or rule, and a diff between any two of them.
import { api } from "./api.js";
import { STATUSES, fieldDiff, fieldLabel } from "./logic.js";
import { explain, formatTime, h } from "./ui.js";

/** The text's changes from `older` to `newer`, character by character (jsdiff, vendored). */
export function textDiff(older, newer) {
  const parts = window.Diff.diffChars(String(older ?? ""), String(newer ?? ""));
  return h("pre", { class: "value", testid: "text-diff" }, parts.map((part) =>
    part.added ? h("ins", {}, part.value) : part.removed ? h("del", {}, part.value) : part.value));
}

const asText = (value) => (typeof value === "string" ? value : JSON.stringify(value, null, 1));

/** The history card of `/v1/{resource}/{id}`: versions, two pickers, their diff. */
export function versionHistory(resource, id, { onRestore } = {}) {
  const list = h("ol", { class: "versions", testid: "versions" });
  const from = h("select", { testid: "diff-from" });
  const to = h("select", { testid: "diff-to" });
  const diff = h("div", { testid: "history-diff" });
  let versions = [];
  const paintDiff = () => {
    const older = versions.find((v) => v.version === Number(from.value));
    const newer = versions.find((v) => v.version === Number(to.value));
    if (!older || !newer) { diff.replaceChildren(); return; }
    const changes = fieldDiff(older.data, newer.data);
    diff.replaceChildren(...(changes.length ? changes.map((c) => h("div", { class: "field" },
      h("span", {}, fieldLabel(c.field)),
      textDiff(asText(c.from), asText(c.to)))) : [h("p", { class: "muted" }, "这两个版本的内容相同")]));
  };
  from.addEventListener("change", paintDiff);
  to.addEventListener("change", paintDiff);
  const refresh = async () => {
    try {
      versions = await api("GET", `/v1/${resource}/${encodeURIComponent(id)}/history`);
    } catch (error) {
      list.replaceChildren(h("li", { class: "error" }, explain(error)));
      return;
    }
    list.replaceChildren(...[...versions].reverse().map((v) => h("li", { testid: "version" },
      `版本 ${v.version} · ${v.actor} · ${formatTime(v.created_at)} · ${v.data.status ? STATUSES[v.data.status] : v.data.enabled ? "启用" : "停用"}`,
      onRestore ? h("button", { type: "button", class: "small", onclick: () => onRestore(v.data) }, "载入此版本") : null)));
    const options = () => versions.map((v) => h("option", { value: v.version }, `版本 ${v.version}`));
    from.replaceChildren(...options());
    to.replaceChildren(...options());
    if (versions.length) {
      to.value = versions[versions.length - 1].version;
      from.value = versions[Math.max(0, versions.length - 2)].version;
    }
    paintDiff();
  };
  refresh();
  const node = h("div", { class: "card", testid: "history" }, h("h3", {}, "历史版本"), list,
    h("div", { class: "row" }, "比较 ", from, " → ", to), diff);
  return { node, refresh };
}

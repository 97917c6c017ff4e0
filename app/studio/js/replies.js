// The reply list: search (Simplified or Traditional), filters, sort by use rate, marks.
import { api, optional } from "./api.js";
import { INTENTS, STATUSES, intentLabel, marks, percent, shopLabel, sortByUseRate } from "./logic.js";
import { debounce, explain, h } from "./ui.js";

/** Per-reply usage from the analytics (a Map, empty when the server has none). */
export async function replyUsage() {
  const body = await optional("GET", "/v1/analytics/replies", { query: { limit: 1000 } });
  const rows = Array.isArray(body) ? body : body?.replies || [];
  return new Map(rows.map((row) => [row.reply_id, row]));
}

function select(name, label, options, value) {
  return h("label", {}, label, " ",
    h("select", { name }, h("option", { value: "" }, "全部"),
      Object.entries(options).map(([v, text]) => h("option", { value: v, selected: v === value }, text))));
}

export async function replyList(container, { params }) {
  const form = h("form", { class: "filters", onsubmit: (e) => e.preventDefault() },
    h("input", { name: "q", type: "search", testid: "search", placeholder: "搜索编号、文字、触发语或标签（简体或繁体均可）", value: params.q || "" }),
    select("intent", "意图", INTENTS, params.intent),
    select("status", "状态", STATUSES, params.status),
    h("label", {}, "店铺 ", h("input", { name: "shop_id", placeholder: "店铺编号", value: params.shop_id || "", size: 10 })),
    h("label", {}, "标签 ", h("input", { name: "tag", placeholder: "标签", value: params.tag || "", size: 8 })),
    select("sort", "排序", { use_desc: "使用率从高到低", use_asc: "使用率从低到高" }, params.sort),
    h("a", { class: "button primary", href: "#/reply" }, "新建回复"));
  const summary = h("p", { class: "summary" });
  const body = h("tbody");
  const table = h("table", { class: "list" },
    h("thead", {}, h("tr", {}, ["编号", "回复文字", "意图", "状态", "店铺", "标签", "使用率", "标记"].map((t) => h("th", {}, t)))),
    body);
  container.append(h("h2", {}, "回复"), form, summary, table);

  const usagePromise = replyUsage().catch(() => new Map());
  let shown = 0;
  const load = async () => {
    const values = Object.fromEntries(new FormData(form));
    // Keep the filters in the address, so reload and back keep the list as it was.
    const query = new URLSearchParams(Object.entries(values).filter(([, v]) => v)).toString();
    history.replaceState(null, "", `#/replies${query ? "?" + query : ""}`);
    const mine = ++shown;
    let replies;
    try {
      replies = await api("GET", "/v1/replies", {
        query: { q: values.q, intent: values.intent, status: values.status, shop_id: values.shop_id, tag: values.tag, limit: 1000 },
      });
    } catch (error) {
      summary.textContent = explain(error);
      return;
    }
    const usage = await usagePromise;
    if (mine !== shown) return;
    if (values.sort) replies = sortByUseRate(replies, usage, values.sort === "use_asc");
    summary.textContent = `共 ${replies.length} 条回复` + (usage.size ? "" : "（暂无使用数据）");
    body.replaceChildren(...replies.map((reply) => row(reply, usage.get(reply.id), usage.size > 0)));
  };
  form.addEventListener("input", debounce(load, 250));
  form.addEventListener("change", load);
  await load();
}

function row(reply, usage, haveUsage) {
  const open = () => { location.hash = `#/reply/${encodeURIComponent(reply.id)}`; };
  const marked = haveUsage && usage ? marks(usage) : [];
  return h("tr", { testid: "reply-row", "data-id": reply.id, tabindex: 0, onclick: open, onkeydown: (e) => e.key === "Enter" && open() },
    h("td", { class: "id" }, reply.id),
    h("td", { class: "text" }, reply.text),
    h("td", { class: "nowrap" }, reply.intents.map(intentLabel).join("、")),
    h("td", {}, h("span", { class: `status ${reply.status}` }, STATUSES[reply.status])),
    h("td", { class: reply.shop_id ? "shop nowrap" : "shop global nowrap" }, shopLabel(reply.shop_id)),
    h("td", {}, reply.tags.join("、")),
    h("td", { class: "num" }, percent(usage?.use_rate)),
    h("td", {}, marked.map((m) => h("span", { class: `mark ${m.kind}`, testid: m.kind }, m.label))));
}

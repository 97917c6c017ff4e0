// 分析: charts of how agents use the replies (Chart.js, vendored): use rate per intent over
// time, the top and never-used replies, abstentions per day, coverage gaps; and the replies
// agents edit most, with what they send instead.
import { api } from "./api.js";
import { INTENTS, intentLabel, percent } from "./logic.js";
import { explain, h } from "./ui.js";

const Chart = window.Chart;
Chart.defaults.font.family = '"Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif';
Chart.defaults.font.size = 12;
Chart.defaults.animation = false; // drawn at once: screenshots and tests see the final chart
Chart.defaults.maintainAspectRatio = false;
const COLORS = { bargaining: "#d9480f", hesitation: "#7048e8", logistics: "#1c7ed6", refund: "#2b8a3e", other: "#868e96" };
const TOP = 10;

function box(name, title, note) {
  const canvas = h("canvas", { testid: "chart", "data-chart": name, role: "img", "aria-label": title });
  const empty = h("p", { class: "muted empty", testid: "chart-empty" });
  return { canvas, empty, node: h("div", { class: "chart-box" }, h("h3", {}, title), note ? h("p", { class: "muted" }, note) : null, empty, h("div", { class: "chart-area" }, canvas)) };
}

function draw(chart, config, isEmpty, emptyText) {
  chart.empty.textContent = isEmpty ? emptyText : "";
  chart.canvas.parentElement.hidden = isEmpty;
  Chart.getChart(chart.canvas)?.destroy();
  if (!isEmpty) new Chart(chart.canvas, config);
}

const shortId = (id) => (id.length > 22 ? id.slice(0, 21) + "…" : id);
const hbar = (labels, datasets, { stacked = false, percentAxis = false, tooltipTitles } = {}) => ({
  type: "bar",
  data: { labels, datasets },
  options: {
    indexAxis: "y",
    scales: {
      x: { stacked, beginAtZero: true, max: percentAxis ? 1 : undefined, ticks: percentAxis ? { callback: (v) => percent(v) } : { precision: 0 } },
      y: { stacked },
    },
    plugins: {
      legend: { display: datasets.length > 1 },
      tooltip: { callbacks: {
        title: (items) => (tooltipTitles ? tooltipTitles[items[0].dataIndex] : items[0].label),
        label: (item) => `${item.dataset.label}：${percentAxis ? percent(item.raw) : item.raw}`,
      } },
    },
  },
});

// The window shown first: two weeks, so a day is wide enough to read.
const FIRST_DAYS = 14;
const isoDay = (date) => `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, "0")}-${String(date.getDate()).padStart(2, "0")}`;

export async function analytics(container, { params }) {
  if (!params.from && !params.to) params = { ...params, from: isoDay(new Date(Date.now() - (FIRST_DAYS - 1) * 86400000)) };
  const form = h("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); load(); } },
    h("label", {}, "从 ", h("input", { type: "date", name: "from", value: params.from || "" })),
    h("label", {}, "到 ", h("input", { type: "date", name: "to", value: params.to || "" })),
    h("label", {}, "店铺 ", h("input", { name: "shop_id", value: params.shop_id || "", size: 10, placeholder: "全部" })),
    h("button", { type: "submit", testid: "analytics-refresh" }, "刷新"));
  const window_ = h("p", { class: "summary", testid: "analytics-window" });
  const charts = {
    rate: box("intent-use-rate", "各意图每天的使用率", "使用率 = 用了（或改后用了）推荐的消息 ÷ 该意图的消息"),
    abstain: box("abstentions", "每天的消息与弃权", "弃权：服务没有把握，答为“其他”"),
    top: box("top-replies", `使用率最高的 ${TOP} 条回复`, "使用率 = (直接用 + 改后用) ÷ 被推荐次数"),
    never: box("never-used", "被推荐却从未被使用的回复", "按被推荐次数；这些回复值得改写或停用"),
    coverage: box("coverage", "覆盖缺口：没有用上任何推荐的消息", "按意图；下方列出最常见的说法，即缺少的回复"),
  };
  const gaps = h("div", { testid: "coverage-groups" });
  const edits = h("div", { testid: "edits" });
  container.append(h("h2", {}, "分析"), form, window_,
    h("div", { class: "charts" }, Object.values(charts).map((c) => c.node)),
    h("div", { class: "card" }, h("h3", {}, "缺少回复的买家说法"), gaps),
    h("div", { class: "card" }, h("h3", {}, "客服最常改写的回复（改写后的说法，可作为新回复的候选）"), edits));

  async function load() {
    const values = Object.fromEntries(new FormData(form));
    const query = { from: values.from, to: values.to, shop_id: values.shop_id };
    let replies, intents, coverage, edited;
    try {
      [replies, intents, coverage, edited] = await Promise.all([
        api("GET", "/v1/analytics/replies", { query: { ...query, sort: "use_rate", order: "desc", limit: 1000 } }),
        api("GET", "/v1/analytics/intents", { query }),
        api("GET", "/v1/analytics/coverage", { query: { ...query, limit: 10 } }),
        api("GET", "/v1/analytics/edits", { query: { ...query, limit: 10 } }),
      ]);
    } catch (error) {
      window_.textContent = explain(error);
      return;
    }
    form.elements.from.value = intents.from;
    form.elements.to.value = intents.to;
    window_.textContent = `${intents.from} 至 ${intents.to}（UTC${intents.utc_offset_minutes >= 0 ? "+" : ""}${intents.utc_offset_minutes / 60}）` +
      `${intents.shop_id ? `，店铺 ${intents.shop_id}` : "，全部店铺"}：买家消息 ${coverage.messages} 条，其中 ${coverage.uncovered} 条没有用上推荐。`;

    // Use rate per intent per day: one line per intent, a gap on days without its messages.
    const days = intents.totals.map((t) => t.day);
    const seen = [...new Set(intents.days.map((d) => d.intent))].sort((a, b) => Object.keys(INTENTS).indexOf(a) - Object.keys(INTENTS).indexOf(b));
    const rateOf = new Map(intents.days.map((d) => [`${d.day}|${d.intent}`, d.use_rate]));
    draw(charts.rate, {
      type: "line",
      data: { labels: days.map((d) => d.slice(5)), datasets: seen.map((intent) => ({
        label: intentLabel(intent), data: days.map((d) => rateOf.get(`${d}|${intent}`) ?? null),
        borderColor: COLORS[intent] || "#495057", backgroundColor: COLORS[intent] || "#495057", spanGaps: false, tension: 0.2, pointRadius: 3,
      })) },
      options: { scales: { y: { beginAtZero: true, max: 1, ticks: { callback: (v) => percent(v) } } },
        plugins: { tooltip: { callbacks: { label: (item) => `${item.dataset.label}：${percent(item.raw)}` } } } },
    }, !intents.days.length, "这段时间还没有买家消息。");

    draw(charts.abstain, {
      type: "bar",
      data: { labels: days.map((d) => d.slice(5)), datasets: [
        { label: "消息", data: intents.totals.map((t) => t.messages), backgroundColor: "#a5d8ff" },
        { label: "弃权", data: intents.totals.map((t) => t.abstentions), backgroundColor: "#ffa94d" },
      ] },
      options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    }, !intents.totals.some((t) => t.messages), "这段时间还没有买家消息。");

    const offered = replies.replies.filter((r) => r.use_rate !== null);
    const top = offered.filter((r) => !r.never_used).slice(0, TOP);
    draw(charts.top, hbar(top.map((r) => shortId(r.reply_id)), [
      { label: "使用率", data: top.map((r) => r.use_rate), backgroundColor: top.map((r) => COLORS[r.intents[0]] || "#495057") },
    ], { percentAxis: true, tooltipTitles: top.map((r) => `${r.reply_id}：${r.text ?? "（已删除）"}`) }), !top.length, "还没有被使用过的回复。");

    const never = offered.filter((r) => r.never_used).sort((a, b) => b.offered - a.offered).slice(0, TOP);
    const unoffered = replies.replies.filter((r) => r.use_rate === null).length;
    draw(charts.never, hbar(never.map((r) => shortId(r.reply_id)), [
      { label: "被推荐次数", data: never.map((r) => r.offered), backgroundColor: "#adb5bd" },
    ], { tooltipTitles: never.map((r) => `${r.reply_id}：${r.text ?? ""}`) }), !never.length, "没有被推荐却从未被使用的回复。");
    charts.never.empty.textContent += `另有 ${unoffered} 条回复这段时间从未被推荐。`;

    draw(charts.coverage, hbar(coverage.intents.map((i) => intentLabel(i.intent)), [
      { label: "没用上推荐", data: coverage.intents.map((i) => i.uncovered), backgroundColor: "#ff8787" },
      { label: "用上了", data: coverage.intents.map((i) => i.messages - i.uncovered), backgroundColor: "#8ce99a" },
    ], { stacked: true }), !coverage.messages, "这段时间还没有买家消息。");
    gaps.replaceChildren(...(coverage.intents.some((i) => i.groups.length) ? coverage.intents.filter((i) => i.groups.length).map((i) =>
      h("div", {}, h("strong", {}, `${intentLabel(i.intent)}（${i.uncovered} 条）`),
        h("ul", {}, i.groups.map((g) => h("li", { testid: "gap-group" }, `${g.text} × ${g.count}`,
          g.examples.length ? h("span", { class: "muted" }, `（相似：${g.examples.join(" / ")}）`) : null))))) : [h("p", { class: "muted" }, "没有覆盖缺口。")]));

    edits.replaceChildren(...(edited.replies.length ? [h("table", { class: "list" },
      h("thead", {}, h("tr", {}, ["回复", "改写次数", "改写占比", "客服改写成"].map((t) => h("th", {}, t)))),
      h("tbody", {}, edited.replies.map((r) => h("tr", { testid: "edited-reply", onclick: () => { location.hash = `#/reply/${encodeURIComponent(r.reply_id)}`; } },
        h("td", {}, h("div", { class: "id" }, r.reply_id), h("div", { class: "muted" }, r.text ?? "")),
        h("td", { class: "num" }, r.edited), h("td", { class: "num" }, percent(r.edit_share)),
        h("td", {}, h("ul", {}, r.final_texts.map((g) => h("li", {}, `${g.text} × ${g.count}`))))))))] : [h("p", { class: "muted" }, "这段时间没有被改写的回复。")]));
  }
  await load();
}

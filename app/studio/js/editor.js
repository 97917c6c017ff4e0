// One reply: fields with live lint, slots, the try-it preview, save with its version (a stale
// edit shows the other editor's version beside yours), the workflow, history with diffs.
import { api } from "./api.js";
import { INTENTS, STATUSES, WORKFLOW, commaList, fieldDiff, fieldLabel, intentLabel, lines, shopLabel, slotNames } from "./logic.js";
import { liveLint } from "./lintview.js";
import { versionHistory, textDiff } from "./history.js";
import { explain, formatTime, h, toast } from "./ui.js";

const EDITED = ["text", "intents", "triggers", "tags", "slots", "shop_id", "status"];

export async function replyEditor(container, { arg }) {
  let reply = null;
  if (arg) {
    try {
      reply = await api("GET", `/v1/replies/${encodeURIComponent(arg)}`);
    } catch (error) {
      container.append(h("p", { class: "error" }, explain(error)), h("a", { href: "#/replies" }, "返回列表"));
      return;
    }
  }
  const state = { version: reply?.version ?? null, status: reply?.status ?? "draft", slots: { ...(reply?.slots || {}) } };

  // The fields.
  const idInput = h("input", { type: "text", testid: "reply-id", placeholder: "例如 ship-today-shop7（字母、数字、- _ . ~）", value: reply?.id || "" });
  const text = h("textarea", { class: "reply-text", testid: "reply-text", placeholder: "亲，…（{courier} 这样的槽位在推荐时填入）" }, reply?.text || "");
  const intents = h("div", { class: "checks", testid: "intents" }, Object.entries(INTENTS).map(([value, label]) =>
    h("label", {}, h("input", { type: "checkbox", value, checked: reply ? reply.intents.includes(value) : false }), label)));
  const triggers = h("textarea", { testid: "triggers", rows: 4, placeholder: "一行一句：这条回复回答的买家说法" }, (reply?.triggers || []).join("\n"));
  const tags = h("input", { type: "text", testid: "tags", placeholder: "用逗号分隔", value: (reply?.tags || []).join("，") });
  const shop = h("input", { type: "text", testid: "shop", placeholder: "留空：所有店铺通用", value: reply?.shop_id || "" });
  const slotsBody = h("tbody");
  const statusBox = h("span", { testid: "status" });
  const gate = h("div", { testid: "gate" });
  const conflict = h("div", { testid: "conflict-box" });
  const moves = h("span", { class: "row" });
  const save = h("button", { type: "button", class: "primary", testid: "save", onclick: () => submit(state.status) }, "保存");

  const lint = liveLint(text, { onChange: () => paintSlots() });
  function paintSlots() {
    const names = slotNames(text.value);
    slotsBody.replaceChildren(...(names.length ? names.map((name) => {
      const value = state.slots[name];
      const input = h("input", { type: "text", "data-slot": name, placeholder: "留空：由客服当场填写", value: value ?? "",
        oninput: (e) => { state.slots[name] = e.target.value || null; } });
      return h("tr", {}, h("td", {}, `{${name}}`), h("td", {}, input));
    }) : [h("tr", {}, h("td", { class: "muted" }, "文字里没有 {槽位}"))]));
  }
  function fields() {
    const names = slotNames(text.value);
    return {
      text: text.value,
      intents: [...intents.querySelectorAll("input:checked")].map((i) => i.value),
      triggers: lines(triggers.value),
      tags: commaList(tags.value),
      slots: Object.fromEntries(names.map((n) => [n, state.slots[n] || null])),
      shop_id: shop.value.trim() || null,
    };
  }
  function fill(from) {
    text.value = from.text; triggers.value = from.triggers.join("\n"); tags.value = from.tags.join("，");
    shop.value = from.shop_id || ""; state.slots = { ...from.slots };
    for (const box of intents.querySelectorAll("input")) box.checked = from.intents.includes(box.value);
    state.version = from.version; state.status = from.status;
    paintStatus(); paintSlots(); lint.refresh();
  }
  function paintStatus() {
    statusBox.replaceChildren(h("span", { class: `status ${state.status}` }, STATUSES[state.status]),
      state.version ? ` 版本 ${state.version}` : " 尚未保存");
    moves.replaceChildren(...WORKFLOW[state.status].map(([target, label]) =>
      h("button", { type: "button", testid: `move-${target}`, onclick: () => submit(target) }, label)));
  }

  async function submit(status) {
    gate.replaceChildren();
    const body = { ...fields(), status };
    let saved;
    try {
      if (state.version === null) {
        saved = await api("POST", "/v1/replies", { body: { id: idInput.value.trim(), ...body } });
      } else {
        saved = await api("PUT", `/v1/replies/${encodeURIComponent(reply.id)}`, { body: { ...body, version: state.version } });
      }
    } catch (error) {
      if (error.code === "stale_edit") return showConflict(body, error.detail.current);
      return showGate(error, status);
    }
    toast(`已保存：${STATUSES[saved.status]}，版本 ${saved.version}`);
    if (!reply) { location.hash = `#/reply/${encodeURIComponent(saved.id)}`; return; }
    reply = saved;
    fill(saved);
    historyView.refresh();
  }

  function showGate(error, status) {
    const flags = error.code === "reply_fails_lint" ? error.detail || [] : [];
    gate.replaceChildren(h("div", { class: "gate", role: "alert" },
      h("strong", {}, status === "approved" && error.code === "reply_fails_lint" ? "不能批准上线：" : "未保存："),
      explain(error),
      flags.length ? h("ul", {}, flags.map((f) => h("li", {}, `「${f.match}」（${f.rule_id}）：${f.suggestion}`))) : null,
      Array.isArray(error.detail) && !flags.length
        ? h("ul", {}, error.detail.map((d) => h("li", {}, `${(d.loc || []).join(".")}：${d.msg || JSON.stringify(d)}`))) : null));
  }

  async function showConflict(mine, theirs) {
    const versions = await api("GET", `/v1/replies/${encodeURIComponent(reply.id)}/history`).catch(() => []);
    const last = versions.find((v) => v.version === theirs.version);
    const diffs = fieldDiff(pick(mine), pick(theirs));
    const column = (title, values, testid) => h("div", { testid },
      h("h3", {}, title),
      EDITED.map((name) => h("div", { class: diffs.some((d) => d.field === name) ? "changed" : "" },
        h("span", { class: "muted" }, fieldLabel(name), "："), h("pre", { class: "value" }, show(name, values[name])))));
    conflict.replaceChildren(h("div", { class: "card conflict", testid: "conflict", role: "alert" },
      h("h3", {}, `保存冲突：${last ? last.actor : "另一位编辑"} 在 ${last ? formatTime(last.created_at) : "刚才"} 保存了版本 ${theirs.version}（你是从版本 ${state.version} 开始改的）。你的修改没有保存，对方的也没有被覆盖。`),
      h("div", { class: "side-by-side" },
        column(`你的修改（基于版本 ${state.version}）`, mine, "conflict-mine"),
        column(`对方的版本 ${theirs.version}`, theirs, "conflict-theirs")),
      diffs.some((d) => d.field === "text") ? h("div", {}, h("span", { class: "muted" }, "文字差异："), textDiff(theirs.text, mine.text)) : null,
      h("div", { class: "row" },
        h("button", { type: "button", testid: "take-theirs", onclick: () => { fill(theirs); reply = theirs; conflict.replaceChildren(); historyView.refresh(); } }, "放弃我的修改，载入对方的版本"),
        h("button", { type: "button", testid: "keep-mine", onclick: () => { state.version = theirs.version; conflict.replaceChildren(); paintStatus(); toast(`已改为基于版本 ${theirs.version}，再按“保存”即可覆盖为你的修改`); } }, "在对方版本之上保留我的修改"))));
    conflict.scrollIntoView({ block: "start" });
  }

  // Try it: where this draft would rank for buyer messages.
  const tryMessages = h("textarea", { testid: "try-messages", rows: 3, placeholder: "一行一条买家消息，例如：什么时候发货" },
    (reply?.triggers || []).slice(0, 2).join("\n"));
  const tryResult = h("div", { testid: "try-result" });
  const tryIt = async () => {
    const body = { ...fields(), messages: lines(tryMessages.value) };
    delete body.tags; delete body.status;
    try {
      const answer = await api("POST", "/v1/replies/preview", { body });
      const rankRow = (r) => h("tr", { testid: "try-row" },
        h("td", {}, r.message),
        h("td", {}, intentLabel(r.intent)),
        h("td", { class: "num" }, r.rank ? `第 ${r.rank} 名（${r.score.toFixed(2)}）` : "未进前十"),
        h("td", {}, h("ol", {}, r.top.map((s) => h("li", {}, s.text, h("span", { class: "muted" }, ` ${s.reply_id}`))))));
      tryResult.replaceChildren(h("table", { class: "list" },
        h("thead", {}, h("tr", {}, ["买家消息", "识别意图", "这条回复的排名", "现在的前三条"].map((t) => h("th", {}, t)))),
        h("tbody", {}, answer.ranks.map(rankRow))));
    } catch (error) {
      tryResult.replaceChildren(h("p", { class: "error" }, explain(error)));
    }
  };

  const historyView = reply ? versionHistory("replies", reply.id, { onRestore: (data) => { fill({ ...data, version: state.version, status: state.status }); toast("已载入该版本的内容，按“保存”生效"); } }) : null;

  container.append(
    h("p", {}, h("a", { href: "#/replies" }, "← 回复列表")),
    h("h2", {}, reply ? `编辑回复 ${reply.id}` : "新建回复"),
    conflict,
    h("div", { class: "grid" },
      h("div", {},
        h("div", { class: "card" },
          reply ? null : h("label", { class: "field" }, h("span", {}, "编号"), idInput),
          h("label", { class: "field" }, h("span", {}, "回复文字（输入时即时检查禁用语）"), text),
          ...lint.nodes,
          h("div", { class: "field" }, h("span", {}, "意图"), intents),
          h("label", { class: "field" }, h("span", {}, "触发语"), triggers),
          h("div", { class: "field" }, h("span", {}, "槽位（默认值）"), h("table", { class: "slots" }, slotsBody)),
          h("label", { class: "field" }, h("span", {}, "标签"), tags),
          h("label", { class: "field" }, h("span", {}, `店铺（现在：${shopLabel(reply?.shop_id)}）`), shop),
          h("div", { class: "row" }, "状态：", statusBox),
          h("div", { class: "row" }, save, moves),
          gate)),
      h("div", {},
        h("div", { class: "card" }, h("h3", {}, "试一试"),
          h("p", { class: "muted" }, "看这条（未保存的）回复在今天已批准的回复中，对这些买家消息能排第几。"),
          tryMessages, h("div", { class: "row" }, h("button", { type: "button", testid: "try", onclick: tryIt }, "试一试")), tryResult),
        historyView ? historyView.node : null)));
  paintStatus();
  paintSlots();
}

const pick = (r) => Object.fromEntries(EDITED.map((n) => [n, r[n]]));
function show(name, value) {
  if (name === "intents") return value.map(intentLabel).join("、");
  if (name === "status") return STATUSES[value];
  if (name === "shop_id") return shopLabel(value);
  if (name === "slots") return Object.entries(value).map(([k, v]) => `{${k}} = ${v ?? "（客服填写）"}`).join("\n") || "（无）";
  if (Array.isArray(value)) return value.join("\n") || "（无）";
  return value ?? "";
}
export { show };

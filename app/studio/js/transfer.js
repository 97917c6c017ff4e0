// Import (a dry-run report first, then apply) and export of the whole corpus as one file.
import { api } from "./api.js";
import { fieldLabel } from "./logic.js";
import { explain, h, toast } from "./ui.js";

const FORMATS = ["yaml", "csv", "json"];
const KINDS = { reply: "回复", lint_rule: "规则" };

function formatOf(file, chosen) {
  if (chosen) return chosen;
  const ext = file.name.split(".").pop().toLowerCase();
  return { yml: "yaml", yaml: "yaml", csv: "csv", json: "json" }[ext] || "yaml";
}

const value = (v) => (v === null || v === undefined ? "（空）" : typeof v === "string" ? v : JSON.stringify(v));

/** The report of an import (dry run or not) as sections an editor can read. */
function report(body) {
  const item = (i, extra) => h("li", { testid: "import-item" }, i.line ? `第 ${i.line} 行 ` : "", `${KINDS[i.kind] || i.kind} ${i.id}`, extra || null);
  const diff = (d) => h("ul", {}, Object.entries(d).map(([name, change]) =>
    h("li", {}, `${fieldLabel(name)}：`, h("del", {}, value(change.from)), " → ", h("ins", {}, value(change.to)))));
  const section = (title, items, render, testid) => h("div", { testid },
    h("h3", {}, `${title}（${items.length}）`), items.length ? h("ul", {}, items.map(render)) : null);
  return h("div", { class: "card", testid: "import-report" },
    h("p", { testid: "import-summary" }, body.applied ? "✓ 已导入：" : body.dry_run ? "试运行（什么都没有改动）：" : "没有导入：",
      `新建 ${body.created.length}，修改 ${body.changed.length}，停用 ${body.retired.length}，未变 ${body.unchanged}，拒绝 ${body.refused.length}`),
    section("拒绝", body.refused, (r) => h("li", { class: "refusal", testid: "import-refused" },
      r.line ? `第 ${r.line} 行 ` : "", `${KINDS[r.kind] || r.kind} ${r.id}：${r.reason}（${r.code}）`,
      Array.isArray(r.detail) ? h("ul", {}, r.detail.map((d) => h("li", {}, d.match ? `「${d.match}」 ${d.suggestion}` : `${(d.loc || []).join(".")} ${d.msg || ""}`))) : null), "import-refusals"),
    section("新建", body.created, (i) => item(i), "import-created"),
    section("修改", body.changed, (i) => item(i, diff(i.diff)), "import-changed"),
    section("停用", body.retired, (i) => item(i, diff(i.diff)), "import-retired"));
}

export async function importExport(container) {
  const file = h("input", { type: "file", testid: "import-file", accept: ".yaml,.yml,.csv,.json" });
  const format = h("select", { testid: "import-format" }, h("option", { value: "" }, "按文件名判断"),
    FORMATS.map((f) => h("option", { value: f }, f.toUpperCase())));
  const out = h("div");
  const dryRun = h("button", { type: "button", testid: "dry-run", class: "primary", disabled: true, onclick: () => send(true) }, "试运行");
  const apply = h("button", { type: "button", testid: "apply-import", disabled: true, onclick: () => send(false) }, "应用导入");
  let checked = null; // the file whose dry run passed
  file.addEventListener("change", () => { checked = null; apply.disabled = true; dryRun.disabled = !file.files.length; out.replaceChildren(); });
  format.addEventListener("change", () => { checked = null; apply.disabled = true; });

  async function send(dry) {
    const chosen = file.files[0];
    if (!chosen) return;
    const fmt = formatOf(chosen, format.value);
    dryRun.disabled = apply.disabled = true;
    try {
      // A multipart form, the file in the field "file" (with its name): the browser streams it,
      // and the server reads it as it arrives, refusing past MAX_IMPORT_BYTES (413).
      const form = new FormData();
      form.append("file", chosen, chosen.name);
      const body = await api("POST", "/v1/corpus/import", { query: { dry_run: dry, format: fmt }, body: form });
      out.replaceChildren(report(body));
      if (dry) {
        checked = body.refused.length ? null : chosen;
        if (body.refused.length) out.prepend(h("p", { class: "refusal" }, "有被拒绝的条目：修改文件后再试运行。导入是全部或全不。"));
      } else {
        checked = null;
        toast("导入完成，所有工作进程将在一秒内生效");
      }
    } catch (error) {
      checked = null;
      const detail = error.detail && error.detail.refused ? report(error.detail) : null;
      const line = error.detail && error.detail.line ? `（第 ${error.detail.line} 行）` : "";
      out.replaceChildren(h("p", { class: "error", testid: "import-error" }, explain(error), line), detail);
    } finally {
      dryRun.disabled = false;
      apply.disabled = checked !== chosen;
    }
  }

  const exportButton = (fmt) => h("button", { type: "button", testid: `export-${fmt}`, onclick: async () => {
    try {
      const response = await api("GET", "/v1/corpus/export", { query: { format: fmt }, raw: true });
      const link = h("a", { href: URL.createObjectURL(await response.blob()), download: `huashu-corpus.${fmt}` });
      document.body.append(link); link.click(); link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    } catch (error) { toast(explain(error), "error"); }
  } }, `导出 ${fmt.toUpperCase()}`);

  container.append(h("h2", {}, "导入导出"),
    h("div", { class: "card" }, h("h3", {}, "导出"),
      h("p", { class: "muted" }, "整个语料（所有回复和规则，含状态与版本）一个文件；CSV 只含回复，一行一条。"),
      h("div", { class: "row" }, FORMATS.map(exportButton))),
    h("div", { class: "card" }, h("h3", {}, "导入"),
      h("p", { class: "muted" }, "先试运行：列出会新建、修改（逐字段）、停用和拒绝（附原因和行号）的条目，不做任何改动。没有拒绝时才能应用；应用是一个事务，全部或全不。"),
      h("div", { class: "row" }, file, format, dryRun, apply)),
    out);
}

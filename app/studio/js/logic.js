// The studio's pure logic (no DOM, no fetch): labels, lint spans and fixes, marks, diffs.
export const INTENTS = { bargaining: "讨价还价", hesitation: "犹豫", logistics: "物流", refund: "退款", other: "其他" };
export const STATUSES = { draft: "草稿", approved: "已批准", retired: "已停用" };
export const SEVERITIES = { block: "禁止", warn: "提醒" };
export const ACTIONS = {
  create_reply: "新建回复", update_reply: "修改回复", retire_reply: "停用回复",
  create_lint_rule: "新建规则", update_lint_rule: "修改规则", retire_lint_rule: "停用规则",
  import_corpus: "导入", seed_corpus: "载入初始语料", create_key: "新建密钥", revoke_key: "吊销密钥",
};
// The moves of the workflow from each status: [target status, button label].
export const WORKFLOW = {
  draft: [["approved", "批准上线"], ["retired", "停用"]],
  approved: [["draft", "退回草稿"], ["retired", "停用"]],
  retired: [["draft", "恢复为草稿"], ["approved", "重新批准"]],
};

export const intentLabel = (intent) => INTENTS[intent] || intent;
export const shopLabel = (shopId) => (shopId ? `店铺 ${shopId}` : "全部店铺");

/** The text split at the flags' spans; the server's offsets count code points (Python). */
export function segments(text, flags) {
  const chars = Array.from(text);
  const out = [];
  let at = 0;
  for (const flag of [...flags].sort((a, b) => a.start - b.start)) {
    if (flag.start < at) continue;
    if (flag.start > at) out.push({ text: chars.slice(at, flag.start).join("") });
    out.push({ text: chars.slice(flag.start, flag.end).join(""), flag });
    at = flag.end;
  }
  if (at < chars.length) out.push({ text: chars.slice(at).join("") });
  return out;
}

/** The better wording a flag offers: Y of 把“X”换成“Y” for this match, else its first quoted
 * wording, else null (the suggestion is advice, not words to put in). */
export function replacementFor(flag) {
  for (const [, from, to] of flag.suggestion.matchAll(/把“([^”]+)”换成“([^”]+)”/g)) {
    if (from === flag.match) return to;
  }
  const quoted = flag.suggestion.match(/“([^”]+)”/);
  return quoted ? quoted[1] : null;
}

/** The text with the flag's span replaced by its better wording (no second 亲， mid-text). */
export function applyFix(text, flag) {
  let wording = replacementFor(flag);
  if (wording === null) return text;
  const chars = Array.from(text);
  if (flag.start > 0) wording = wording.replace(/^亲[，,]\s*/, "");
  return chars.slice(0, flag.start).join("") + wording + chars.slice(flag.end).join("");
}

/** The {slot} names in a reply text, in order, once each. */
export function slotNames(text) {
  return [...new Set([...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]))];
}

// A reply agents edit this often, and in this share of its uses, is marked 常被改写.
export const HEAVY_EDITS = 3;
export const HEAVY_SHARE = 0.5;

/** The marks of a reply from its usage (null: no analytics): 从未使用, 常被改写 (the server's
 * never_used / heavily_edited when it says, else the same rule worked out here). */
export function marks(usage) {
  if (!usage) return [];
  const uses = usage.used + usage.edited;
  const never = usage.never_used ?? uses === 0;
  const heavy = usage.heavily_edited ?? (usage.edited >= HEAVY_EDITS && usage.edited / uses >= HEAVY_SHARE);
  const out = [];
  if (never) out.push({ kind: "never-used", label: usage.offered ? "从未使用" : "从未被推荐" });
  if (heavy) out.push({ kind: "heavily-edited", label: "常被改写" });
  return out;
}

/** Replies sorted by use rate (highest first, or lowest with `ascending`); never offered last. */
export function sortByUseRate(replies, usageById, ascending = false) {
  const rate = (r) => usageById.get(r.id)?.use_rate;
  return [...replies].sort((a, b) => {
    const x = rate(a), y = rate(b);
    if (x == null && y == null) return a.id.localeCompare(b.id);
    if (x == null) return 1;
    if (y == null) return -1;
    return (ascending ? x - y : y - x) || a.id.localeCompare(b.id);
  });
}

export const percent = (rate) => (rate == null ? "—" : `${(rate * 100).toFixed(rate < 0.1 ? 1 : 0)}%`);

/** The fields two versions differ in: [{field, from, to}]. */
export function fieldDiff(older, newer) {
  const names = [...new Set([...Object.keys(older), ...Object.keys(newer)])].filter((n) => n !== "version");
  return names
    .filter((n) => JSON.stringify(older[n] ?? null) !== JSON.stringify(newer[n] ?? null))
    .map((n) => ({ field: n, from: older[n] ?? null, to: newer[n] ?? null }));
}

/** The lines of a textarea as a list (blank lines dropped). */
export const lines = (text) => text.split("\n").map((s) => s.trim()).filter(Boolean);
/** A comma list (either width) as a list. */
export const commaList = (text) => text.split(/[,，、]/).map((s) => s.trim()).filter(Boolean);

export const CATEGORIES = {
  uncertain: "不确定", curt: "敷衍", off_platform: "站外引流", absolute_claim: "绝对化用语",
  refusal: "生硬拒绝", questioning: "质问买家", deflecting: "推诿",
};
export const categoryLabel = (category) => CATEGORIES[category] || category;
// Field names as editors read them (history diffs, conflicts, import reports).
export const FIELD_LABELS = {
  text: "文字", intents: "意图", triggers: "触发语", tags: "标签", slots: "槽位", shop_id: "店铺", status: "状态",
  category: "类别", severity: "级别", kind: "类型", phrases: "禁用短语", not_before: "前面是这些时不算",
  not_after: "后面是这些时不算", suggestion: "更好的说法", enabled: "启用",
};
export const fieldLabel = (name) => FIELD_LABELS[name] || name;

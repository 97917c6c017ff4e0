// Small DOM helpers: build elements without innerHTML (texts are editors' and buyers' words).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "testid") el.dataset.testid = value;
    else if (name === "class") el.className = value;
    else if (name in el && typeof value !== "string") el[name] = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function toast(message, kind = "info") {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.className = `show ${kind}`;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.className = ""; }, 4000);
}

/** An error from the API as a sentence an editor can act on. */
export function explain(error) {
  const known = {
    stale_edit: "别人已经保存了更新的版本",
    reply_fails_lint: "已批准的回复不能含有禁用语",
    rule_blocks_approved_replies: "这条规则会拦截已批准的回复",
    invalid_rule: "规则无法匹配任何内容",
    invalid_request: "输入不符合要求",
    reply_exists: "编号已被使用",
    rule_exists: "编号已被使用",
    import_refused: "导入被拒绝，什么都没有改动",
    malformed_import: "文件无法读取",
    body_too_large: "文件太大",
    forbidden: "此密钥没有编辑权限",
    network: "网络错误",
  };
  const what = known[error.code] || error.code;
  return `${what}（${error.code}）：${error.message}`;
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

export function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso.endsWith("Z") || iso.includes("+") ? iso : iso + "Z");
  return date.toLocaleString("zh-CN", { hour12: false });
}

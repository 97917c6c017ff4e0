// The studio: one page, views chosen by the address's #fragment (#/replies, #/replies/ID, …).
import { api, session, whenSignedOut } from "./api.js";
import { explain } from "./ui.js";
import { replyList } from "./replies.js";

const $ = (id) => document.getElementById(id);
// Each view: (container, params) → renders; the route is "#/name/arg?query".
const VIEWS = {
  replies: replyList,
};
const extraViews = {
  reply: () => import("./editor.js").then((m) => m.replyEditor),
  rules: () => import("./rules.js").then((m) => m.ruleList),
  rule: () => import("./rules.js").then((m) => m.ruleEditor),
  import: () => import("./transfer.js").then((m) => m.importExport),
  audit: () => import("./audit.js").then((m) => m.auditLog),
  analytics: () => import("./analytics.js").then((m) => m.analytics),
};

function showSignIn(message = "") {
  $("nav").hidden = true;
  $("view").replaceChildren();
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message;
  $("key").value = "";
  $("key").focus();
}

async function signIn(key) {
  // Any editor route tells a good key (200) from a bad one (401) or an agent's (403).
  try {
    await api("GET", "/v1/replies", { query: { limit: 1 }, key });
  } catch (error) {
    const why = error.status === 401 ? "密钥无效或已被吊销。" : error.status === 403 ? "这是客服密钥，工作室需要编辑或管理员密钥。" : explain(error);
    showSignIn(why);
    return;
  }
  session.key = key;
  enter();
}

function enter() {
  $("sign-in").hidden = true;
  $("nav").hidden = false;
  $("who").textContent = `已登录（${session.key.slice(0, 6)}…）`;
  if (!location.hash || location.hash === "#/") location.hash = "#/replies";
  else route();
}

let routed = 0;
async function route() {
  if (!session.key) return showSignIn();
  const [path, query = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const [name, ...rest] = path.split("/");
  const arg = rest.length ? decodeURIComponent(rest.join("/")) : null;
  const params = Object.fromEntries(new URLSearchParams(query));
  const mine = ++routed;
  let view = VIEWS[name];
  if (!view && extraViews[name]) view = await extraViews[name]();
  if (mine !== routed) return; // another route started meanwhile
  const section = { reply: "replies", rule: "rules" }[name] || name;
  for (const link of document.querySelectorAll("[data-nav]")) link.classList.toggle("active", link.dataset.nav === section);
  const container = $("view");
  container.replaceChildren();
  if (!view) { location.hash = "#/replies"; return; }
  await view(container, { arg, params });
}

$("sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const key = $("key").value.trim();
  if (key) signIn(key);
});
$("sign-out").addEventListener("click", () => { session.key = null; showSignIn("已退出。"); });
whenSignedOut(showSignIn);
window.addEventListener("hashchange", route);

if (session.key) enter(); else showSignIn();

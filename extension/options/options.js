// Settings live in chrome.storage.local under the keys the panel and the content script read;
// the key is never logged.
import { BUILT_IN } from "../content/adapters/index.js";
import { FIELDS } from "../content/adapters/generic.js";
import { socketProtocols } from "../panel/connection.js";

// What we know of each built-in adapter (README "Site adapters" says the same).
const STATUS = { demo: "已测试", qianniu: "未经验证：按推测的页面结构编写", jd: "未经验证：按推测的页面结构编写", pinduoduo: "未经验证：按推测的页面结构编写" };
const $ = (id) => document.getElementById(id);
const form = $("form");
const stored = await chrome.storage.local.get(["huashu.server", "huashu.key", "huashu.adapters", "huashu.generic"]);
const enabled = stored["huashu.adapters"] ?? {};
const generic = stored["huashu.generic"] ?? {};

for (const adapter of [...BUILT_IN, { id: "generic", name: "通用" }]) {
  const label = document.createElement("label");
  const box = Object.assign(document.createElement("input"), { type: "checkbox", name: `adapter-${adapter.id}` });
  box.checked = adapter.id === "generic" ? enabled.generic !== false && Boolean(generic.matches) : enabled[adapter.id] !== false;
  const note = Object.assign(document.createElement("span"), { className: "note",
    textContent: adapter.id === "generic" ? " 下方填写的选择器" : ` ${STATUS[adapter.id] ?? ""}（${adapter.matches.join("、")}）` });
  label.append(box, ` ${adapter.name}`, note);
  $("adapters").append(label);
}
for (const [name, text] of FIELDS) {
  const label = document.createElement("label");
  const input = Object.assign(document.createElement("input"), { name: `generic-${name}`, value: generic[name] ?? "", spellcheck: false });
  label.append(text, input);
  $("generic").append(label);
}
form.server.value = stored["huashu.server"] ?? "";
form.key.value = stored["huashu.key"] ?? "";

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const say = (text) => { $("saved").textContent = text; };
  const config = Object.fromEntries(FIELDS.map(([name]) => [name, form[`generic-${name}`].value.trim()]));
  const adapters = Object.fromEntries([...BUILT_IN.map((a) => a.id), "generic"].map((id) => [id, form[`adapter-${id}`].checked]));
  let url;
  try { url = new URL(form.server.value); } catch { say("服务器地址不是有效的网址"); return; }
  const key = form.key.value.trim();
  // The panel offers the key as a WebSocket subprotocol, which allows no spaces or Chinese.
  if (!socketProtocols(key)) { say("API 密钥格式无效：只能含字母、数字和 - _ 等符号，请原样粘贴管理员给您的密钥"); return; }
  const origins = config.matches.split(/\s+/).filter(Boolean);
  if (adapters.generic && origins.length) {
    // Asked first, while the click still counts as the user's: Chrome allows the prompt only then.
    let granted = false;
    try { granted = await chrome.permissions.request({ origins }); } catch { say("通用适配器的适用网址不是有效的网址规则"); return; }
    if (!granted) { say("未获准读取该网址：通用适配器不会在那里运行"); return; }
  }
  await chrome.storage.local.set({
    "huashu.server": url.origin, "huashu.key": key, "huashu.adapters": adapters, "huashu.generic": config,
  });
  say("已保存；重新打开侧边栏即可重新连接");
});
// Enabled only now: a click before the listener exists would submit the form natively and reload the page.
form.querySelector("button[type=submit]").disabled = false;

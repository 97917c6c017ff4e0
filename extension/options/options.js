// Settings live in chrome.storage.local under the keys the panel reads; the key is never logged.
const form = document.getElementById("form");
const { "huashu.server": server = "", "huashu.key": key = "" } = await chrome.storage.local.get(["huashu.server", "huashu.key"]);
form.server.value = server;
form.key.value = key;
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  let url;
  try { url = new URL(form.server.value); } catch { document.getElementById("saved").textContent = "不是有效的网址"; return; }
  await chrome.storage.local.set({ "huashu.server": url.origin, "huashu.key": form.key.value.trim() });
  document.getElementById("saved").textContent = "已保存；重新打开侧边栏即可重新连接";
});

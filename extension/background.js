// The service worker holds nothing: it sleeps when idle, so the WebSocket lives in the panel page
// (panel/panel.js), which stays alive exactly as long as the agent has the panel open. It only
// wires the toolbar button to the panel and registers the content script on the pages the shop
// gave the generic adapter (the built-in adapters' pages are in the manifest).
const GENERIC_SCRIPT = "huashu-generic";

chrome.runtime.onInstalled.addListener(() => {
  chrome.sidePanel.setPanelBehavior({ openPanelOnActionClick: true }).catch(() => {});
});

async function registerGeneric() {
  const { "huashu.generic": generic, "huashu.adapters": enabled = {} } =
    await chrome.storage.local.get(["huashu.generic", "huashu.adapters"]);
  const matches = String(generic?.matches ?? "").split(/\s+/).filter(Boolean);
  await chrome.scripting.unregisterContentScripts({ ids: [GENERIC_SCRIPT] }).catch(() => {});
  if (!matches.length || enabled.generic === false) return;
  // The options page asked for these sites when the shop saved them; without the grant, nothing runs there.
  if (!(await chrome.permissions.contains({ origins: matches }).catch(() => false))) return;
  await chrome.scripting.registerContentScripts([
    { id: GENERIC_SCRIPT, matches, js: ["content/loader.js"], runAt: "document_idle", persistAcrossSessions: true },
  ]);
}

chrome.storage.onChanged.addListener((changes, area) => {
  if (area === "local" && ("huashu.generic" in changes || "huashu.adapters" in changes)) registerGeneric();
});
chrome.permissions.onAdded.addListener(() => registerGeneric());

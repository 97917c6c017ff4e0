// The service worker holds nothing: it sleeps when idle, so the WebSocket lives in the panel page
// (panel/panel.js), which stays alive exactly as long as the agent has the panel open.
chrome.runtime.onInstalled.addListener(() => {
  chrome.sidePanel.setPanelBehavior({ openPanelOnActionClick: true }).catch(() => {});
});

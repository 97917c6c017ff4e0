// Content scripts cannot be ES modules, so this classic script imports the real one. It may be
// injected twice on a page (the manifest's and the generic adapter's registration): once is enough.
(() => {
  if (globalThis.huashuContentLoaded) return;
  globalThis.huashuContentLoaded = true;
  import(chrome.runtime.getURL("content/runtime.js")).catch((error) => console.error("huashu: content script failed", error));
})();

// What this browser keeps so that documents open without a network: the service worker that
// caches the app shell (sw.ts), and each document's remembered epoch and role (doc/epoch.ts),
// which signing out forgets.

/** localStorage keys of the remembered epoch and role of a document, by name. */
export const ACCESS_KEY_PREFIX = "coedit:epoch:";

/**
 * Register the service worker; `data-offline="ready"` on <body> once this build's shell is
 * cached (and the worker controls new pages). Without service workers (http on another host
 * than localhost, some private modes) pages still work, just not offline after a reload.
 */
export function registerServiceWorker(): void {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.register("/sw.js").catch((err: unknown) => {
    console.warn("coedit: no offline copy of the app on this device", err);
  });
  void navigator.serviceWorker.ready.then(() => {
    document.body.dataset.offline = "ready";
  });
}

/**
 * Signing out: the documents this browser remembers stop opening offline, so the next person
 * at this browser does not see them. Their copies in IndexedDB stay (they may hold edits not
 * sent yet, which go out when a signed-in person opens the document again); the cached shell
 * holds nothing of anyone's.
 */
export function forgetRememberedAccess(): void {
  try {
    const doomed: string[] = [];
    for (let i = 0; i < localStorage.length; i++) {
      const key = localStorage.key(i);
      if (key?.startsWith(ACCESS_KEY_PREFIX)) doomed.push(key);
    }
    for (const key of doomed) localStorage.removeItem(key);
  } catch (err) {
    console.warn("coedit: could not forget this browser's remembered documents", err);
  }
}

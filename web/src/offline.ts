// What this browser keeps so that documents open without a network: the service worker that
// caches the app shell (sw.ts), and each document's remembered epoch and role (doc/epoch.ts),
// which signing out forgets.

import { forgetWhoIAm } from "./api";

/** localStorage keys of the remembered epoch and role of a document, by name. */
export const ACCESS_KEY_PREFIX = "coedit:epoch:";
/** Who signed in last at this browser: what is remembered is theirs. */
const ACCOUNT_KEY = "coedit:account";

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
 * at this browser does not see them, and pages opened offline no longer take them for the
 * account that signed out. Their copies in IndexedDB stay (they may hold edits not
 * sent yet, which go out when a signed-in person opens the document again); the cached shell
 * holds nothing of anyone's.
 */
export function forgetRememberedAccess(): void {
  forgetWhoIAm();
  try {
    localStorage.removeItem(ACCOUNT_KEY);
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

/**
 * Signed in as `username`: if someone else signed in here before (and their session ended
 * without signing out), forget what was remembered for them.
 */
export function signedInAs(username: string): void {
  try {
    if (localStorage.getItem(ACCOUNT_KEY) !== username) forgetRememberedAccess();
    localStorage.setItem(ACCOUNT_KEY, username);
  } catch (err) {
    console.warn("coedit: could not note who signed in at this browser", err);
  }
}

// The connection / saved state: the header's words and `data-sync` / `-saved` / `-local`.

import { byId, setIfChanged, setText } from "../dom";

export type SyncState = "synced" | "connecting" | "offline" | "closed";

export const SYNC_LABELS: Record<SyncState, string> = {
  synced: "Online",
  connecting: "Connecting…",
  offline: "Offline",
  closed: "Not connected",
};
export const SYNC_HINTS: Record<SyncState, string> = {
  synced: "Connected to the server. Changes are shared live.",
  connecting: "Trying to reach the server. You can keep editing.",
  offline: "Offline. Keep editing: changes are kept on this device and sent when you're back.",
  closed: "The server ended the connection.",
};

const body = document.body;
const syncLabel = byId("sync-label");
const savedLabel = byId("saved-label");
const statusEl = byId("status");

/** Before there is a document to show (unreachable, refused): the connection state alone. */
export function renderSyncOnly(state: SyncState): void {
  setIfChanged(body.dataset, "sync", state);
  syncLabel.textContent = SYNC_LABELS[state];
}

/** `saved`: the server holds every local change; `savedLocally`: IndexedDB does. */
export function renderStatus(state: SyncState, saved: boolean, savedLocally: boolean): void {
  setIfChanged(body.dataset, "sync", state);
  setIfChanged(body.dataset, "saved", String(saved));
  setIfChanged(body.dataset, "local", savedLocally ? "saved" : "pending");
  setIfChanged(statusEl.dataset, "state", state);
  setText(syncLabel, SYNC_LABELS[state]);
  let savedText: string;
  if (saved) savedText = "Saved";
  else if (state === "synced") savedText = "Saving…";
  else if (savedLocally) savedText = "Changes kept on this device";
  else savedText = "Unsaved changes";
  setText(savedLabel, state === "closed" ? "" : `· ${savedText}`);
  if (statusEl.title !== SYNC_HINTS[state]) statusEl.title = SYNC_HINTS[state];
}

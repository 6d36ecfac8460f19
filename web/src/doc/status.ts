// The connection / saved state in the header: its words and hints.

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

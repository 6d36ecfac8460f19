// Opening a document: ask the server (PUT, which creates it where allowed) for
// its epoch and our role before touching the local copy.
//
// A document's epoch changes when it is deleted and created again. The copy
// kept on this device (IndexedDB) belongs to one epoch: its database name
// includes it, copies of older epochs are deleted, and the WebSocket names the
// epoch so the server can refuse a stale copy (close code 4410). The last epoch
// and role are remembered so the page still opens offline.

import { api, ApiError, type Credentials, docPath, isRole, type Role } from "../api";
import { ACCESS_KEY_PREFIX } from "../offline";

export interface DocAccess {
  epoch: string;
  role: Role;
  title: string;
}

export type OpenResult =
  | { kind: "ok"; access: DocAccess; verified: true }
  /** The server can't be reached; the remembered epoch and role from last time. */
  | { kind: "offline"; access: DocAccess; verified: false }
  /** The server can't be reached and this device never opened the document. */
  | { kind: "unreachable" }
  | { kind: "denied"; status: number; message: string };

const DB_PREFIX = "coedit:";
const LEGACY_DB_PREFIX = "coedit-doc:";

function rememberKey(name: string): string {
  return `${ACCESS_KEY_PREFIX}${name}`;
}

/** The IndexedDB database that holds this device's copy of one epoch of a document. */
export function localDbName(name: string, epoch: string): string {
  // encodeURIComponent leaves no ":" in the name, so the epoch is what follows the last one.
  return `${DB_PREFIX}${encodeURIComponent(name)}:${epoch}`;
}

function remembered(name: string): DocAccess | null {
  try {
    const raw = localStorage.getItem(rememberKey(name));
    if (!raw) return null;
    const value = JSON.parse(raw) as Partial<DocAccess>;
    if (typeof value.epoch !== "string" || !value.epoch || !isRole(value.role)) return null;
    return { epoch: value.epoch, role: value.role, title: typeof value.title === "string" ? value.title : "" };
  } catch {
    return null;
  }
}

function remember(name: string, access: DocAccess): void {
  try {
    localStorage.setItem(rememberKey(name), JSON.stringify(access));
  } catch {
    // storage full or disabled: the page just won't open offline
  }
}

export function forget(name: string): void {
  try {
    localStorage.removeItem(rememberKey(name));
  } catch {
    // nothing to forget
  }
}

interface PutAnswer {
  epoch?: unknown;
  role?: unknown;
  title?: unknown;
}

/**
 * PUT /api/docs/<name>: the document's epoch and our role; `create` (the app's own "New")
 * creates it where allowed, else a missing document answers 404 and nothing is made.
 */
export async function fetchAccess(name: string, creds: Credentials, create = false): Promise<DocAccess> {
  const data = await api<PutAnswer>(docPath(name) + (create ? "?create=1" : ""), { method: "PUT", creds });
  if (typeof data?.epoch !== "string" || !data.epoch || !isRole(data.role)) {
    throw new ApiError(502, "the server's answer has no epoch or role");
  }
  return { epoch: data.epoch, role: data.role, title: typeof data.title === "string" ? data.title : "" };
}

export async function openDocument(name: string, creds: Credentials, create = false): Promise<OpenResult> {
  try {
    const access = await fetchAccess(name, creds, create);
    remember(name, access);
    return { kind: "ok", access, verified: true };
  } catch (err) {
    if (err instanceof ApiError && !err.network && err.status < 500) {
      return { kind: "denied", status: err.status, message: err.message };
    }
    const last = remembered(name);
    if (last) return { kind: "offline", access: last, verified: false };
    return { kind: "unreachable" };
  }
}

/** Remember a newly learned epoch/role (after a re-check). */
export function rememberAccess(name: string, access: DocAccess): void {
  remember(name, access);
}

/** Delete this device's copies of the document's other epochs (and of the old naming). */
export async function deleteOtherCopies(name: string, keepEpoch: string): Promise<void> {
  const keep = localDbName(name, keepEpoch);
  const prefix = `${DB_PREFIX}${encodeURIComponent(name)}:`;
  const doomed = new Set<string>([`${LEGACY_DB_PREFIX}${name}`]);
  try {
    const dbs = typeof indexedDB.databases === "function" ? await indexedDB.databases() : [];
    for (const db of dbs) {
      const dbName = db.name;
      // The kept epoch's comments (doc/comments.ts) stay with it; other epochs' go.
      if (!dbName || dbName === keep || dbName === `${keep}~comments` || !dbName.startsWith(prefix)) continue;
      if (!dbName.slice(prefix.length).includes(":")) doomed.add(dbName);
    }
  } catch {
    // databases() unsupported: at least the legacy name goes
  }
  // Not waiting past "blocked": another tab may still hold one open; it goes when that closes.
  await Promise.all([...doomed].map(deleteDb));
}

/** Delete one database; resolves once it is gone or blocked by another tab. */
export function deleteDb(dbName: string): Promise<void> {
  return new Promise((resolve) => {
    const req = indexedDB.deleteDatabase(dbName);
    req.onsuccess = () => resolve();
    req.onerror = () => resolve();
    req.onblocked = () => resolve();
  });
}

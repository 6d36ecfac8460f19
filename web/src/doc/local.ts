// Knows when IndexedDB holds every change made in this tab, so the page can
// say "Saved on this device" while offline (and tests know when closing the
// tab is safe).
//
// y-indexeddb writes each update in its own readwrite transaction on the
// "updates" store. IndexedDB runs transactions with overlapping scope in the
// order they were created, so a transaction we create afterwards completes
// only after those writes did.

import type { IndexeddbPersistence } from "y-indexeddb";
import type * as Y from "yjs";

export class LocalSaveTracker {
  private pending = true;
  private checking = false;
  private again = false;
  private listeners: Array<(saved: boolean) => void> = [];

  constructor(doc: Y.Doc, private readonly persistence: IndexeddbPersistence) {
    doc.on("update", (_u: Uint8Array, origin: unknown) => {
      if (origin === persistence) return;
      this.markPending();
    });
    void persistence.whenSynced.then(() => this.check());
  }

  onChange(listener: (saved: boolean) => void): void {
    this.listeners.push(listener);
    listener(!this.pending);
  }

  private markPending(): void {
    if (!this.pending) {
      this.pending = true;
      this.emit();
    }
    if (this.persistence.synced) queueMicrotask(() => this.check());
  }

  private check(): void {
    if (this.checking) {
      this.again = true;
      return;
    }
    const db = this.persistence.db;
    if (!db) return;
    this.checking = true;
    let tx: IDBTransaction;
    try {
      tx = db.transaction(["updates"], "readonly");
    } catch {
      this.checking = false;
      return; // database closed (page going away)
    }
    const done = (ok: boolean): void => {
      this.checking = false;
      if (this.again) {
        this.again = false;
        this.check();
        return;
      }
      if (ok && this.pending) {
        this.pending = false;
        this.emit();
      }
    };
    tx.oncomplete = () => done(true);
    tx.onabort = () => done(false);
    tx.onerror = () => done(false);
    tx.objectStore("updates").count();
  }

  private emit(): void {
    for (const listener of this.listeners) listener(!this.pending);
  }
}

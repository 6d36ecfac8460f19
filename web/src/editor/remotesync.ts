// Keeps a remote text edit cheap on a large document.
//
// y-tiptap 3.0.9 rebuilds its whole Yjs-to-ProseMirror mapping on every remote
// change (for relative positions after block moves): every block becomes a new
// ProseMirror node and the view compares them all, ~35 ms per remote keystroke
// on a 1 MB document, in the way of the local person's typing. A change that
// only edits text (no block added, removed, moved or re-attributed) cannot need
// that: the blocks it touched are dropped from the mapping by y-tiptap itself
// and rebuilt, the others are reused. Structural changes keep the full rebuild.

import { ProsemirrorBinding } from "@tiptap/y-tiptap";
import type { Awareness } from "y-protocols/awareness";
import * as Y from "yjs";

type TypeChanged = (events: Array<Y.YEvent<Y.AbstractType<unknown>>>, transaction: Y.Transaction) => void;

interface Binding {
  mapping: Map<unknown, unknown>;
  _typeChanged: TypeChanged;
}

/** True when the transaction changed only text (inserts, deletes, formatting). */
export function textOnly(transaction: Y.Transaction): boolean {
  for (const type of transaction.changed.keys()) {
    if (!(type instanceof Y.XmlText)) return false;
  }
  return true;
}

let installed = false;

export function installRemoteSync(): void {
  if (installed) return;
  installed = true;
  const proto = ProsemirrorBinding.prototype as unknown as Binding;
  const original = proto._typeChanged;
  proto._typeChanged = function (this: Binding, events, transaction) {
    if (!textOnly(transaction)) {
      original.call(this, events, transaction);
      return;
    }
    const mapping = this.mapping;
    // An own property shadows Map.prototype.clear for this one call.
    Object.defineProperty(mapping, "clear", { value: () => undefined, configurable: true });
    try {
      original.call(this, events, transaction);
    } finally {
      delete (mapping as { clear?: unknown }).clear;
    }
  };
}

type ChangeListener = (changes: { added: number[]; updated: number[]; removed: number[] }, origin: unknown) => void;

/**
 * The awareness as the caret plugin should see it: its "change" listeners hear
 * only of other people. Each local keystroke moves this person's own caret in
 * the awareness, and the plugin would answer with another full editor update
 * (finding every caret in the document again) although it never draws its own.
 */
export function othersOnly(awareness: Awareness): Awareness {
  const wrapped = new Map<ChangeListener, ChangeListener>();
  const view = Object.create(awareness) as Awareness;
  const only = (listener: ChangeListener): ChangeListener => {
    let filtered = wrapped.get(listener);
    if (!filtered) {
      filtered = (changes, origin) => {
        const own = awareness.clientID;
        const ids = [...changes.added, ...changes.updated, ...changes.removed];
        if (ids.some((id) => id !== own)) listener(changes, origin);
      };
      wrapped.set(listener, filtered);
    }
    return filtered;
  };
  view.on = ((name: string, listener: ChangeListener) =>
    awareness.on(name as "change", name === "change" ? only(listener) : listener)) as Awareness["on"];
  view.off = ((name: string, listener: ChangeListener) => {
    awareness.off(name as "change", name === "change" ? (wrapped.get(listener) ?? listener) : listener);
  }) as Awareness["off"];
  return view;
}

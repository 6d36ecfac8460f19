// Stops the editor before it meets a node type its schema does not know.
//
// y-prosemirror (y-tiptap) turns a Yjs element it cannot build into a deletion of that element,
// in a Yjs transaction that syncs to everyone: an older cached page would erase every table a
// newer page wrote. Tiptap's content check does not catch it (the node is dropped before any
// check). So this watches the shared fragment itself, ahead of the binding: Yjs emits
// `beforeObserverCalls` before any observer runs, and `onUnknown` unbinds the editor there, so
// the binding's observer never sees the element.
import * as Y from "yjs";

/** The first element in `el`'s subtree whose name is not in `known`, or null. */
export function firstUnknown(el: Y.XmlElement | Y.XmlFragment, known: ReadonlySet<string>): string | null {
  for (const child of el.toArray()) {
    if (child instanceof Y.XmlElement) {
      if (!known.has(child.nodeName)) return child.nodeName;
      const deeper = firstUnknown(child, known);
      if (deeper !== null) return deeper;
    }
  }
  return null;
}

/** Elements inserted in `tr` directly under `parent` (earlier ones were checked already). */
function inserted(parent: Y.XmlElement | Y.XmlFragment, tr: Y.Transaction): Y.XmlElement[] {
  const found: Y.XmlElement[] = [];
  for (let item = parent._start; item !== null; item = item.right) {
    const before = tr.beforeState.get(item.id.client) ?? 0;
    if (!item.deleted && item.id.clock >= before && item.content instanceof Y.ContentType) {
      const type = item.content.type;
      if (type instanceof Y.XmlElement) found.push(type);
    }
  }
  return found;
}

/**
 * Calls `onUnknown(name)` (once) when `fragment` holds, or receives, an element named outside
 * `known`; synchronously, before the observers of the transaction that brought it. Typing (text
 * changes only) costs a look at the changed types; a structural change walks the new elements.
 * Returns the function that stops watching.
 */
export function guardSchema(
  fragment: Y.XmlFragment,
  known: ReadonlySet<string>,
  onUnknown: (name: string) => void,
): () => void {
  const doc = fragment.doc;
  if (doc === null) throw new Error("the fragment belongs to no Y.Doc");
  let fired = false;
  const fire = (name: string): void => {
    if (fired) return;
    fired = true;
    stop();
    onUnknown(name);
  };
  const check = (tr: Y.Transaction): void => {
    for (const type of tr.changed.keys()) {
      if (!(type instanceof Y.XmlElement || type instanceof Y.XmlFragment)) continue;
      if (type !== fragment && !(type instanceof Y.XmlElement && isInside(type, fragment))) continue;
      for (const el of inserted(type, tr)) {
        const name = known.has(el.nodeName) ? firstUnknown(el, known) : el.nodeName;
        if (name !== null) return fire(name);
      }
    }
  };
  const stop = (): void => doc.off("beforeObserverCalls", check);
  doc.on("beforeObserverCalls", check);
  const already = firstUnknown(fragment, known);
  if (already !== null) fire(already);
  return stop;
}

function isInside(type: Y.XmlElement, root: Y.XmlFragment): boolean {
  for (let item = type._item; item !== null; ) {
    const parent = item.parent;
    if (parent === root) return true;
    if (!(parent instanceof Y.XmlElement)) return false;
    item = parent._item;
  }
  return false;
}

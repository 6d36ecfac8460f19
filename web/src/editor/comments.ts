// Comment anchors on the text: turning the selection into Yjs relative positions, turning
// them back into ranges as everyone edits, and highlighting those ranges (decorations).
//
// An anchor is JSON `{"start", "end"}` of Yjs relative positions into the text's XmlFragment,
// so it follows the text through every edit, local or remote; once the anchored text is
// deleted the range collapses and the thread is "detached". A thread made over HTTP has no
// anchor: it is placed on the first occurrence of its quote.

import type { Editor } from "@tiptap/core";
import { Plugin, PluginKey } from "@tiptap/pm/state";
import { Decoration, DecorationSet } from "@tiptap/pm/view";
import type { Node as PMNode } from "@tiptap/pm/model";
import { absolutePositionToRelativePosition, relativePositionToAbsolutePosition, ySyncPluginKey } from "@tiptap/y-tiptap";

type Mapping = Parameters<typeof relativePositionToAbsolutePosition>[3];
import * as Y from "yjs";

/** What the comments panel asks to have highlighted. */
export interface CommentMark {
  id: string;
  anchor: string | null;
  quote: string;
}

export interface CommentRange {
  from: number;
  to: number;
}

export interface CommentAnchors {
  /** The selection as an anchor and the text it quotes; null when nothing is selected. */
  fromSelection(): { anchor: string; quote: string } | null;
  /** Where a thread sits now, or null when its text is gone (detached). */
  locate(mark: CommentMark): CommentRange | null;
  /** Highlight these threads (the active one more strongly); re-rendered as the text changes. */
  show(marks: CommentMark[], active: string | null): void;
  /** Called with a thread's id when the caret or a click lands in its highlight. */
  onPick(listener: (id: string) => void): void;
  /** Put the caret at the start of a thread's text and scroll it into view. */
  reveal(mark: CommentMark): void;
}

const key = new PluginKey<null>("coedit-comments");

interface SyncState {
  type: Y.XmlFragment;
  binding: { mapping: Mapping } | null;
}

function syncState(editor: Editor): SyncState | null {
  const state = ySyncPluginKey.getState(editor.state) as SyncState | undefined;
  return state?.binding ? state : null;
}

/** The first occurrence of `quote` within one text block, as a document range. */
function findQuote(doc: PMNode, quote: string): CommentRange | null {
  if (!quote) return null;
  let found: CommentRange | null = null;
  doc.descendants((node, pos) => {
    if (found) return false;
    if (!node.isTextblock) return true;
    const text = node.textBetween(0, node.content.size, "\n", "\n");
    const index = text.indexOf(quote);
    if (index < 0) return false;
    // Text positions inside a block with only text and leaf nodes: offset + 1 past the opening.
    let offset = 0;
    let from = -1;
    let to = -1;
    node.forEach((child, childOffset) => {
      const size = child.isText ? (child.text ?? "").length : 1;
      const start = offset;
      if (from < 0 && index < start + size) from = pos + 1 + childOffset + (index - start);
      if (to < 0 && index + quote.length <= start + size) to = pos + 1 + childOffset + (index + quote.length - start);
      offset += size;
    });
    if (from >= 0 && to > from) found = { from, to };
    return false;
  });
  return found;
}

export function commentAnchors(editor: Editor, ydoc: Y.Doc): CommentAnchors {
  let marks: CommentMark[] = [];
  let active: string | null = null;
  const listeners: Array<(id: string) => void> = [];

  const locate = (mark: CommentMark): CommentRange | null => {
    if (mark.anchor === null) return findQuote(editor.state.doc, mark.quote);
    const sync = syncState(editor);
    const mapping = sync?.binding?.mapping;
    if (!sync || !mapping) return null;
    try {
      const json = JSON.parse(mark.anchor) as { start?: unknown; end?: unknown };
      const at = (raw: unknown): number | null =>
        relativePositionToAbsolutePosition(ydoc, sync.type, Y.createRelativePositionFromJSON(raw), mapping);
      const from = at(json.start);
      const to = at(json.end);
      if (from === null || to === null || to <= from) return null;
      return { from, to: Math.min(to, editor.state.doc.content.size) };
    } catch {
      return null;
    }
  };

  const decorate = (doc: PMNode): DecorationSet => {
    const decorations: Decoration[] = [];
    for (const mark of marks) {
      const range = locate(mark);
      if (!range) continue;
      const cls = mark.id === active ? "comment-highlight active" : "comment-highlight";
      decorations.push(Decoration.inline(range.from, range.to, { class: cls, "data-thread": mark.id }));
    }
    return DecorationSet.create(doc, decorations);
  };

  editor.registerPlugin(new Plugin({
    key,
    props: {
      decorations: (state) => decorate(state.doc),
      handleClick: (_view, pos) => {
        for (const mark of marks) {
          const range = locate(mark);
          if (range && pos >= range.from && pos <= range.to) {
            for (const listener of listeners) listener(mark.id);
            return false;
          }
        }
        return false;
      },
    },
  }));

  return {
    fromSelection: () => {
      const { from, to, empty } = editor.state.selection;
      const sync = syncState(editor);
      if (empty || !sync?.binding) return null;
      const quote = editor.state.doc.textBetween(from, to, "\n", "\n").trim();
      if (!quote) return null;
      const mapping = sync.binding.mapping;
      const start = Y.relativePositionToJSON(absolutePositionToRelativePosition(from, sync.type, mapping)) as unknown;
      const end = Y.relativePositionToJSON(absolutePositionToRelativePosition(to, sync.type, mapping)) as unknown;
      return { anchor: JSON.stringify({ start, end }), quote: quote.slice(0, 10_000) };
    },
    locate,
    show: (next, nextActive) => {
      marks = next;
      active = nextActive;
      // A transaction with nothing in it has the decorations computed again.
      editor.view.dispatch(editor.state.tr.setMeta(key, true).setMeta("addToHistory", false));
    },
    onPick: (listener) => listeners.push(listener),
    reveal: (mark) => {
      const range = locate(mark);
      if (!range) return;
      const dom = editor.view.domAtPos(range.from).node;
      const element = dom instanceof Element ? dom : dom.parentElement;
      element?.scrollIntoView({ block: "center", behavior: "smooth" });
    },
  };
}

// Find and replace inside the editor: matches shown as decorations (never marks: a search is
// one person's, and must not reach the shared document), the current one selected and scrolled
// to, replace one, and replace all as one change (one undo step).

import type { Editor } from "@tiptap/core";
import type { Node as PMNode } from "@tiptap/pm/model";
import { Plugin, PluginKey, TextSelection, type EditorState, type Transaction } from "@tiptap/pm/state";
import { Decoration, DecorationSet } from "@tiptap/pm/view";
import { yUndoPluginKey } from "@tiptap/y-tiptap";

export interface FindQuery {
  text: string;
  matchCase: boolean;
}

export interface FindStatus {
  /** Matches in the document now. */
  count: number;
  /** 1-based index of the current match, 0 when there is none. */
  current: number;
}

export interface FindHandle {
  /** Search for `query` (empty: clear); the current match is the first at or after the caret. */
  search(query: FindQuery): FindStatus;
  next(): FindStatus;
  previous(): FindStatus;
  /** Replace the current match, then move to the next one. */
  replace(text: string): FindStatus;
  /** Replace every match in one change; returns how many were replaced. */
  replaceAll(text: string): number;
  status(): FindStatus;
  /** Stop showing matches. */
  clear(): void;
}

interface Match {
  from: number;
  to: number;
}

interface FindState {
  query: FindQuery;
  matches: Match[];
  current: number; // index into matches, -1 for none
  decorations: DecorationSet;
}

const key = new PluginKey<FindState>("coedit-find");
const EMPTY: FindQuery = { text: "", matchCase: false };

/** Every occurrence of the query in the document's text, block by block (a match never spans
 * two paragraphs or an inline node such as an image). */
function findMatches(doc: PMNode, query: FindQuery): Match[] {
  if (!query.text) return [];
  const needle = query.matchCase ? query.text : query.text.toLocaleLowerCase();
  const found: Match[] = [];
  doc.descendants((node, pos) => {
    if (!node.isTextblock) return true;
    // Runs of adjacent text nodes, with where each starts in the document.
    let run = "";
    let runStart = -1;
    const flush = (): void => {
      if (run) {
        const hay = query.matchCase ? run : run.toLocaleLowerCase();
        let at = hay.indexOf(needle);
        while (at !== -1) {
          found.push({ from: runStart + at, to: runStart + at + needle.length });
          at = hay.indexOf(needle, at + Math.max(1, needle.length));
        }
      }
      run = "";
      runStart = -1;
    };
    node.forEach((child, offset) => {
      if (child.isText) {
        if (runStart === -1) runStart = pos + 1 + offset;
        run += child.text ?? "";
      } else {
        flush();
      }
    });
    flush();
    return false;
  });
  return found;
}

function decorate(doc: PMNode, matches: Match[], current: number): DecorationSet {
  if (!matches.length) return DecorationSet.empty;
  return DecorationSet.create(
    doc,
    matches.map((m, i) =>
      Decoration.inline(m.from, m.to, { class: i === current ? "find-match find-current" : "find-match" }),
    ),
  );
}

function firstFrom(matches: Match[], pos: number): number {
  if (!matches.length) return -1;
  const index = matches.findIndex((m) => m.from >= pos);
  return index === -1 ? 0 : index;
}

type Meta = { query: FindQuery; current?: number } | { current: number };

function findPlugin(): Plugin<FindState> {
  return new Plugin<FindState>({
    key,
    state: {
      init: () => ({ query: EMPTY, matches: [], current: -1, decorations: DecorationSet.empty }),
      apply(tr: Transaction, prev: FindState, _old: EditorState, state: EditorState): FindState {
        const meta = tr.getMeta(key) as Meta | undefined;
        if (!meta && !tr.docChanged) return prev;
        const query = meta && "query" in meta ? meta.query : prev.query;
        if (!query.text) return { query, matches: [], current: -1, decorations: DecorationSet.empty };
        // Typing (anyone's) changes the matches: look again, keeping the current one in place.
        const matches = findMatches(state.doc, query);
        let current: number;
        if (meta?.current !== undefined) current = meta.current;
        else if (prev.current >= 0 && prev.matches[prev.current]) {
          current = firstFrom(matches, tr.mapping.map(prev.matches[prev.current].from));
        } else current = firstFrom(matches, state.selection.from);
        if (current >= matches.length) current = matches.length ? 0 : -1;
        return { query, matches, current, decorations: decorate(state.doc, matches, current) };
      },
    },
    props: {
      decorations: (state) => key.getState(state)?.decorations,
    },
  });
}

export function createFind(editor: Editor): FindHandle {
  editor.registerPlugin(findPlugin());
  const state = (): FindState => key.getState(editor.state) as FindState;
  const status = (): FindStatus => {
    const s = state();
    return { count: s.matches.length, current: s.current + 1 };
  };
  const show = (index: number): FindStatus => {
    const s = state();
    if (!s.matches.length) return status();
    const current = ((index % s.matches.length) + s.matches.length) % s.matches.length;
    const m = s.matches[current];
    const tr = editor.state.tr
      .setMeta(key, { current })
      .setSelection(TextSelection.create(editor.state.doc, m.from, m.to))
      .scrollIntoView();
    editor.view.dispatch(tr);
    return status();
  };
  // Replace all is one change, and one undo step: without this, Yjs's undo manager would merge
  // it with typing just before or after it (its capture window).
  const stopCapturing = (): void => {
    const undo = yUndoPluginKey.getState(editor.state) as { undoManager?: { stopCapturing(): void } } | undefined;
    undo?.undoManager?.stopCapturing();
  };
  return {
    search: (query) => {
      editor.view.dispatch(editor.state.tr.setMeta(key, { query }));
      return status();
    },
    next: () => show(state().current + 1),
    previous: () => show(state().current - 1),
    status,
    clear: () => {
      editor.view.dispatch(editor.state.tr.setMeta(key, { query: EMPTY }));
    },
    replace: (text) => {
      const s = state();
      const m = s.matches[s.current];
      if (!m || !editor.isEditable) return status();
      stopCapturing();
      const tr = editor.state.tr.insertText(text, m.from, m.to);
      tr.setMeta(key, { query: s.query, current: Math.max(0, s.current) });
      editor.view.dispatch(tr);
      stopCapturing();
      const after = state();
      // The replacement itself may match: move past it.
      const next = after.matches.findIndex((x) => x.from >= m.from + text.length);
      return after.matches.length ? show(next === -1 ? 0 : next) : status();
    },
    replaceAll: (text) => {
      const s = state();
      if (!s.matches.length || !editor.isEditable) return 0;
      stopCapturing();
      const tr = editor.state.tr;
      // From the end, so that earlier positions stay valid.
      for (const m of [...s.matches].reverse()) tr.insertText(text, m.from, m.to);
      tr.setMeta(key, { query: s.query });
      editor.view.dispatch(tr);
      stopCapturing();
      return s.matches.length;
    },
  };
}

// The read-only version preview, with its differences from the current document highlighted.

import { Editor, Extension } from "@tiptap/core";
import type { Node as PMNode } from "@tiptap/pm/model";
import { Plugin } from "@tiptap/pm/state";
import { Decoration, DecorationSet } from "@tiptap/pm/view";
import { serverPlainText } from "../rules";
import { schemaExtensions } from "./schema";

/** A run of the server's text diff (`GET …/versions/<id>/diff`): offsets in code points. */
export interface DiffSegment {
  op: "equal" | "insert" | "delete";
  text: string;
}

export interface PreviewOptions {
  element: HTMLElement;
  /** ProseMirror JSON of the version (`GET …/versions/<id>?format=json` → `content`). */
  content: unknown;
  /**
   * The diff against the current document with the version as target: insertions
   * (text only the version has) are highlighted, deletions (text only the current
   * document has) shown struck through where they would be.
   */
  diff?: { segments: DiffSegment[]; targetText: string };
  /** The address an image is shown from (see schemaExtensions). */
  imageSrc?: (src: string) => string;
}

export interface PreviewHandle {
  /** False when the diff could not be placed in the preview (texts disagree). */
  readonly highlighted: boolean;
  destroy(): void;
}

function diffDecorations(doc: PMNode, segments: DiffSegment[], targetText: string): DecorationSet | null {
  const mapped = serverPlainText(doc);
  if (mapped.chars.join("") !== targetText) return null;
  const decorations: Decoration[] = [];
  const { chars, pos } = mapped;
  const anchor = (t: number): number => {
    for (let i = t; i < chars.length && chars[i] !== "\n"; i++) {
      const p = pos[i];
      if (p !== null) return p;
    }
    for (let i = t - 1; i >= 0; i--) {
      const p = pos[i];
      if (p !== null) return p + chars[i].length;
    }
    for (let i = t; i < chars.length; i++) {
      const p = pos[i];
      if (p !== null) return p;
    }
    return 0;
  };
  let t = 0;
  for (const seg of segments) {
    const n = Array.from(seg.text).length;
    if (seg.op === "equal") {
      t += n;
    } else if (seg.op === "insert") {
      let from: number | null = null;
      let to = 0;
      for (let i = t; i < t + n && i < chars.length; i++) {
        const p = pos[i];
        if (p !== null && from !== null && p === to) {
          to = p + chars[i].length;
          continue;
        }
        if (from !== null) decorations.push(Decoration.inline(from, to, { class: "diff-ins" }));
        from = p;
        to = p === null ? 0 : p + chars[i].length;
      }
      if (from !== null) decorations.push(Decoration.inline(from, to, { class: "diff-ins" }));
      t += n;
    } else {
      const shown = seg.text.replace(/^\n+|\n+$/g, "");
      if (!shown) continue;
      const block = seg.text.includes("\n");
      decorations.push(Decoration.widget(anchor(t), () => {
        const del = document.createElement("del");
        del.className = block ? "diff-del diff-del-block" : "diff-del";
        del.textContent = shown;
        return del;
      }, { side: -1, ignoreSelection: true }));
    }
  }
  return DecorationSet.create(doc, decorations);
}

/** A second, read-only editor without collaboration that shows one version. */
export function createPreview(opts: PreviewOptions): PreviewHandle {
  let highlighted = false;
  const diff = opts.diff;
  const DiffHighlight = Extension.create({
    name: "diffHighlight",
    addProseMirrorPlugins() {
      if (!diff) return [];
      return [
        new Plugin({
          state: {
            init: (_config, state) => {
              const set = diffDecorations(state.doc, diff.segments, diff.targetText);
              highlighted = set !== null;
              return set ?? DecorationSet.empty;
            },
            apply: (_tr, set) => set,
          },
          props: {
            decorations(state) {
              return this.getState(state);
            },
          },
        }),
      ];
    },
  });
  let failed: Error | null = null;
  const editor = new Editor({
    element: opts.element,
    extensions: [
      ...schemaExtensions({ autolink: false, imageSrc: opts.imageSrc }),
      DiffHighlight,
    ],
    content: opts.content as Record<string, unknown>,
    editable: false,
    enableContentCheck: true,
    onContentError: ({ error }) => {
      failed = error;
    },
    editorProps: {
      attributes: { "aria-label": "Version preview", "aria-readonly": "true", class: "preview-doc" },
    },
  });
  if (failed) {
    editor.destroy();
    throw failed;
  }
  return {
    get highlighted() {
      return highlighted;
    },
    destroy: () => {
      editor.destroy();
      opts.element.replaceChildren();
    },
  };
}

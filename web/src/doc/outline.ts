// The outline: the document's headings in a panel on the left; a click goes there. It follows
// every change (anyone's), redrawn at most a few times a second.

import { byId, setText } from "../dom";
import type { EditorHandle, Heading } from "../editor/editor";

export interface Outline {
  /** The document changed: redraw soon (cheap when the headings did not change). */
  changed(): void;
}

const REDRAW_MS = 150;

export function mountOutline(editor: EditorHandle): Outline {
  const panel = byId("outline-panel");
  const list = byId<HTMLOListElement>("outline-list");
  const empty = byId("outline-empty");
  const toggle = byId<HTMLButtonElement>("outline-button");
  let shown = "";
  let timer = 0;

  function render(): void {
    timer = 0;
    if (panel.hidden) return;
    const headings = editor.headings();
    const key = JSON.stringify(headings);
    if (key === shown) return;
    shown = key;
    empty.hidden = headings.length > 0;
    list.replaceChildren(...headings.map(entry));
  }

  function entry(h: Heading): HTMLLIElement {
    const li = document.createElement("li");
    li.className = `outline-h${Math.min(h.level, 3)}`;
    const link = document.createElement("button");
    link.type = "button";
    setText(link, h.text.trim() || "(empty heading)");
    link.addEventListener("click", () => {
      // A phone has no room for both: the panel gives way to the text it points at.
      if (window.matchMedia("(max-width: 720px)").matches) open(false);
      editor.goTo(h.pos);
    });
    li.append(link);
    return li;
  }

  function open(show: boolean): void {
    panel.hidden = !show;
    toggle.setAttribute("aria-expanded", String(show));
    document.body.classList.toggle("outline-open", show);
    if (show) {
      shown = "";
      render();
    }
  }

  toggle.addEventListener("click", () => open(panel.hidden));
  byId("outline-close").addEventListener("click", () => open(false));
  return {
    changed: () => {
      if (!timer && !panel.hidden) timer = window.setTimeout(render, REDRAW_MS);
    },
  };
}

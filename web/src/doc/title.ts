// The document's title: the header's input <-> `meta.title` in the Y.Doc, and the tab's title.

import type * as Y from "yjs";
import { byId } from "../dom";

export interface TitleField {
  setReadOnly(readOnly: boolean): void;
}

/** `onEnter`: Enter in the title moves on to the text. */
export function mountTitle(ydoc: Y.Doc, onEnter: () => void): TitleField {
  const meta = ydoc.getMap<unknown>("meta");
  const titleInput = byId<HTMLInputElement>("title");

  function currentTitle(): string {
    const t = meta.get("title");
    return typeof t === "string" ? t : "";
  }

  function renderTitle(): void {
    const title = currentTitle();
    if (titleInput.value !== title) {
      const focused = document.activeElement === titleInput;
      const start = titleInput.selectionStart;
      const end = titleInput.selectionEnd;
      titleInput.value = title;
      if (focused && start !== null && end !== null) {
        titleInput.setSelectionRange(Math.min(start, title.length), Math.min(end, title.length));
      }
    }
    document.title = `${title.trim() || "Untitled document"} · Coedit`;
  }

  titleInput.addEventListener("input", () => {
    if (titleInput.readOnly) return;
    ydoc.transact(() => meta.set("title", titleInput.value));
  });
  titleInput.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      onEnter();
    }
  });
  meta.observe(renderTitle);
  renderTitle();

  return {
    setReadOnly: (readOnly) => {
      titleInput.readOnly = readOnly;
    },
  };
}

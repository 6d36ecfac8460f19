// The find bar: Ctrl/Cmd+F finds, Ctrl/Cmd+H finds and replaces (the browser's own find cannot
// see text the editor has not drawn, nor replace), and the header's "Find" for phones.

import { byId, setText } from "../dom";
import type { EditorHandle } from "../editor/editor";
import type { FindStatus } from "../editor/find";

export interface FindBar {
  open(replace: boolean): void;
  close(): void;
  /** The person may (no longer) change the text: replacing is offered only to editors. */
  setCanReplace(can: boolean): void;
}

export function mountFindBar(editor: EditorHandle, canEdit: () => boolean): FindBar {
  const bar = byId<HTMLFormElement>("find-bar");
  const input = byId<HTMLInputElement>("find-input");
  const counter = byId("find-count");
  const matchCase = byId<HTMLInputElement>("find-case");
  const replaceRow = byId("replace-row");
  const replaceToggle = byId<HTMLButtonElement>("find-toggle-replace");
  const replaceInput = byId<HTMLInputElement>("replace-input");
  const find = editor.find;

  const show = (s: FindStatus): void => {
    if (!input.value) setText(counter, "");
    else if (!s.count) setText(counter, "No results");
    else setText(counter, `${s.current} of ${s.count}`);
    bar.dataset.matches = String(s.count);
  };
  const search = (): void => show(find.search({ text: input.value, matchCase: matchCase.checked }));
  const showReplace = (on: boolean): void => {
    const shown = on && canEdit();
    replaceRow.hidden = !shown;
    replaceToggle.setAttribute("aria-expanded", String(shown));
  };

  function open(replace: boolean): void {
    const wasOpen = !bar.hidden;
    bar.hidden = false;
    showReplace(replace || (wasOpen && !replaceRow.hidden));
    (replace && !replaceRow.hidden && input.value ? replaceInput : input).focus();
    input.select();
    search();
  }
  function close(): void {
    if (bar.hidden) return;
    bar.hidden = true;
    find.clear();
    editor.focus();
  }

  input.addEventListener("input", search);
  matchCase.addEventListener("change", search);
  input.addEventListener("keydown", (e) => {
    if (e.key !== "Enter") return;
    e.preventDefault();
    show(e.shiftKey ? find.previous() : find.next());
  });
  replaceInput.addEventListener("keydown", (e) => {
    if (e.key !== "Enter") return;
    e.preventDefault();
    show(find.replace(replaceInput.value));
  });
  byId("find-next").addEventListener("click", () => show(find.next()));
  byId("find-prev").addEventListener("click", () => show(find.previous()));
  byId("replace-one").addEventListener("click", () => show(find.replace(replaceInput.value)));
  byId("replace-all").addEventListener("click", () => {
    const replaced = find.replaceAll(replaceInput.value);
    show(find.status());
    setText(counter, replaced ? `Replaced ${replaced}` : "No results");
  });
  replaceToggle.addEventListener("click", () => showReplace(replaceRow.hidden));
  byId("find-close").addEventListener("click", close);
  bar.addEventListener("submit", (e) => e.preventDefault());
  bar.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      e.preventDefault();
      close();
    }
  });
  byId("find-button").addEventListener("click", () => open(false));
  document.addEventListener("keydown", (e) => {
    if (!(e.ctrlKey || e.metaKey) || e.altKey) return;
    const key = e.key.toLowerCase();
    if (key !== "f" && key !== "h") return;
    // Only on the document (not in the comment box or a dialog): there, the browser's own.
    const target = e.target as HTMLElement | null;
    if (target && !bar.contains(target) && target !== document.body && !editor.dom.contains(target)) return;
    e.preventDefault();
    open(key === "h");
  });

  return {
    open,
    close,
    setCanReplace: (can) => {
      replaceToggle.hidden = !can;
      if (!can) showReplace(false);
    },
  };
}

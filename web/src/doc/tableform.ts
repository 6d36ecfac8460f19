// The table form: how many rows and columns the table button inserts.

import { byId } from "../dom";
import type { EditorHandle } from "../editor/editor";

export interface TableForm {
  open(): void;
}

const MAX = 50;

export function mountTableForm(editor: EditorHandle, canEdit: () => boolean): TableForm {
  const form = byId<HTMLFormElement>("table-form");
  const rows = byId<HTMLInputElement>("table-rows");
  const cols = byId<HTMLInputElement>("table-cols");
  const header = byId<HTMLInputElement>("table-header");

  function close(): void {
    form.hidden = true;
    editor.focus();
  }

  function size(input: HTMLInputElement, fallback: number): number {
    const n = Math.round(Number(input.value));
    return Number.isFinite(n) && n >= 1 ? Math.min(n, MAX) : fallback;
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    form.hidden = true;
    editor.insertTable(size(rows, 3), size(cols, 3), header.checked);
  });
  byId("table-cancel").addEventListener("click", close);
  form.addEventListener("keydown", (e) => {
    if (e.key === "Escape") close();
  });

  return {
    open: () => {
      if (!canEdit()) return;
      form.hidden = false;
      rows.focus();
      rows.select();
    },
  };
}

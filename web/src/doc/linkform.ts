// The link form: the address for the Link button and Ctrl/⌘+K.

import { byId } from "../dom";
import type { EditorHandle } from "../editor/editor";

export interface LinkForm {
  open(): void;
  hide(): void;
}

export function mountLinkForm(editor: EditorHandle, canEdit: () => boolean): LinkForm {
  const linkForm = byId<HTMLFormElement>("link-form");
  const linkInput = byId<HTMLInputElement>("link-input");

  function openLinkForm(): void {
    if (!canEdit()) return;
    linkInput.value = editor.currentLink() ?? "";
    linkForm.hidden = false;
    linkInput.focus();
    linkInput.select();
  }

  function closeLinkForm(): void {
    linkForm.hidden = true;
    editor.focus();
  }

  linkForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const value = linkInput.value;
    linkForm.hidden = true;
    editor.setLink(value.trim() ? value : null);
  });
  byId("link-remove").addEventListener("click", () => {
    linkForm.hidden = true;
    editor.setLink(null);
  });
  byId("link-cancel").addEventListener("click", closeLinkForm);
  linkInput.addEventListener("keydown", (e) => {
    if (e.key === "Escape") closeLinkForm();
  });
  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && !e.altKey && !e.shiftKey && e.key.toLowerCase() === "k"
      && editor.dom.contains(document.activeElement)) {
      e.preventDefault();
      openLinkForm();
    }
  });

  return {
    open: openLinkForm,
    hide: () => {
      linkForm.hidden = true;
    },
  };
}

// A short message at the bottom of the home page, with at most one action ("Undo").

import { byId } from "../dom";

const SHOW_MS = 8000;

export function toast(message: string, action?: { label: string; run: () => void }): void {
  const box = byId("toast");
  const text = byId("toast-text");
  const button = byId<HTMLButtonElement>("toast-action");
  text.textContent = message;
  button.hidden = !action;
  button.onclick = action
    ? () => {
        box.hidden = true;
        action.run();
      }
    : null;
  if (action) button.textContent = action.label;
  box.hidden = false;
  const shown = message;
  window.setTimeout(() => {
    if (text.textContent === shown) box.hidden = true;
  }, SHOW_MS);
}

// Our role on the page: `data-role`, the read-only look, the role badge and the Share button.

import { type AuthMode, ROLE_LABELS, type Role } from "../api";
import { byId, setIfChanged } from "../dom";

const roleBadge = byId("role");
const shareButton = byId<HTMLButtonElement>("share-button");

/** `readOnly`: a viewer, or the connection stopped for good. */
export function renderRole(r: Role, readOnly: boolean, mode: AuthMode): void {
  setIfChanged(document.body.dataset, "role", r);
  document.body.classList.toggle("read-only", readOnly);
  // Open mode: everyone may do everything, so there are no roles to show.
  roleBadge.hidden = mode === "open";
  roleBadge.textContent = ROLE_LABELS[r];
  roleBadge.dataset.role = r;
  shareButton.hidden = !(mode === "accounts" && r === "owner");
}

// Why the page can't show (or keep showing) the document: banner, `data-access`, refusal texts.

import { type AuthMode, signInUrl } from "../api";
import { byId, setIfChanged } from "../dom";

/** Why the page can't show or keep showing the document (`data-access` on body). */
export type AccessState =
  | "pending" | "ok" | "signin" | "denied" | "lost" | "deleted" | "unreachable"
  /** No document by this name (a mistyped address): offer to create it. */
  | "missing"
  | "trashed"
  | "invalid";

/** A link the banner offers (sign in, reload, all documents). */
export interface AccessAction {
  label: string;
  href: string;
}

const accessBanner = byId("access-banner");
const accessText = byId("access-text");
const accessAction = byId<HTMLAnchorElement>("access-action");

export function showAccess(state: AccessState, text = "", action?: AccessAction): void {
  setIfChanged(document.body.dataset, "access", state);
  accessBanner.hidden = !text;
  accessText.textContent = text;
  accessAction.hidden = !action;
  if (action) {
    accessAction.textContent = action.label;
    accessAction.href = action.href;
  }
}

export function refusalText(
  status: number,
  message: string,
  mode: AuthMode,
  name = "",
): { state: AccessState; text: string } {
  if (status === 401) {
    return {
      state: "signin",
      text: mode === "jwt"
        ? "This page needs a valid access token. Open the document again from the application that links to it."
        : "Sign in to open this document.",
    };
  }
  if (status === 404) return { state: "missing", text: `There is no document named “${name}”. Create it?` };
  if (status === 410) {
    return {
      state: "trashed",
      text: "This document is in the trash. Its owner can restore it from the Trash on the home page.",
    };
  }
  if (status === 400) {
    const why = message && !/^HTTP \d+$/.test(message) ? `: ${message}` : "";
    return { state: "invalid", text: `“${name}” is not a valid document name${why}.` };
  }
  const detail = message && !/^HTTP \d+$/.test(message) ? ` (${message})` : "";
  return { state: "denied", text: `You don't have access to this document${detail}.` };
}

export function signInAction(mode: AuthMode): AccessAction | undefined {
  return mode === "accounts" ? { label: "Sign in", href: signInUrl() } : undefined;
}

/** What the banner offers for a refusal: sign in, create the missing document, or go home. */
export function refusalAction(state: AccessState, mode: AuthMode, name: string): AccessAction | undefined {
  if (state === "signin") return signInAction(mode);
  if (state === "missing") {
    // The app's own "New" link: it creates (doc/epoch.ts), keeping any credentials given.
    const params = new URLSearchParams(location.search);
    params.set("new", "1");
    return { label: "Create document", href: `/d/${encodeURIComponent(name)}?${params}` };
  }
  if (state === "trashed" || state === "invalid") return { label: "All documents", href: "/" };
  return undefined;
}

// Why the page can't show (or keep showing) the document: banner, `data-access`, refusal texts.

import { type AuthMode, signInUrl } from "../api";
import { byId, setIfChanged } from "../dom";

/** Why the page can't show or keep showing the document (`data-access` on body). */
export type AccessState = "pending" | "ok" | "signin" | "denied" | "lost" | "deleted" | "unreachable";

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

export function refusalText(status: number, message: string, mode: AuthMode): { state: AccessState; text: string } {
  if (status === 401) {
    return {
      state: "signin",
      text: mode === "jwt"
        ? "This page needs a valid access token. Open the document again from the application that links to it."
        : "Sign in to open this document.",
    };
  }
  if (status === 404) return { state: "deleted", text: "This document doesn't exist (it may have been deleted)." };
  const detail = message && !/^HTTP \d+$/.test(message) ? ` (${message})` : "";
  return { state: "denied", text: `You don't have access to this document${detail}.` };
}

export function signInAction(mode: AuthMode): AccessAction | undefined {
  return mode === "accounts" ? { label: "Sign in", href: signInUrl() } : undefined;
}

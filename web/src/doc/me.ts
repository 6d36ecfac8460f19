// Who this tab is to the others: the name an account or token fixes.

import { cleanName } from "../identity";

/** The token's `name` claim (JWT mode): the server shows that name to others. */
export function jwtName(token: string | null): string | null {
  if (!token) return null;
  try {
    const payload = token.split(".")[1] ?? "";
    const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
    const name: unknown = (JSON.parse(json) as { name?: unknown }).name;
    return typeof name === "string" && name.trim() ? cleanName(name) : null;
  } catch {
    return null;
  }
}

// Talking to the server's HTTP API: the page's credentials (a share link's
// token or an embedding application's JWT, both taken from the page address)
// go with every request, and refusals come back as ApiError.

export type Role = "viewer" | "commenter" | "editor" | "owner";
export type AuthMode = "open" | "accounts" | "jwt";

export const ROLE_LABELS: Record<Role, string> = {
  owner: "Owner",
  editor: "Can edit",
  commenter: "Can comment",
  viewer: "Viewing",
};

export function isRole(value: unknown): value is Role {
  return value === "viewer" || value === "commenter" || value === "editor" || value === "owner";
}

/** What this page was opened with: `?share=<link token>` or `?token=<jwt>`. */
export interface Credentials {
  share: string | null;
  token: string | null;
}

export function credentialsFromLocation(): Credentials {
  const params = new URLSearchParams(location.search);
  return { share: params.get("share") || null, token: params.get("token") || null };
}

export const NO_CREDENTIALS: Credentials = { share: null, token: null };

/** Query parameters carrying the credentials (WebSocket params, export links). */
export function credentialParams(creds: Credentials): Record<string, string> {
  const params: Record<string, string> = {};
  if (creds.token) params.token = creds.token;
  if (creds.share) params.share = creds.share;
  return params;
}

/** A URL with the credentials added as query parameters (for plain links: GET only). */
export function withCredentials(url: string, creds: Credentials): string {
  const u = new URL(url, location.origin);
  for (const [k, v] of Object.entries(credentialParams(creds))) u.searchParams.set(k, v);
  return u.origin === location.origin ? u.pathname + u.search : u.href;
}

export function docPath(name: string): string {
  return `/api/docs/${encodeURIComponent(name)}`;
}

export class ApiError extends Error {
  constructor(
    /** HTTP status, or 0 when the server could not be reached. */
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }

  /** The request never got an answer (offline, server down). */
  get network(): boolean {
    return this.status === 0;
  }
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  creds?: Credentials;
  signal?: AbortSignal;
}

function headersFor(creds: Credentials | undefined, hasBody: boolean): Headers {
  const headers = new Headers({ Accept: "application/json" });
  if (hasBody) headers.set("Content-Type", "application/json");
  if (creds?.token) headers.set("Authorization", `Bearer ${creds.token}`);
  if (creds?.share) headers.set("X-Coedit-Share", creds.share);
  return headers;
}

async function errorMessage(res: Response): Promise<string> {
  try {
    const data: unknown = await res.json();
    const message = (data as { error?: unknown } | null)?.error;
    if (typeof message === "string" && message) return message;
  } catch {
    // not JSON
  }
  return `HTTP ${res.status}`;
}

/** A JSON request; resolves with the parsed answer (null for 204), rejects with ApiError. */
export async function api<T = unknown>(path: string, opts: RequestOptions = {}): Promise<T> {
  const hasBody = opts.body !== undefined;
  let res: Response;
  try {
    res = await fetch(path, {
      method: opts.method ?? "GET",
      headers: headersFor(opts.creds, hasBody),
      body: hasBody ? JSON.stringify(opts.body) : undefined,
      credentials: "same-origin",
      cache: "no-store",
      signal: opts.signal,
    });
  } catch (err) {
    if (err instanceof DOMException && err.name === "AbortError") throw err;
    throw new ApiError(0, "the server can't be reached");
  }
  if (!res.ok) throw new ApiError(res.status, await errorMessage(res));
  if (res.status === 204) return null as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : null) as T;
}

export interface Me {
  mode: AuthMode;
  user: { username: string } | null;
}

const ME_KEY = "coedit:me";

/**
 * Who is signed in, and the server's mode. A server without accounts answers
 * "open". Remembered, so a page opened while the server can't be reached still
 * knows (the server decides again once it answers).
 */
export async function whoAmI(): Promise<Me> {
  let me: Me;
  try {
    const answer = await api<Partial<Me>>("/api/auth/me");
    const mode: AuthMode = answer.mode === "accounts" || answer.mode === "jwt" ? answer.mode : "open";
    const username = answer.user && typeof answer.user.username === "string" ? answer.user.username : null;
    me = { mode, user: username ? { username } : null };
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      me = { mode: "open", user: null };
    } else {
      const last = rememberedMe();
      if (last) return last;
      throw err;
    }
  }
  try {
    localStorage.setItem(ME_KEY, JSON.stringify(me));
  } catch {
    // not remembered
  }
  return me;
}

/** Forget who was signed in (signing out): offline pages no longer take anyone for them. */
export function forgetWhoIAm(): void {
  try {
    localStorage.removeItem(ME_KEY);
  } catch {
    // nothing remembered
  }
}

function rememberedMe(): Me | null {
  try {
    const value = JSON.parse(localStorage.getItem(ME_KEY) ?? "null") as Me | null;
    if (!value || (value.mode !== "open" && value.mode !== "accounts" && value.mode !== "jwt")) return null;
    const username = value.user && typeof value.user.username === "string" ? value.user.username : null;
    return { mode: value.mode, user: username ? { username } : null };
  } catch {
    return null;
  }
}

/** The path and query of this page, for `?next=` after signing in. */
export function here(): string {
  return location.pathname + location.search;
}

export function signInUrl(next: string = here()): string {
  return `/signin?next=${encodeURIComponent(next)}`;
}

/** A few words for a moment in time: "just now", "5 minutes ago", … */
export function relativeTime(epochSeconds: number): string {
  const seconds = Math.round(Date.now() / 1000 - epochSeconds);
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  if (seconds < 45) return "just now";
  if (seconds < 3600) return rtf.format(-Math.round(seconds / 60), "minute");
  if (seconds < 86400) return rtf.format(-Math.round(seconds / 3600), "hour");
  if (seconds < 86400 * 30) return rtf.format(-Math.round(seconds / 86400), "day");
  return new Date(epochSeconds * 1000).toLocaleDateString();
}

// The connection state machine: when the page talks to the server, and what ends it.
//
// Online and the epoch and role confirmed by a PUT: connected. What each close code and each
// re-check answer does, and the status it shows. The page renders it through ConnectionEvents.

import type { IndexeddbPersistence } from "y-indexeddb";
import type { WebsocketProvider } from "y-websocket";
import type { AuthMode, Credentials, Role } from "../api";
import { Close } from "../closecodes";
import { type AccessAction, type AccessState, signInAction } from "./access";
import { type DocAccess, fetchAccess, forget, rememberAccess } from "./epoch";
import type { SyncState } from "./status";

/**
 * Where the connection is. Every transition is a method below that names it.
 * - `offline`: the browser says it is offline. Only other tabs of this browser (BroadcastChannel).
 * - `verifying`: online, but the epoch and role must be confirmed (PUT) before connecting: on
 *   opening from the remembered epoch, on coming back online, after 4403.
 * - `live`: confirmed; y-websocket connects and reconnects by itself.
 * - `stopped`: for good (access lost, document deleted or re-created). Nothing leaves this state.
 */
export type Phase = "offline" | "verifying" | "live" | "stopped";

export interface ConnectionEvents {
  /** Our role, after each confirmed check, and once more when stopping (everything read-only). */
  role(role: Role): void;
  /** Why the connection stopped, for the access banner. */
  stopped(state: AccessState, text: string, action?: AccessAction): void;
  /** Something the status line shows may have changed. */
  changed(): void;
}

export interface ConnectionOptions {
  docName: string;
  creds: Credentials;
  mode: AuthMode;
  /** The signed-in account, if any (its session can end). */
  username: string | null;
  provider: WebsocketProvider;
  /** This device's copy, deleted when the document is deleted or re-created. */
  persistence: IndexeddbPersistence;
  access: DocAccess;
  /** The server confirmed `access` since the page opened (not just remembered from last time). */
  verified: boolean;
}

/** While the server can't be reached, ask again after 1 s, 2 s, 4 s, then every 5 s. */
const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 5000;
/** A socket that keeps failing while confirmed is looked into at most this often. */
const FAILING_SOCKET_CHECK_MS = 10_000;

export class Connection {
  private state: Phase;
  private current: DocAccess;
  /** The PUT in flight, if any. */
  private checking: Promise<void> | null = null;
  private lastCheck = performance.now();
  /** The last PUT got no answer (the server can't be reached). */
  private lastCheckFailed: boolean;
  private retryAfter = FIRST_RETRY_MS;
  private readonly provider: WebsocketProvider;

  constructor(
    private readonly opts: ConnectionOptions,
    private readonly events: ConnectionEvents,
  ) {
    this.provider = opts.provider;
    this.current = opts.access;
    this.lastCheckFailed = !opts.verified;
    // Chromium's emulated offline mode (and some real network drops) keeps an open WebSocket
    // "open" while holding its messages: the browser going offline is a disconnect.
    if (!navigator.onLine) this.state = "offline";
    else this.state = opts.verified ? "live" : "verifying";

    this.provider.on("closed", ({ code, reason }) => this.closed(code, reason));
    window.addEventListener("online", () => this.online());
    window.addEventListener("offline", () => this.offline());
    this.provider.on("status", () => events.changed());
    this.provider.on("sync", () => events.changed());
  }

  get phase(): Phase {
    return this.state;
  }

  get access(): DocAccess {
    return this.current;
  }

  get stopped(): boolean {
    return this.state === "stopped";
  }

  /** What the status line says. */
  syncState(): SyncState {
    const p = this.provider;
    switch (this.state) {
      case "stopped":
        return "closed";
      case "offline":
        return "offline";
      case "verifying":
        return this.lastCheckFailed ? "offline" : "connecting";
      case "live":
        if (p.wsconnected && p.synced) return "synced";
        // A few failed attempts in a row: the server can't be reached right now.
        if (!p.wsconnected && p.wsUnsuccessfulReconnects >= 3) return "offline";
        return "connecting";
    }
  }

  /** Begin: connect (or confirm first), or, offline, sync with this browser's other tabs. */
  start(): void {
    if (this.state === "offline") this.provider.connectBc();
    else this.connect();
  }

  /** Once a second: the status (the retry counter has no event), and a re-check when due. */
  tick(): void {
    this.events.changed();
    if (this.state === "stopped" || this.state === "offline" || this.checking) return;
    const since = performance.now() - this.lastCheck;
    // Started offline, or the socket keeps failing (refused at the handshake after our access
    // changed?): ask the server what's up, not too often.
    if ((this.state === "verifying" && since > this.retryAfter)
      || (this.provider.wsUnsuccessfulReconnects >= 2 && !this.provider.wsconnected
        && since > FAILING_SOCKET_CHECK_MS)) {
      void this.recheck();
    }
  }

  // ------------------------------------------------------------ transitions

  private connect(): void {
    if (this.state === "verifying") void this.recheck();
    else if (this.state === "live") this.provider.connect();
  }

  /** offline -> verifying: the document may have been deleted or re-created meanwhile. */
  private online(): void {
    if (this.state !== "stopped") this.state = "verifying";
    this.connect();
    this.events.changed();
  }

  /** -> offline, still syncing with other tabs of this browser. */
  private offline(): void {
    this.provider.disconnect();
    if (this.state !== "stopped") {
      this.state = "offline";
      this.provider.connectBc();
    }
    this.events.changed();
  }

  /**
   * A 44xx close code (y-websocket does not reconnect after those). An ended session or an
   * expired token has none: the server refuses the handshake (HTTP 403), and the re-check a
   * failing socket brings (tick) gets the 401 that says so.
   */
  private closed(code: number, reason: string): void {
    switch (code) {
      case Close.STALE_EPOCH:
        void this.reload("The document was deleted and created again. Reloading…", true);
        break;
      case Close.SCHEMA_OUTDATED:
        // A newer editor is out: this page must not sync (it would drop what it can't show).
        // Unsynced changes stay in IndexedDB and sync from the reloaded page.
        void this.reload("A newer version of the editor is available. Reloading…", false);
        break;
      case Close.DELETED:
        void this.dropDocument();
        break;
      case Close.REVOKED:
        // Our role changed (or a link was revoked): find out what we may do now.
        if (this.state === "live") this.state = "verifying";
        void this.recheck();
        break;
      default:
        this.stop("denied", `The server closed the connection${reason ? `: ${reason}` : ""}.`, {
          label: "Reload",
          href: location.href,
        });
    }
  }

  /**
   * The document holds content this page's editor does not know (a newer editor wrote it): the
   * editor is already unbound; reload into the newer build, keeping this device's copy.
   */
  outdatedEditor(): void {
    void this.reload("This document uses features of a newer editor. Reloading…", false);
  }

  /** Ask the server (PUT) for the epoch and our role again; verifying -> live or stopped. */
  private recheck(): Promise<void> {
    if (this.checking) return this.checking;
    this.lastCheck = performance.now();
    this.checking = (async () => {
      try {
        const fresh = await fetchAccess(this.opts.docName, this.opts.creds);
        this.lastCheckFailed = false;
        this.retryAfter = FIRST_RETRY_MS;
        if (this.stopped) return;
        if (fresh.epoch !== this.current.epoch) {
          await this.reload("The document was deleted and created again. Reloading…", true);
          return;
        }
        this.current = fresh;
        rememberAccess(this.opts.docName, fresh);
        if (this.state === "verifying") this.state = "live";
        this.events.role(fresh.role);
        if (this.state === "live") this.provider.connect();
      } catch (err) {
        await this.refused((err as { status?: number }).status ?? 0);
      } finally {
        this.checking = null;
        this.events.changed();
      }
    })();
    return this.checking;
  }

  /** The PUT was refused (or got no answer: status 0). */
  private async refused(status: number): Promise<void> {
    const { mode, username } = this.opts;
    if (status === 0 || status >= 500) {
      this.lastCheckFailed = true; // unreachable: try again later
      this.retryAfter = Math.min(this.retryAfter * 2, MAX_RETRY_MS);
    } else if (status === 404) {
      await this.dropDocument();
    } else if (status === 401 && username) {
      this.stop("signin", "Your session ended. Sign in again to keep working on this document.", signInAction(mode));
    } else if (status === 401 && mode === "jwt") {
      this.stop("signin", "Your access token is no longer valid. Open the document again from the application that links to it.");
    } else {
      // A revoked link, a removed share: whatever we had is gone.
      this.stop("lost", "You no longer have access to this document.", status === 401 ? signInAction(mode) : undefined);
    }
  }

  /** -> stopped. */
  private stop(state: AccessState, text: string, action?: AccessAction): void {
    this.state = "stopped";
    this.provider.shouldConnect = false;
    this.provider.disconnect();
    this.provider.disconnectBc();
    this.events.role(this.current.role);
    this.events.stopped(state, text, action);
    this.events.changed();
  }

  /**
   * Reload the page: 4410 (this device's copy belongs to an older epoch: `discard` it and start
   * over) or 4426 (this page's editor is outdated: keep the copy, the new page syncs it).
   */
  private async reload(text: string, discard: boolean): Promise<void> {
    const key = `coedit:reloads:${this.opts.docName}`;
    let recent: number[] = [];
    try {
      recent = (JSON.parse(sessionStorage.getItem(key) ?? "[]") as number[]).filter((t) => Date.now() - t < 60_000);
    } catch {
      recent = [];
    }
    this.stop("pending", text);
    if (discard) {
      forget(this.opts.docName);
      await this.opts.persistence.clearData();
    }
    if (recent.length >= 2) {
      // Reloading did not help twice in a row: don't loop, say so.
      const why = discard
        ? "This document keeps changing on the server. Try again in a minute."
        : "This document needs a newer editor than this page has, and reloading did not bring one. "
          + "Your changes are kept on this device; try again in a minute.";
      this.events.stopped("denied", why, {
        label: "Reload",
        href: location.href,
      });
      return;
    }
    try {
      sessionStorage.setItem(key, JSON.stringify([...recent, Date.now()]));
    } catch {
      // no loop protection without storage; reloading is still right
    }
    location.reload();
  }

  /**
   * 4404: moved to the trash. This device's copy stays: restored, the document keeps its epoch
   * and the copy merges again; deleted for good and made anew, the new epoch refuses it (4410)
   * and it goes then.
   */
  private async dropDocument(): Promise<void> {
    this.stop("deleted", "This document was moved to the trash. Its owner can restore it from the home page.", {
      label: "All documents",
      href: "/",
    });
    forget(this.opts.docName);
  }
}

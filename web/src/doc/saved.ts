// Tracks whether the server durably holds every change made in this tab.
//
// The server relays an update, and answers a sync step 1 with a step 2, only
// after everything that connection sent before has been committed to SQLite.
// So: after local changes we send a sync step 1 and wait for its step 2; when
// the answer to a request sent after the latest local change arrives, the
// latest change is on disk ("Saved").
//
// Bookkeeping uses a change counter: `changeSeq` grows with every local
// change, each request remembers the counter value it covers, and a reply
// confirms that value. Saved <=> confirmed >= changeSeq.

import * as decoding from "lib0/decoding";
import * as encoding from "lib0/encoding";
import * as syncProtocol from "y-protocols/sync";
import type { WebsocketProvider } from "y-websocket";
import type * as Y from "yjs";

const MESSAGE_SYNC = 0;
/** Wait this long after the last change before asking (debounce). */
const DEBOUNCE_MS = 300;
/** Never ask more often than this (the server limits step-1 requests). */
const MIN_INTERVAL_MS = 500;
/** While typing continuously, still ask at least this often. */
const MAX_WAIT_MS = 1200;
/** A request covering nothing (sent before our state was on the wire). */
const COVERS_NOTHING = -1;
/**
 * y-websocket drops a connection that received nothing for 30 s. A server that
 * does not echo our own awareness sends nothing to a lone idle client, so ask
 * for its state (one tiny step 1) when it has been quiet this long.
 */
const KEEPALIVE_AFTER_MS = 12_000;

type SyncHandler = WebsocketProvider["messageHandlers"][number];

export class SaveTracker {
  private changeSeq = 1; // 1: "this tab's initial state" must be confirmed once
  private confirmedSeq = 0;
  private requestedSeq = 0;
  /** Counter values covered by the requests still awaiting a reply, oldest first. */
  private outstanding: number[] = [];
  /** The server's step 1 arrived on this connection (so our state was sent). */
  private handshakeDone = false;
  private lastSentAt = Number.NEGATIVE_INFINITY;
  private firstPendingChangeAt = 0;
  private lastChangeAt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private listeners: Array<(saved: boolean) => void> = [];
  private lastReported: boolean | null = null;

  constructor(
    private readonly doc: Y.Doc,
    private readonly provider: WebsocketProvider,
  ) {
    const original: SyncHandler = provider.messageHandlers[MESSAGE_SYNC];
    provider.messageHandlers[MESSAGE_SYNC] = (encoder, decoder, prov, emitSynced, messageType) => {
      // emitSynced is false for messages that came over BroadcastChannel from
      // another tab: only the server's replies matter here.
      const fromServer = emitSynced;
      const kind = decoding.peekVarUint(decoder);
      original(encoder, decoder, prov, emitSynced, messageType);
      if (!fromServer) return;
      if (kind === syncProtocol.messageYjsSyncStep2) this.onReply();
      else if (kind === syncProtocol.messageYjsSyncStep1) this.onServerStep1();
    };

    doc.on("update", (_update: Uint8Array, origin: unknown) => {
      // Updates that came from the server are already there.
      if (origin === provider) return;
      this.noteChange();
    });

    provider.on("status", ({ status }) => {
      // A new socket: the provider sends its own step 1 right on open, whose
      // reply confirms nothing we know of. On close, pending requests die.
      this.handshakeDone = false;
      this.outstanding = status === "connected" ? [COVERS_NOTHING] : [];
      this.requestedSeq = Math.min(this.requestedSeq, this.confirmedSeq);
      this.clearTimer();
      this.report();
    });

    setInterval(() => this.keepAlive(), KEEPALIVE_AFTER_MS / 3);
  }

  get saved(): boolean {
    return this.confirmedSeq >= this.changeSeq;
  }

  onChange(listener: (saved: boolean) => void): void {
    this.listeners.push(listener);
    listener(this.saved);
  }

  private noteChange(): void {
    const now = performance.now();
    if (this.changeSeq === this.requestedSeq || this.saved) this.firstPendingChangeAt = now;
    this.changeSeq++;
    this.lastChangeAt = now;
    this.report();
    this.schedule();
  }

  private onServerStep1(): void {
    // The provider just answered with a step 2 carrying everything the server
    // lacks (e.g. offline edits). Requests sent before that cover none of it.
    this.handshakeDone = true;
    this.outstanding = this.outstanding.map(() => COVERS_NOTHING);
    this.requestedSeq = Math.min(this.requestedSeq, this.confirmedSeq);
    if (!this.saved) this.firstPendingChangeAt = performance.now() - MAX_WAIT_MS;
    this.schedule();
  }

  private onReply(): void {
    const covered = this.outstanding.shift();
    if (covered !== undefined && covered > this.confirmedSeq) this.confirmedSeq = covered;
    this.report();
    this.schedule();
  }

  private ready(): boolean {
    const ws = this.provider.ws;
    return this.handshakeDone && this.provider.wsconnected && ws !== null && ws.readyState === WebSocket.OPEN;
  }

  private schedule(): void {
    if (this.timer !== null || this.saved || !this.ready()) return;
    if (this.requestedSeq >= this.changeSeq) return; // a request already covers the latest change
    const now = performance.now();
    const debounced = Math.min(this.lastChangeAt + DEBOUNCE_MS, this.firstPendingChangeAt + MAX_WAIT_MS);
    const at = Math.max(debounced, this.lastSentAt + MIN_INTERVAL_MS);
    this.timer = setTimeout(() => {
      this.timer = null;
      const later = this.lastChangeAt + DEBOUNCE_MS;
      if (later > performance.now() + 5 && performance.now() < this.firstPendingChangeAt + MAX_WAIT_MS) {
        this.schedule(); // more typing arrived: wait a bit longer
        return;
      }
      this.send();
    }, Math.max(0, at - now));
  }

  private keepAlive(): void {
    const quietFor = Date.now() - this.provider.wsLastMessageReceived;
    if (!this.ready() || this.outstanding.length > 0 || quietFor < KEEPALIVE_AFTER_MS) return;
    if (performance.now() - this.lastSentAt < MIN_INTERVAL_MS) return;
    this.request(this.changeSeq);
  }

  private request(covers: number): void {
    const ws = this.provider.ws;
    if (ws === null) return;
    const encoder = encoding.createEncoder();
    encoding.writeVarUint(encoder, MESSAGE_SYNC);
    syncProtocol.writeSyncStep1(encoder, this.doc);
    ws.send(encoding.toUint8Array(encoder));
    this.outstanding.push(covers);
    this.lastSentAt = performance.now();
  }

  private send(): void {
    const ws = this.provider.ws;
    if (!this.ready() || ws === null || this.saved || this.requestedSeq >= this.changeSeq) return;
    this.request(this.changeSeq);
    this.requestedSeq = this.changeSeq;
    this.firstPendingChangeAt = this.lastSentAt;
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private report(): void {
    const saved = this.saved;
    if (saved === this.lastReported) return;
    this.lastReported = saved;
    for (const listener of this.listeners) listener(saved);
  }
}

// Who this tab is to the others: its name and colour, shown on the "me" button.
//
// The name is fixed by an account or a token, else chosen here; a fixed name's colour is the
// one the server stamps.

import * as decoding from "lib0/decoding";
import type { WebsocketProvider } from "y-websocket";
import { byId } from "../dom";
import { browserTag, cleanName, randomPersonName, storedName, type User, userFor } from "../identity";

const MESSAGE_AWARENESS = 1;

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

export class TabUser {
  /** Signed-in people and JWT names are shown under the name the server knows. */
  readonly fixedName: string | null;
  /** The name this browser remembers, or null when this person was never asked. */
  readonly askedBefore: string | null;
  private current: User;
  private readonly listeners: Array<(user: User) => void> = [];
  private readonly meName = byId("me-name");
  private readonly meButton = byId<HTMLButtonElement>("me");

  constructor(username: string | null, token: string | null, docName: string) {
    this.fixedName = username ?? jwtName(token);
    this.askedBefore = storedName();
    this.current = { ...userFor(this.fixedName ?? this.askedBefore ?? randomPersonName()), browser: browserTag(docName) };
  }

  get user(): User {
    return this.current;
  }

  /** Called after each change of name or colour. */
  onChange(listener: (user: User) => void): void {
    this.listeners.push(listener);
  }

  /** A new name or colour; the browser stays this one. */
  set(user: User): void {
    this.current = { ...user, browser: this.current.browser };
    for (const listener of this.listeners) listener(this.current);
    this.render();
  }

  render(): void {
    this.meName.textContent = this.current.name;
    this.meButton.style.setProperty("--me-color", this.current.color);
  }
}

/**
 * Signed-in and token users are shown to others in a colour the server picks (it stamps name
 * and colour into presence). Take ours from the server's echo of our own state, which
 * y-protocols itself ignores. Only an echo carrying our own name counts: y-websocket clients
 * relay everyone's presence, and the server stamps what a connection relays with that
 * connection's identity.
 */
export function followStampedColour(provider: WebsocketProvider, clientId: () => number, me: TabUser): void {
  const awarenessHandler = provider.messageHandlers[MESSAGE_AWARENESS];
  provider.messageHandlers[MESSAGE_AWARENESS] = (encoder, decoder, prov, emitSynced, messageType) => {
    try {
      adoptStampedColour(decoding.readVarUint8Array(decoding.clone(decoder)), clientId(), me);
    } catch {
      // malformed: the original handler deals with it
    }
    awarenessHandler(encoder, decoder, prov, emitSynced, messageType);
  };
}

function adoptStampedColour(update: Uint8Array, ownId: number, me: TabUser): void {
  const d = decoding.createDecoder(update);
  const count = decoding.readVarUint(d);
  for (let i = 0; i < count; i++) {
    const clientId = decoding.readVarUint(d);
    decoding.readVarUint(d); // clock
    const json = decoding.readVarString(d);
    if (clientId !== ownId) continue;
    const u = (JSON.parse(json) as { user?: { name?: unknown; color?: unknown } } | null)?.user;
    const color = u?.color;
    const user = me.user;
    if (u?.name !== user.name || typeof color !== "string" || !/^#[0-9a-fA-F]{6}$/.test(color)) continue;
    if (color === user.color) continue;
    me.set({ name: user.name, color });
  }
}

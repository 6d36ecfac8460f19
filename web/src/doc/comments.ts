// Comments: the document's comments Y.Doc (its own WebSocket, `?comments=1`, and its own
// IndexedDB copy, so comments work offline like the text), the side panel of threads, and the
// highlights on the text (through editor/comments.ts).
//
// The server checks every change against who sends it (server/comments/policy.py): comments are
// written as this person's author identity, which it verifies for accounts and tokens.

import { digest } from "lib0/hash/sha256";
import { IndexeddbPersistence } from "y-indexeddb";
import { WebsocketProvider } from "y-websocket";
import * as Y from "yjs";
import { api, type Credentials, credentialParams, docPath, relativeTime, type Role } from "../api";
import { Close } from "../closecodes";
import { byId } from "../dom";
import type { CommentMark } from "../editor/comments";
import type { EditorHandle } from "../editor/editor";
import { localDbName } from "./epoch";

export const MAX_BODY = 10_000;

export interface Author {
  id: string;
  name: string;
  color: string;
}

interface CommentData {
  id: string;
  body: string;
  author: Author;
  created_at: number;
  edited_at: number | null;
  deleted: boolean;
  mentions?: string[];
}

interface ThreadData {
  id: string;
  quote: string;
  anchor: string | null;
  resolved: boolean;
  resolved_at: number | null;
  author: Author;
  created_at: number;
  comments: Record<string, CommentData>;
}

/** This device's copy of one epoch's comments (deleted with the text's copies of other epochs). */
export function commentsDbName(docName: string, epoch: string): string {
  return `${localDbName(docName, epoch)}~comments`;
}

const KEY_STORAGE = "coedit:author-key";

function randomHex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Without an account or a token, a browser comments under a secret key it keeps: the author id
 * is a digest of it (the server computes the same), so others can see the id but not write as it.
 */
let tabKey: string | undefined;

/**
 * The same key also names the writer of every connection of this browser to a document: the
 * server binds the client ids the tab first uses to it, so that nobody else can write as them.
 * Kept for the tab's life where storage is off, so that its reconnects still write as it.
 */
export function anonymousKey(): string {
  try {
    const stored = localStorage.getItem(KEY_STORAGE);
    if (stored && stored.length >= 16) return stored;
    const key = tabKey ?? randomHex(24);
    localStorage.setItem(KEY_STORAGE, key);
    return key;
  } catch {
    tabKey ??= randomHex(24);
    return tabKey;
  }
}

export function anonymousId(key: string): string {
  const hash = digest(new TextEncoder().encode(key));
  return `anon:${[...hash].map((b) => b.toString(16).padStart(2, "0")).join("").slice(0, 32)}`;
}

/** The token's `name` claim exactly as the server takes it (its first 100 characters). */
export function tokenName(token: string | null): string | null {
  if (!token) return null;
  try {
    const payload = token.split(".")[1] ?? "";
    const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
    const name: unknown = (JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0)))) as { name?: unknown }).name;
    return typeof name === "string" && name ? [...name].slice(0, 100).join("") : null;
  } catch {
    return null;
  }
}

/** A thread is resolved unless a comment was written after the resolve (server: shown_resolved). */
export function shownResolved(thread: ThreadData): boolean {
  if (thread.resolved !== true || typeof thread.resolved_at !== "number") return false;
  const at = thread.resolved_at;
  return Object.values(thread.comments ?? {}).every((c) => c.deleted || c.created_at <= at);
}

/** "@name" in a body: the characters a username may have (server: comments/mentions.py). */
const MENTION = /@([A-Za-z0-9_.-]+)/g;

/** The user ids of the readers a body mentions as @username, in the body's order. */
export function mentionedIds(body: string, readers: readonly string[]): string[] {
  const known = new Map(readers.map((r) => [r.toLowerCase(), r]));
  const out: string[] = [];
  for (const match of body.matchAll(MENTION)) {
    const name = known.get(match[1].toLowerCase());
    if (name !== undefined && !out.includes(`user:${name}`)) out.push(`user:${name}`);
  }
  return out;
}

/**
 * Suggests readers while "@name" is typed in a textarea; picking one completes it. The list
 * sits right after the textarea.
 */
function suggestMentions(area: HTMLTextAreaElement, readers: () => readonly string[]): void {
  const box = document.createElement("ul");
  box.className = "mention-suggestions";
  box.setAttribute("role", "listbox");
  box.hidden = true;
  let choices: string[] = [];
  let selected = 0;
  const typed = (): RegExpMatchArray | null =>
    area.value.slice(0, area.selectionStart ?? area.value.length).match(/@([A-Za-z0-9_.-]*)$/);
  const close = (): void => {
    box.hidden = true;
    choices = [];
  };
  const pick = (name: string): void => {
    const at = area.selectionStart ?? area.value.length;
    const match = typed();
    if (!match) return;
    const start = at - match[0].length;
    area.value = `${area.value.slice(0, start)}@${name} ${area.value.slice(at)}`;
    const caret = start + name.length + 2;
    area.setSelectionRange(caret, caret);
    area.dispatchEvent(new Event("input"));
    close();
    area.focus();
  };
  const show = (): void => {
    const match = typed();
    const prefix = match ? match[1].toLowerCase() : null;
    choices = prefix === null ? [] : readers().filter((r) => r.toLowerCase().startsWith(prefix)).slice(0, 6);
    selected = Math.min(selected, Math.max(0, choices.length - 1));
    box.replaceChildren(...choices.map((name, i) => {
      const li = document.createElement("li");
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", String(i === selected));
      li.textContent = `@${name}`;
      li.addEventListener("mousedown", (e) => {
        e.preventDefault();
        pick(name);
      });
      return li;
    }));
    box.hidden = choices.length === 0;
  };
  area.addEventListener("input", show);
  area.addEventListener("blur", close);
  area.addEventListener("keydown", (e) => {
    if (box.hidden || choices.length === 0) return;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      selected = (selected + (e.key === "ArrowDown" ? 1 : choices.length - 1)) % choices.length;
      show();
    } else if (e.key === "Enter" || e.key === "Tab") {
      e.preventDefault();
      e.stopImmediatePropagation();
      pick(choices[selected]);
    } else if (e.key === "Escape") {
      close();
    }
  });
  area.after(box);
}

export interface CommentsOptions {
  docName: string;
  epoch: string;
  creds: Credentials;
  wsBase: string;
  editor: EditorHandle;
  /** The text's Y.Doc: anchors move with it, so what is detached is looked at again. */
  textDoc: Y.Doc;
  /** Signed-in username or the token's name: the identity the server knows; null: anonymous. */
  fixedName: () => string | null;
  fixedPrefix: "user" | "jwt";
  /** Our current name and colour (presence). */
  me: () => { name: string; color: string };
  role: () => Role;
  stopped: () => boolean;
}

export interface Comments {
  ydoc: Y.Doc;
  provider: WebsocketProvider;
  persistence: IndexeddbPersistence;
  /** The role changed: reconnect so that the server holds us to the new one. */
  roleChanged(): void;
  /** Start a thread on the selection (the Comment button and Mod+Alt+M). */
  startFromSelection(): void;
}

function newId(): string {
  return randomHex(12);
}

function now(): number {
  return Date.now();
}

export function mountComments(opts: CommentsOptions): Comments {
  const ydoc = new Y.Doc();
  const key = anonymousKey();
  const provider = new WebsocketProvider(opts.wsBase, encodeURIComponent(opts.docName), ydoc, {
    connect: false,
    maxBackoffTime: 3000,
    params: { comments: "1", epoch: opts.epoch, author_key: key, ...credentialParams(opts.creds) },
  });
  provider.bcChannel = `${opts.wsBase}/${encodeURIComponent(opts.docName)}#${opts.epoch}~comments`;
  const persistence = new IndexeddbPersistence(commentsDbName(opts.docName, opts.epoch), ydoc);
  const threads = ydoc.getMap<Y.Map<unknown>>("threads");
  const anchors = opts.editor.comments;
  // Presence is the text's: this connection shows no one.
  provider.awareness.setLocalState(null);

  const panel = byId("comments-panel");
  const list = byId<HTMLOListElement>("threads");
  const empty = byId("comments-empty");
  const count = byId("comments-count");
  const showResolved = byId<HTMLInputElement>("show-resolved");
  // Accounts mode: who may be mentioned (the document's owner and the people it is shared with).
  let readers: string[] = [];
  if (opts.fixedPrefix === "user" && opts.fixedName()) {
    api<{ people?: Array<{ username?: unknown }> }>(`${docPath(opts.docName)}/comments/people`, { creds: opts.creds })
      .then((answer) => {
        readers = (answer.people ?? []).map((p) => p.username).filter((u): u is string => typeof u === "string");
      })
      .catch(() => undefined); // offline: no suggestions, mentions of known names still count
  }
  const form = byId<HTMLFormElement>("new-thread");
  const formQuote = byId("new-thread-quote");
  const formBody = byId<HTMLTextAreaElement>("new-thread-body");
  const addButton = byId<HTMLButtonElement>("add-comment");
  const toggle = byId<HTMLButtonElement>("comments-button");

  let pending: { anchor: string; quote: string } | null = null;
  let active: string | null = null;
  const drafts = new Map<string, string>(); // reply drafts by thread, edits by comment
  const editing = new Set<string>();

  const me = (): Author => {
    const fixed = opts.fixedName();
    const { name, color } = opts.me();
    if (fixed) return { id: `${opts.fixedPrefix}:${fixed}`, name: fixed, color };
    return { id: anonymousId(key), name: name.slice(0, 100) || "Someone", color };
  };
  const canComment = (): boolean => !opts.stopped() && opts.role() !== "viewer";
  const moderates = (): boolean => opts.role() === "editor" || opts.role() === "owner";

  function open(show: boolean): void {
    panel.hidden = !show;
    toggle.setAttribute("aria-expanded", String(show));
    document.body.classList.toggle("comments-open", show);
  }

  function data(): ThreadData[] {
    const all = [...threads.values()].map((t) => t.toJSON() as ThreadData);
    return all.filter((t) => typeof t?.id === "string").sort((a, b) => a.created_at - b.created_at);
  }

  // ---------------------------------------------------------------- writing
  /** A new comment (a Y.Map not yet in the document, which cannot be read) and its id. */
  function commentMap(body: string): [string, Y.Map<unknown>] {
    const id = newId();
    const c = new Y.Map<unknown>();
    c.set("id", id);
    c.set("body", body);
    c.set("author", me());
    c.set("created_at", now());
    c.set("edited_at", null);
    c.set("deleted", false);
    c.set("mentions", mentionedIds(body, readers));
    return [id, c];
  }

  function createThread(anchor: string, quote: string, body: string): void {
    const id = newId();
    ydoc.transact(() => {
      const [firstId, first] = commentMap(body);
      const comments = new Y.Map<unknown>();
      comments.set(firstId, first);
      const t = new Y.Map<unknown>();
      t.set("id", id);
      t.set("quote", quote);
      t.set("anchor", anchor);
      t.set("resolved", false);
      t.set("resolved_at", null);
      t.set("author", me());
      t.set("created_at", now());
      t.set("comments", comments);
      threads.set(id, t);
    });
    active = id;
  }

  function reply(threadId: string, body: string): void {
    const t = threads.get(threadId);
    const comments = t?.get("comments");
    if (!(comments instanceof Y.Map)) return;
    ydoc.transact(() => {
      const [id, c] = commentMap(body);
      comments.set(id, c);
      if (t?.get("resolved") === true) t.set("resolved", false); // a reply reopens
    });
  }

  function comment(threadId: string, commentId: string): Y.Map<unknown> | null {
    const comments = threads.get(threadId)?.get("comments");
    const c = comments instanceof Y.Map ? comments.get(commentId) : null;
    return c instanceof Y.Map ? (c as Y.Map<unknown>) : null;
  }

  function setResolved(threadId: string, resolved: boolean): void {
    const t = threads.get(threadId);
    if (!t) return;
    ydoc.transact(() => {
      t.set("resolved", resolved);
      t.set("resolved_at", resolved ? now() : null);
    });
  }

  // ---------------------------------------------------------------- rendering
  function button(label: string, cls: string, onClick: () => void): HTMLButtonElement {
    const b = document.createElement("button");
    b.type = "button";
    b.className = cls;
    b.textContent = label;
    b.addEventListener("click", (e) => {
      e.stopPropagation();
      onClick();
    });
    return b;
  }

  function textForm(
    draftKey: string,
    label: string,
    submit: string,
    onSubmit: (body: string) => void,
    onCancel?: () => void,
  ): HTMLFormElement {
    const f = document.createElement("form");
    f.className = "comment-form";
    const area = document.createElement("textarea");
    area.maxLength = MAX_BODY;
    area.rows = 2;
    area.placeholder = label;
    area.setAttribute("aria-label", label);
    area.dataset.draft = draftKey;
    area.value = drafts.get(draftKey) ?? "";
    area.addEventListener("input", () => drafts.set(draftKey, area.value));
    area.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) f.requestSubmit();
    });
    const ok = document.createElement("button");
    ok.type = "submit";
    ok.className = "primary";
    ok.textContent = submit;
    f.append(area);
    suggestMentions(area, () => readers);
    f.append(ok);
    if (onCancel) f.append(button("Cancel", "", onCancel));
    f.addEventListener("submit", (e) => {
      e.preventDefault();
      const body = area.value.trim();
      if (!body || body.length > MAX_BODY) return;
      drafts.delete(draftKey);
      onSubmit(body);
    });
    f.addEventListener("click", (e) => e.stopPropagation());
    return f;
  }

  function authorLine(author: Author, at: number, edited: number | null): HTMLElement {
    const line = document.createElement("div");
    line.className = "comment-meta";
    const who = document.createElement("span");
    who.className = "comment-author";
    who.textContent = author?.name ?? "Someone";
    const color = typeof author?.color === "string" && /^#[0-9a-fA-F]{6}$/.test(author.color) ? author.color : "#868e96";
    who.style.setProperty("--author-color", color);
    const when = document.createElement("time");
    when.className = "muted";
    when.dateTime = new Date(at).toISOString();
    when.title = new Date(at).toLocaleString();
    when.textContent = relativeTime(at / 1000) + (edited ? " (edited)" : "");
    line.append(who, " ", when);
    return line;
  }

  function renderComment(thread: ThreadData, c: CommentData): HTMLElement {
    const el = document.createElement("div");
    el.className = "comment";
    el.dataset.comment = c.id;
    el.append(authorLine(c.author, c.created_at, c.edited_at));
    const mine = c.author?.id === me().id;
    if (c.deleted) {
      const gone = document.createElement("p");
      gone.className = "comment-body deleted muted";
      gone.textContent = "Comment deleted";
      el.append(gone);
      return el;
    }
    if (editing.has(c.id)) {
      const key = `edit:${c.id}`;
      if (!drafts.has(key)) drafts.set(key, c.body);
      el.append(textForm(key, "Edit comment", "Save", (body) => {
        editing.delete(c.id);
        const y = comment(thread.id, c.id);
        if (y) ydoc.transact(() => {
          y.set("body", body);
          y.set("edited_at", now());
        });
        render();
      }, () => {
        editing.delete(c.id);
        drafts.delete(key);
        render();
      }));
      return el;
    }
    const body = document.createElement("p");
    body.className = "comment-body";
    body.textContent = c.body; // plain text, never HTML
    el.append(body);
    if (canComment() && (mine || moderates())) {
      const actions = document.createElement("div");
      actions.className = "comment-actions";
      if (mine) actions.append(button("Edit", "link-button comment-edit", () => {
        editing.add(c.id);
        render();
      }));
      actions.append(button("Delete", "link-button comment-delete", () => {
        const y = comment(thread.id, c.id);
        if (!y) return;
        ydoc.transact(() => {
          y.set("deleted", true);
          if (mine) y.set("body", "");
        });
      }));
      el.append(actions);
    }
    return el;
  }

  function renderThread(thread: ThreadData, resolved: boolean): HTMLLIElement {
    const li = document.createElement("li");
    li.className = "thread";
    li.dataset.thread = thread.id;
    li.classList.toggle("active", thread.id === active);
    li.classList.toggle("resolved", resolved);
    const mark: CommentMark = { id: thread.id, anchor: thread.anchor, quote: thread.quote };
    const detached = anchors.locate(mark) === null;
    li.classList.toggle("detached", detached);
    const quote = document.createElement("blockquote");
    quote.className = "comment-quote";
    quote.textContent = thread.quote;
    if (detached) {
      const note = document.createElement("span");
      note.className = "detached-note";
      note.textContent = "Detached: the text it commented on was deleted";
      li.append(note);
    }
    li.append(quote);
    const comments = Object.values(thread.comments ?? {}).sort((a, b) => a.created_at - b.created_at);
    for (const c of comments) li.append(renderComment(thread, c));
    if (canComment()) {
      const actions = document.createElement("div");
      actions.className = "thread-actions";
      actions.append(resolved
        ? button("Reopen", "thread-reopen", () => setResolved(thread.id, false))
        : button("Resolve", "thread-resolve", () => setResolved(thread.id, true)));
      li.append(actions, textForm(`reply:${thread.id}`, "Reply", "Reply", (body) => reply(thread.id, body)));
    }
    li.addEventListener("click", () => {
      active = thread.id;
      render();
      anchors.reveal(mark);
    });
    return li;
  }

  // A mention link (home page) names a thread, and the comment to mark read, in the hash.
  const target = new URLSearchParams(location.hash.slice(1));
  let wanted = target.get("thread");
  const readComment = target.get("comment");
  if (readComment && opts.fixedPrefix === "user") {
    void api("/api/mentions/read", {
      method: "POST",
      body: { doc: opts.docName, comments: [readComment] },
      creds: opts.creds,
    }).catch(() => undefined); // offline: it stays unread
  }

  let frame = 0;
  let lastShown = "";
  function render(): void {
    frame = 0;
    if (wanted && threads.has(wanted)) {
      active = wanted;
      wanted = null;
      open(true);
      showResolved.checked = showResolved.checked || shownResolved(threads.get(active)?.toJSON() as ThreadData);
      requestAnimationFrame(() => {
        list.querySelector(`[data-thread="${CSS.escape(active ?? "")}"]`)?.scrollIntoView({ block: "nearest" });
      });
    }
    const focused = document.activeElement instanceof HTMLTextAreaElement ? document.activeElement : null;
    const focusKey = focused && list.contains(focused) ? focused.dataset.draft : undefined;
    const caret = focused?.selectionStart ?? null;
    const all = data();
    const unresolved = all.filter((t) => !shownResolved(t));
    const shown = showResolved.checked ? all : unresolved;
    list.replaceChildren(...shown.map((t) => renderThread(t, shownResolved(t))));
    empty.hidden = shown.length > 0;
    empty.textContent = all.length ? "No open comments." : "No comments yet. Select text and press Comment.";
    count.textContent = unresolved.length ? String(unresolved.length) : "";
    const marks = unresolved.map((t) => ({ id: t.id, anchor: t.anchor, quote: t.quote }));
    const shownKey = JSON.stringify([marks, active]);
    if (shownKey !== lastShown) {
      // Only when they changed: showing them is an editor transaction.
      lastShown = shownKey;
      anchors.show(marks, active);
    }
    if (focusKey) {
      const again = list.querySelector<HTMLTextAreaElement>(`textarea[data-draft="${CSS.escape(focusKey)}"]`);
      again?.focus();
      if (again && caret !== null) again.setSelectionRange(caret, caret);
    }
    addButton.disabled = !canComment();
  }
  const renderSoon = (): void => {
    if (!frame) frame = requestAnimationFrame(render);
  };

  // ---------------------------------------------------------------- wiring
  function startFromSelection(): void {
    if (!canComment()) return;
    const picked = anchors.fromSelection();
    open(true);
    if (!picked) {
      formQuote.textContent = "";
      form.hidden = true;
      return;
    }
    pending = picked;
    formQuote.textContent = picked.quote;
    form.hidden = false;
    formBody.focus();
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const body = formBody.value.trim();
    if (!pending || !body || body.length > MAX_BODY) return;
    createThread(pending.anchor, pending.quote, body);
    pending = null;
    formBody.value = "";
    form.hidden = true;
    render();
  });
  byId("new-thread-cancel").addEventListener("click", () => {
    pending = null;
    form.hidden = true;
  });
  suggestMentions(formBody, () => readers);
  formBody.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) form.requestSubmit();
  });
  addButton.addEventListener("mousedown", (e) => e.preventDefault()); // keep the selection
  addButton.addEventListener("click", startFromSelection);
  toggle.addEventListener("click", () => open(panel.hidden));
  byId("comments-close").addEventListener("click", () => open(false));
  showResolved.addEventListener("change", render);
  // On the whole page: a commenter's read-only text never has the keyboard focus.
  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.altKey && e.code === "KeyM") {
      e.preventDefault();
      startFromSelection();
    }
  });
  anchors.onPick((id) => {
    active = id;
    open(true);
    render();
    list.querySelector(`[data-thread="${CSS.escape(id)}"]`)?.scrollIntoView({ block: "nearest" });
  });
  threads.observeDeep(renderSoon);
  // As the text's connection does: Chromium's offline mode keeps a socket "open" while holding
  // its messages, so going offline is a disconnect (this device's copy keeps what is written).
  window.addEventListener("offline", () => {
    provider.disconnect();
    provider.connectBc();
  });
  window.addEventListener("online", () => {
    if (!opts.stopped()) provider.connect();
  });
  provider.on("closed", ({ code }: { code: number }) => {
    // 4403 (role changed): the text's re-check calls roleChanged(), which then reconnects
    // whatever the new role is. A deleted or re-created document's comments leave this device
    // with its text.
    if (code === Close.REVOKED) lastRole = undefined;
    if (code === Close.DELETED || code === Close.STALE_EPOCH) void persistence.clearData();
  });
  // Anchors move with the text: re-check what is detached when the text changes.
  opts.textDoc.on("afterTransaction", (tr: Y.Transaction) => {
    if (tr.changed.size > 0 || tr.deleteSet.clients.size > 0) renderSoon();
  });
  render();
  // The role the connection was made with (null: stopped; undefined: it must be made again).
  let lastRole: Role | null | undefined = opts.role();
  if (navigator.onLine) provider.connect();

  return {
    ydoc,
    provider,
    persistence,
    roleChanged: () => {
      const role = opts.stopped() ? null : opts.role();
      if (role === lastRole) return;
      lastRole = role;
      render();
      provider.disconnect();
      if (role !== null && navigator.onLine) provider.connect();
    },
    startFromSelection,
  };
}

// The document page: /d/<name>. Asks the server for the document's epoch and
// our role (PUT), then wires the Y.Doc to the server (y-websocket), to
// IndexedDB (this device's copy of that epoch) and to the editor, and renders
// the header: title, connection / saved state, who's here, role, export,
// history, sharing and your name.

import * as decoding from "lib0/decoding";
import { IndexeddbPersistence } from "y-indexeddb";
import { WebsocketProvider } from "y-websocket";
import * as Y from "yjs";
import {
  type AuthMode,
  credentialParams,
  credentialsFromLocation,
  docPath,
  type Me,
  ROLE_LABELS,
  type Role,
  whoAmI,
  withCredentials,
} from "../api";
import {
  type DocAccess,
  deleteOtherCopies,
  fetchAccess,
  forget,
  localDbName,
  openDocument,
  rememberAccess,
} from "../doc/epoch";
import { type AccessState, refusalText, showAccess, signInAction } from "../doc/access";
import { HistoryPanel } from "../doc/history";
import { LocalSaveTracker } from "../doc/local";
import { SaveTracker } from "../doc/saved";
import { jwtName } from "../doc/me";
import { ShareDialog } from "../doc/share";
import { SYNC_HINTS, SYNC_LABELS, type SyncState } from "../doc/status";
import { linkIcon } from "../doc/toolbar";
import { byId, setIfChanged, setText } from "../dom";
import { ACTIONS, type ActionId, createEditor, type EditorHandle } from "../editor/editor";
import { cleanName, randomPersonName, rememberName, storedName, type User, userFor } from "../identity";

function docNameFromLocation(): string {
  const raw = location.pathname.replace(/^\/d\//, "");
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

// Close codes the server uses (4400-4499: reconnecting as-is can't help).
const CLOSE_SIGN_IN = 4401;
const CLOSE_ACCESS_CHANGED = 4403;
const CLOSE_DELETED = 4404;
const CLOSE_STALE_EPOCH = 4410;
const MESSAGE_AWARENESS = 1;

const docName = docNameFromLocation();
const creds = credentialsFromLocation();
const body = document.body;

// ---------------------------------------------------------------- start

async function main(): Promise<void> {
  let [me, opened] = await Promise.all([
    whoAmI().catch((): Me | null => null),
    openDocument(docName, creds),
  ]);
  // Never opened on this device and the server can't be reached: nothing to show
  // yet. Keep asking (1 s, 2 s, 4 s, then every 5 s) instead of giving up.
  for (let wait = 1000; opened.kind === "unreachable"; wait = Math.min(wait * 2, 5000)) {
    showAccess("unreachable", "Can't reach the server to open this document. Trying again…");
    setIfChanged(body.dataset, "sync", "offline");
    byId("sync-label").textContent = SYNC_LABELS.offline;
    body.classList.add("no-document");
    await new Promise((resolve) => setTimeout(resolve, wait));
    [me, opened] = await Promise.all([me ? me : whoAmI().catch((): Me | null => null), openDocument(docName, creds)]);
  }
  const mode: AuthMode = me?.mode ?? (creds.token ? "jwt" : "open");
  if (opened.kind === "denied") {
    const { state, text } = refusalText(opened.status, opened.message, mode);
    showAccess(state, text, state === "signin" ? signInAction(mode) : undefined);
    setIfChanged(body.dataset, "sync", "closed");
    byId("sync-label").textContent = SYNC_LABELS.closed;
    body.classList.add("no-document");
    return;
  }
  body.classList.remove("no-document");
  showAccess("ok");
  start(opened.access, opened.verified, mode, me?.user?.username ?? null);
}

function start(initial: DocAccess, initiallyVerified: boolean, mode: AuthMode, username: string | null): void {
  let access = initial;
  /** The epoch was confirmed by the server since the page opened (not just remembered). */
  let verified = initiallyVerified;
  let stopped = false;
  const syncLabel = byId("sync-label");
  const savedLabel = byId("saved-label");
  const statusEl = byId("status");
  setIfChanged(body.dataset, "epoch", access.epoch);

  // -------------------------------------------------------------- identity
  // Signed-in people and JWT names are shown under the name the server knows.
  const fixedName = username ?? jwtName(creds.token);
  const askedBefore = storedName();
  let user: User = userFor(fixedName ?? askedBefore ?? randomPersonName());

  // -------------------------------------------------------------- Y.Doc
  const ydoc = new Y.Doc();
  const meta = ydoc.getMap<unknown>("meta");
  const wsBase = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws`;
  const room = encodeURIComponent(docName);
  const provider = new WebsocketProvider(wsBase, room, ydoc, {
    connect: false,
    maxBackoffTime: 3000,
    params: { epoch: access.epoch, ...credentialParams(creds) },
  });
  // Tabs of this browser sync over BroadcastChannel: only tabs on the same epoch.
  provider.bcChannel = `${wsBase}/${room}#${access.epoch}`;
  const saveTracker = new SaveTracker(ydoc, provider);
  const dbName = localDbName(docName, access.epoch);
  const persistence = new IndexeddbPersistence(dbName, ydoc);
  const localTracker = new LocalSaveTracker(ydoc, persistence);
  void deleteOtherCopies(docName, access.epoch);

  // Signed-in and token users are shown to others in a colour the server picks
  // (it stamps name and colour into presence). Take ours from the server's echo
  // of our own state, which y-protocols itself ignores. Only an echo carrying
  // our own name counts: y-websocket clients relay everyone's presence, and the
  // server stamps what a connection relays with that connection's identity.
  const awarenessHandler = provider.messageHandlers[MESSAGE_AWARENESS];
  if (fixedName) {
    provider.messageHandlers[MESSAGE_AWARENESS] = (encoder, decoder, prov, emitSynced, messageType) => {
      try {
        adoptStampedColour(decoding.readVarUint8Array(decoding.clone(decoder)));
      } catch {
        // malformed: the original handler deals with it
      }
      awarenessHandler(encoder, decoder, prov, emitSynced, messageType);
    };
  }

  function adoptStampedColour(update: Uint8Array): void {
    const d = decoding.createDecoder(update);
    const count = decoding.readVarUint(d);
    for (let i = 0; i < count; i++) {
      const clientId = decoding.readVarUint(d);
      decoding.readVarUint(d); // clock
      const json = decoding.readVarString(d);
      if (clientId !== ydoc.clientID) continue;
      const u = (JSON.parse(json) as { user?: { name?: unknown; color?: unknown } } | null)?.user;
      const color = u?.color;
      if (u?.name !== user.name || typeof color !== "string" || !/^#[0-9a-fA-F]{6}$/.test(color)) continue;
      if (color === user.color) continue;
      user = { name: user.name, color };
      editor.setUser(user);
      renderMe();
      renderPresence();
    }
  }

  // -------------------------------------------------------------- connection
  let saved = false;
  let savedLocally = false;
  // Chromium's emulated offline mode (and some real network drops) keeps an
  // open WebSocket "open" while holding its messages. Treat the browser going
  // offline as a disconnect ourselves and reconnect when it comes back.
  let browserOnline = navigator.onLine;
  let checking: Promise<void> | null = null;
  let lastCheck = performance.now();
  let lastCheckFailed = !initiallyVerified;
  /** While the server can't be reached, ask again after 1 s, 2 s, 4 s, then every 5 s. */
  let retryAfter = 1000;

  function connect(): void {
    if (stopped || !browserOnline) return;
    if (!verified) {
      void recheck();
      return;
    }
    provider.connect();
  }

  function goOnline(): void {
    browserOnline = true;
    // The document may have been deleted or re-created meanwhile: ask first.
    verified = false;
    connect();
    renderStatus();
  }

  function goOffline(): void {
    browserOnline = false;
    provider.disconnect();
    // Keep syncing with other tabs of this browser while offline.
    if (!stopped) provider.connectBc();
    renderStatus();
  }

  /** Ask the server (PUT) for the epoch and our role again, and act on the answer. */
  function recheck(): Promise<void> {
    if (checking) return checking;
    lastCheck = performance.now();
    checking = (async () => {
      try {
        const fresh = await fetchAccess(docName, creds);
        lastCheckFailed = false;
        retryAfter = 1000;
        if (stopped) return;
        if (fresh.epoch !== access.epoch) {
          await discardLocalCopy("The document was deleted and created again. Reloading…");
          return;
        }
        access = fresh;
        rememberAccess(docName, fresh);
        verified = true;
        applyRole(fresh.role);
        if (browserOnline) provider.connect();
      } catch (err) {
        const status = (err as { status?: number }).status ?? 0;
        if (status === 0 || status >= 500) {
          lastCheckFailed = true; // unreachable: try again later
          retryAfter = Math.min(retryAfter * 2, 5000);
          return;
        }
        if (status === 404) {
          await dropDocument();
          return;
        }
        if (status === 401 && username) {
          stop("signin", "Your session ended. Sign in again to keep working on this document.", signInAction(mode));
        } else if (status === 401 && mode === "jwt") {
          stop("signin", "Your access token is no longer valid. Open the document again from the application that links to it.");
        } else {
          // A revoked link, a removed share: whatever we had is gone.
          stop("lost", "You no longer have access to this document.", status === 401 ? signInAction(mode) : undefined);
        }
      } finally {
        checking = null;
        renderStatus();
      }
    })();
    return checking;
  }

  function stop(state: AccessState, text: string, action?: { label: string; href: string }): void {
    stopped = true;
    provider.shouldConnect = false;
    provider.disconnect();
    provider.disconnectBc();
    applyRole(access.role);
    showAccess(state, text, action);
    renderStatus();
  }

  /** 4410: this device's copy belongs to an older epoch. Delete it and start over. */
  async function discardLocalCopy(text: string): Promise<void> {
    const key = `coedit:reloads:${docName}`;
    let recent: number[] = [];
    try {
      recent = (JSON.parse(sessionStorage.getItem(key) ?? "[]") as number[]).filter((t) => Date.now() - t < 60_000);
    } catch {
      recent = [];
    }
    stop("pending", text);
    forget(docName);
    await persistence.clearData();
    if (recent.length >= 2) {
      // Reloading did not help twice in a row: don't loop, say so.
      showAccess("denied", "This document keeps changing on the server. Try again in a minute.", {
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

  /** 4404: deleted. This device's copy goes too (it must not come back in a new document). */
  async function dropDocument(): Promise<void> {
    stop("deleted", "This document was deleted.", { label: "All documents", href: "/" });
    forget(docName);
    await persistence.clearData();
  }

  provider.on("closed", ({ code, reason }) => {
    if (code === CLOSE_STALE_EPOCH) {
      void discardLocalCopy("The document was deleted and created again. Reloading…");
    } else if (code === CLOSE_DELETED) {
      void dropDocument();
    } else if (code === CLOSE_SIGN_IN) {
      stop("signin", mode === "jwt" ? "Your access token expired. Reopen the document." : "Your session ended. Sign in again to keep editing.", signInAction(mode));
    } else if (code === CLOSE_ACCESS_CHANGED) {
      // Our role changed (or a link was revoked): find out what we may do now.
      verified = false;
      void recheck();
    } else {
      stop("denied", `The server closed the connection${reason ? `: ${reason}` : ""}.`, { label: "Reload", href: location.href });
    }
  });

  window.addEventListener("online", goOnline);
  window.addEventListener("offline", goOffline);
  provider.on("status", () => renderStatus());
  provider.on("sync", () => renderStatus());

  // Leave quickly when the tab goes away so others' "who's here" is accurate.
  window.addEventListener("pagehide", () => {
    provider.awareness.setLocalState(null);
  });
  window.addEventListener("pageshow", (e) => {
    // Back from the back/forward cache: be visible again.
    if (e.persisted) provider.awareness.setLocalState({ user });
  });

  function syncState(): SyncState {
    if (stopped) return "closed";
    if (!browserOnline) return "offline";
    if (!verified) return lastCheckFailed ? "offline" : "connecting";
    if (provider.wsconnected && provider.synced) return "synced";
    // A few failed attempts in a row: the server can't be reached right now.
    if (!provider.wsconnected && provider.wsUnsuccessfulReconnects >= 3) return "offline";
    return "connecting";
  }

  function renderStatus(): void {
    const state = syncState();
    setIfChanged(body.dataset, "sync", state);
    setIfChanged(body.dataset, "saved", String(saved));
    setIfChanged(body.dataset, "local", savedLocally ? "saved" : "pending");
    setIfChanged(statusEl.dataset, "state", state);
    setText(syncLabel, SYNC_LABELS[state]);
    let savedText: string;
    if (saved) savedText = "Saved";
    else if (state === "synced") savedText = "Saving…";
    else if (savedLocally) savedText = "Changes kept on this device";
    else savedText = "Unsaved changes";
    setText(savedLabel, state === "closed" ? "" : `· ${savedText}`);
    if (statusEl.title !== SYNC_HINTS[state]) statusEl.title = SYNC_HINTS[state];
  }

  function tick(): void {
    renderStatus();
    if (stopped || !browserOnline || checking) return;
    const since = performance.now() - lastCheck;
    // Started offline, or the socket keeps failing (refused at the handshake
    // after our access changed?): ask the server what's up, not too often.
    if ((!verified && since > retryAfter)
      || (provider.wsUnsuccessfulReconnects >= 2 && !provider.wsconnected && since > 10_000)) {
      void recheck();
    }
  }

  saveTracker.onChange((s) => {
    saved = s;
    renderStatus();
  });
  localTracker.onChange((s) => {
    savedLocally = s;
    renderStatus();
  });
  // The "offline" label depends on the retry counter, which has no event.
  setInterval(tick, 1000);

  // -------------------------------------------------------------- title
  const titleInput = byId<HTMLInputElement>("title");

  function currentTitle(): string {
    const t = meta.get("title");
    return typeof t === "string" ? t : "";
  }

  function renderTitle(): void {
    const title = currentTitle();
    if (titleInput.value !== title) {
      const focused = document.activeElement === titleInput;
      const start = titleInput.selectionStart;
      const end = titleInput.selectionEnd;
      titleInput.value = title;
      if (focused && start !== null && end !== null) {
        titleInput.setSelectionRange(Math.min(start, title.length), Math.min(end, title.length));
      }
    }
    document.title = `${title.trim() || "Untitled document"} · Coedit`;
  }

  titleInput.addEventListener("input", () => {
    if (titleInput.readOnly) return;
    ydoc.transact(() => meta.set("title", titleInput.value));
  });
  titleInput.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      editor.focus();
    }
  });
  meta.observe(renderTitle);
  renderTitle();

  // -------------------------------------------------------------- editor
  const editor: EditorHandle = createEditor({
    element: byId("editor"),
    ydoc,
    provider,
    user,
    editable: access.role !== "viewer",
    onStateChange: () => renderToolbar(),
    onContentError: (error) => {
      console.error("coedit: the document has content this editor can't show", error);
      const banner = byId("error-banner");
      banner.textContent = "This document contains content this version of the editor can't show. "
        + "Editing is paused so nothing gets lost; try reloading the page.";
      banner.hidden = false;
    },
  });

  // -------------------------------------------------------------- toolbar
  const toolbar = byId("toolbar");
  const buttons = new Map<ActionId, HTMLButtonElement>();
  const isMac = /Mac|iPhone|iPad/.test(navigator.platform);

  function shortcutText(s: string): string {
    return s.replace("Mod", isMac ? "⌘" : "Ctrl").replace("Alt", isMac ? "⌥" : "Alt");
  }

  let lastGroup = "";
  for (const action of ACTIONS) {
    if (lastGroup && action.group !== lastGroup) {
      const sep = document.createElement("span");
      sep.className = "sep";
      sep.setAttribute("aria-hidden", "true");
      toolbar.append(sep);
    }
    lastGroup = action.group;
    const b = document.createElement("button");
    b.type = "button";
    b.className = `tb tb-${action.id}`;
    b.dataset.action = action.id;
    if (action.id === "link") b.append(linkIcon());
    else b.textContent = action.icon;
    b.setAttribute("aria-label", action.label);
    b.title = action.shortcut ? `${action.label} (${shortcutText(action.shortcut)})` : action.label;
    // Keep the editor's selection: don't take focus on mousedown.
    b.addEventListener("mousedown", (e) => e.preventDefault());
    b.addEventListener("click", () => {
      if (action.id === "link") openLinkForm();
      else editor.run(action.id);
    });
    if (action.id !== "undo" && action.id !== "redo" && action.id !== "horizontalRule") {
      b.setAttribute("aria-pressed", "false");
    }
    buttons.set(action.id, b);
    toolbar.append(b);
  }

  function renderToolbar(): void {
    // Runs after every transaction (once per frame): keep it cheap on big documents.
    for (const [id, b] of buttons) {
      if (b.hasAttribute("aria-pressed")) {
        const pressed = String(editor.isActive(id));
        if (b.getAttribute("aria-pressed") !== pressed) b.setAttribute("aria-pressed", pressed);
      }
    }
    for (const id of ["undo", "redo"] as const) {
      const b = buttons.get(id);
      const disabled = !editor.canRun(id);
      if (b && b.disabled !== disabled) b.disabled = disabled;
    }
  }
  renderToolbar();

  // -------------------------------------------------------------- links
  const linkForm = byId<HTMLFormElement>("link-form");
  const linkInput = byId<HTMLInputElement>("link-input");

  function openLinkForm(): void {
    if (!canEdit()) return;
    linkInput.value = editor.currentLink() ?? "";
    linkForm.hidden = false;
    linkInput.focus();
    linkInput.select();
  }

  function closeLinkForm(): void {
    linkForm.hidden = true;
    editor.focus();
  }

  linkForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const value = linkInput.value;
    linkForm.hidden = true;
    editor.setLink(value.trim() ? value : null);
  });
  byId("link-remove").addEventListener("click", () => {
    linkForm.hidden = true;
    editor.setLink(null);
  });
  byId("link-cancel").addEventListener("click", closeLinkForm);
  linkInput.addEventListener("keydown", (e) => {
    if (e.key === "Escape") closeLinkForm();
  });
  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && !e.altKey && !e.shiftKey && e.key.toLowerCase() === "k"
      && editor.dom.contains(document.activeElement)) {
      e.preventDefault();
      openLinkForm();
    }
  });

  // -------------------------------------------------------------- role
  const roleBadge = byId("role");
  const shareButton = byId<HTMLButtonElement>("share-button");

  function role(): Role {
    return access.role;
  }

  function canEdit(): boolean {
    return !stopped && access.role !== "viewer";
  }

  function applyRole(r: Role): void {
    setIfChanged(body.dataset, "role", r);
    const viewer = r === "viewer" || stopped;
    editor.setEditable(!viewer);
    body.classList.toggle("read-only", viewer);
    titleInput.readOnly = viewer;
    toolbar.hidden = viewer;
    if (viewer) linkForm.hidden = true;
    // Open mode: everyone may do everything, so there are no roles to show.
    roleBadge.hidden = mode === "open";
    roleBadge.textContent = ROLE_LABELS[r];
    roleBadge.dataset.role = r;
    shareButton.hidden = !(mode === "accounts" && r === "owner");
    history.renderPermissions();
    renderPresence();
  }

  // -------------------------------------------------------------- export
  const exportButton = byId<HTMLButtonElement>("export-button");
  const exportMenu = byId("export-menu");
  for (const a of exportMenu.querySelectorAll<HTMLAnchorElement>("a[data-format]")) {
    a.href = withCredentials(`${docPath(docName)}/export?format=${a.dataset.format}`, creds);
    a.addEventListener("click", () => setMenu(false));
  }

  function setMenu(open: boolean): void {
    exportMenu.hidden = !open;
    exportButton.setAttribute("aria-expanded", String(open));
    if (open) exportMenu.querySelector<HTMLElement>("a")?.focus();
  }

  exportButton.addEventListener("click", () => setMenu(exportMenu.hidden));
  document.addEventListener("click", (e) => {
    if (!exportMenu.hidden && !exportMenu.parentElement?.contains(e.target as Node)) setMenu(false);
  });
  exportMenu.addEventListener("keydown", (e) => {
    const items = [...exportMenu.querySelectorAll<HTMLElement>("a")];
    const i = items.indexOf(document.activeElement as HTMLElement);
    if (e.key === "Escape") {
      setMenu(false);
      exportButton.focus();
    } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      const step = e.key === "ArrowDown" ? 1 : -1;
      items[(i + step + items.length) % items.length]?.focus();
    }
  });

  // -------------------------------------------------------------- history
  const history = new HistoryPanel({
    docName,
    creds,
    canEdit,
    onPreview: (previewing) => {
      byId("editor").hidden = previewing;
      body.classList.toggle("previewing", previewing);
    },
  });

  // -------------------------------------------------------------- sharing
  const share = new ShareDialog(docName, creds);
  shareButton.addEventListener("click", () => share.open());

  // -------------------------------------------------------------- presence
  const presenceList = byId("presence");
  const meName = byId("me-name");
  const meButton = byId<HTMLButtonElement>("me");

  interface Person {
    name: string;
    color: string;
    self: boolean;
    viewing: boolean;
  }

  function initials(name: string): string {
    const parts = name.split(" ").filter(Boolean);
    const letters = parts.length > 1 ? parts[0][0] + parts[parts.length - 1][0] : name.slice(0, 2);
    return letters.toUpperCase();
  }

  function renderPresence(): void {
    const people = new Map<string, Person>();
    const selfId = ydoc.clientID;
    for (const [clientId, state] of provider.awareness.getStates()) {
      const u = (state as { user?: { name?: unknown; color?: unknown; role?: unknown } }).user;
      if (!u || typeof u.name !== "string") continue;
      const self = clientId === selfId;
      const color = typeof u.color === "string" ? u.color : "#868e96";
      // Our own state here is the one we sent; the server's stamp comes from its echo.
      const viewing = (self ? role() : u.role) === "viewer";
      const key = `${u.name}\u0000${color}`;
      const existing = people.get(key);
      if (existing) {
        existing.self ||= self;
        existing.viewing &&= viewing;
      } else {
        people.set(key, { name: u.name, color, self, viewing });
      }
    }
    const sorted = [...people.values()].sort((a, b) =>
      Number(b.self) - Number(a.self) || a.name.localeCompare(b.name));
    presenceList.replaceChildren(...sorted.map((p) => {
      const li = document.createElement("li");
      li.dataset.name = p.name;
      li.dataset.role = p.viewing ? "viewer" : "editor";
      const suffix = p.viewing ? " · viewing" : "";
      li.title = p.self ? `${p.name} (you)${suffix}` : `${p.name}${suffix}`;
      if (p.self) li.classList.add("self");
      const avatar = document.createElement("span");
      avatar.className = "avatar";
      avatar.style.backgroundColor = p.color;
      avatar.textContent = initials(p.name);
      avatar.setAttribute("aria-hidden", "true");
      const label = document.createElement("span");
      label.className = "person-name";
      label.textContent = p.name;
      li.append(avatar, label);
      if (p.viewing) {
        const mark = document.createElement("span");
        mark.className = "viewing-mark";
        mark.textContent = "viewing";
        li.append(mark);
      }
      return li;
    }));
    presenceList.setAttribute("aria-label", `Who's here: ${sorted.map((p) =>
      p.viewing ? `${p.name} (viewing)` : p.name).join(", ")}`);
  }

  provider.awareness.on("change", renderPresence);

  function renderMe(): void {
    meName.textContent = user.name;
    meButton.style.setProperty("--me-color", user.color);
  }
  renderMe();

  // -------------------------------------------------------------- name prompt
  const namePrompt = byId<HTMLFormElement>("name-prompt");
  const nameInput = byId<HTMLInputElement>("name-input");

  function openNamePrompt(): void {
    nameInput.value = user.name;
    namePrompt.hidden = false;
    nameInput.focus();
    nameInput.select();
  }

  function setName(name: string): void {
    const clean = cleanName(name);
    if (!clean) return;
    rememberName(clean);
    user = userFor(clean);
    editor.setUser(user);
    renderMe();
    renderPresence();
  }

  namePrompt.addEventListener("submit", (e) => {
    e.preventDefault();
    setName(nameInput.value || user.name);
    namePrompt.hidden = true;
    editor.focus();
  });
  nameInput.addEventListener("keydown", (e) => {
    if (e.key === "Escape") namePrompt.hidden = true;
  });
  byId("name-dismiss").addEventListener("click", () => {
    namePrompt.hidden = true;
  });
  if (fixedName) {
    // The server shows the account's (or token's) name: nothing to change here.
    meButton.disabled = true;
    meButton.title = username ? `Signed in as ${username}` : fixedName;
    meButton.classList.add("fixed");
  } else {
    meButton.addEventListener("click", openNamePrompt);
    if (askedBefore === null) {
      // Ask once, without blocking. The friendly random name is remembered right
      // away, so it stays the same in other documents and on reload.
      rememberName(user.name);
      nameInput.value = user.name;
      namePrompt.hidden = false;
    }
  }

  applyRole(access.role);
  if (browserOnline) connect();
  else provider.connectBc();

  // -------------------------------------------------------------- debugging hook
  // Exposed for tests and the console; not an API.
  (window as unknown as { coedit: unknown }).coedit = {
    Y,
    ydoc,
    provider,
    persistence,
    editor,
    docName,
    dbName,
    get access() {
      return access;
    },
    get saved() {
      return saved;
    },
  };

  renderStatus();
}

void main();

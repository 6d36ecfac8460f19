// The document page: /d/<name>. Wires the Y.Doc to the server (y-websocket),
// to IndexedDB (offline copy), to the editor, and renders the header:
// title, connection / saved state, who's here, and your name.

import { IndexeddbPersistence } from "y-indexeddb";
import { WebsocketProvider } from "y-websocket";
import * as Y from "yjs";
import { ACTIONS, type ActionId, createEditor, type EditorHandle } from "./editor";
import { cleanName, randomPersonName, rememberName, storedName, type User, userFor } from "./identity";
import { LocalSaveTracker } from "./local";
import { SaveTracker } from "./saved";

function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el as T;
}

function docNameFromLocation(): string {
  const raw = location.pathname.replace(/^\/d\//, "");
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

type SyncState = "synced" | "connecting" | "offline";

const SYNC_LABELS: Record<SyncState, string> = {
  synced: "Online",
  connecting: "Connecting…",
  offline: "Offline",
};
const SYNC_HINTS: Record<SyncState, string> = {
  synced: "Connected to the server. Changes are shared live.",
  connecting: "Trying to reach the server. You can keep editing.",
  offline: "Offline. Keep editing: changes are kept on this device and sent when you're back.",
};

const docName = docNameFromLocation();
const body = document.body;
const syncLabel = byId("sync-label");
const savedLabel = byId("saved-label");
const statusEl = byId("status");

// ---------------------------------------------------------------- identity
const askedBefore = storedName();
let user: User = userFor(askedBefore ?? randomPersonName());

// ---------------------------------------------------------------- Y.Doc
const ydoc = new Y.Doc();
const meta = ydoc.getMap<unknown>("meta");
const wsBase = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws`;
const provider = new WebsocketProvider(wsBase, encodeURIComponent(docName), ydoc, {
  connect: false,
  maxBackoffTime: 3000,
});
const saveTracker = new SaveTracker(ydoc, provider);
const persistence = new IndexeddbPersistence(`coedit-doc:${docName}`, ydoc);
const localTracker = new LocalSaveTracker(ydoc, persistence);

// ---------------------------------------------------------------- connection
let saved = false;
let savedLocally = false;
// Chromium's emulated offline mode (and some real network drops) keeps an
// open WebSocket "open" while holding its messages. Treat the browser going
// offline as a disconnect ourselves and reconnect when it comes back.
let browserOnline = navigator.onLine;

function goOnline(): void {
  browserOnline = true;
  provider.connect();
  renderStatus();
}

function goOffline(): void {
  browserOnline = false;
  provider.disconnect();
  // Keep syncing with other tabs of this browser while offline.
  provider.connectBc();
  renderStatus();
}

window.addEventListener("online", goOnline);
window.addEventListener("offline", goOffline);
provider.on("status", () => renderStatus());
provider.on("sync", () => renderStatus());
if (browserOnline) provider.connect();
else provider.connectBc();

// Leave quickly when the tab goes away so others' "who's here" is accurate.
window.addEventListener("pagehide", () => {
  provider.awareness.setLocalState(null);
});
window.addEventListener("pageshow", (e) => {
  // Back from the back/forward cache: be visible again.
  if (e.persisted) provider.awareness.setLocalState({ user });
});

function syncState(): SyncState {
  if (!browserOnline) return "offline";
  if (provider.wsconnected && provider.synced) return "synced";
  // A few failed attempts in a row: the server can't be reached right now.
  if (!provider.wsconnected && provider.wsUnsuccessfulReconnects >= 3) return "offline";
  return "connecting";
}

function setIfChanged(target: DOMStringMap, key: string, value: string): void {
  if (target[key] !== value) target[key] = value;
}

function setText(el: HTMLElement, text: string): void {
  if (el.textContent !== text) el.textContent = text;
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
  setText(savedLabel, `· ${savedText}`);
  if (statusEl.title !== SYNC_HINTS[state]) statusEl.title = SYNC_HINTS[state];
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
setInterval(renderStatus, 1000);

// ---------------------------------------------------------------- title
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

// ---------------------------------------------------------------- editor
const editor: EditorHandle = createEditor({
  element: byId("editor"),
  ydoc,
  provider,
  user,
  onStateChange: () => renderToolbar(),
  onContentError: (error) => {
    console.error("coedit: the document has content this editor can't show", error);
    const banner = byId("error-banner");
    banner.textContent = "This document contains content this version of the editor can't show. "
      + "Editing is paused so nothing gets lost; try reloading the page.";
    banner.hidden = false;
  },
});

// ---------------------------------------------------------------- toolbar
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

function linkIcon(): SVGSVGElement {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "16");
  svg.setAttribute("height", "16");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", "M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1");
  path.setAttribute("fill", "none");
  path.setAttribute("stroke", "currentColor");
  path.setAttribute("stroke-width", "2");
  path.setAttribute("stroke-linecap", "round");
  svg.append(path);
  return svg;
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

// ---------------------------------------------------------------- links
const linkForm = byId<HTMLFormElement>("link-form");
const linkInput = byId<HTMLInputElement>("link-input");

function openLinkForm(): void {
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

// ---------------------------------------------------------------- presence
const presenceList = byId("presence");
const meName = byId("me-name");
const meButton = byId<HTMLButtonElement>("me");

interface Person {
  name: string;
  color: string;
  self: boolean;
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
    const u = (state as { user?: { name?: unknown; color?: unknown } }).user;
    if (!u || typeof u.name !== "string") continue;
    const color = typeof u.color === "string" ? u.color : "#868e96";
    const key = `${u.name}\u0000${color}`;
    const self = clientId === selfId;
    const existing = people.get(key);
    if (existing) existing.self ||= self;
    else people.set(key, { name: u.name, color, self });
  }
  const sorted = [...people.values()].sort((a, b) =>
    Number(b.self) - Number(a.self) || a.name.localeCompare(b.name));
  presenceList.replaceChildren(...sorted.map((p) => {
    const li = document.createElement("li");
    li.dataset.name = p.name;
    li.title = p.self ? `${p.name} (you)` : p.name;
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
    return li;
  }));
  presenceList.setAttribute("aria-label", `Who's here: ${sorted.map((p) => p.name).join(", ")}`);
}

provider.awareness.on("change", renderPresence);
renderPresence();

function renderMe(): void {
  meName.textContent = user.name;
  meButton.style.setProperty("--me-color", user.color);
}
renderMe();

// ---------------------------------------------------------------- name prompt
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
meButton.addEventListener("click", openNamePrompt);
if (askedBefore === null) {
  // Ask once, without blocking. The friendly random name is remembered right
  // away, so it stays the same in other documents and on reload.
  rememberName(user.name);
  nameInput.value = user.name;
  namePrompt.hidden = false;
}

// ---------------------------------------------------------------- debugging hook
// Exposed for tests and the console; not an API.
(window as unknown as { coedit: unknown }).coedit = {
  Y,
  ydoc,
  provider,
  persistence,
  editor,
  docName,
  get saved() {
    return saved;
  },
};

renderStatus();

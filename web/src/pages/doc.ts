// The document page, /d/<name>: the composition root that wires doc/'s parts together.
//
// Asks the server for the document's epoch and our role (PUT), then wires the Y.Doc to the
// server (y-websocket), to IndexedDB (this device's copy of that epoch) and to the editor.

import { IndexeddbPersistence } from "y-indexeddb";
import { WebsocketProvider } from "y-websocket";
import * as Y from "yjs";
import { type AuthMode, credentialParams, credentialsFromLocation, type Me, type Role, whoAmI } from "../api";
import { type AccessAction, type AccessState, refusalAction, refusalText, showAccess } from "../doc/access";
import { mountHeaderActions } from "../doc/actions";
import { closeOnBack } from "../doc/backbutton";
import { anonymousKey, type Comments, mountComments, tokenName } from "../doc/comments";
import { Connection } from "../doc/connection";
import { type DocAccess, deleteOtherCopies, localDbName, openDocument } from "../doc/epoch";
import { mountCounts } from "../doc/counts";
import { mountExportMenu } from "../doc/exportmenu";
import { mountFindBar } from "../doc/findbar";
import { HistoryPanel } from "../doc/history";
import { mountLinkForm } from "../doc/linkform";
import { LocalSaveTracker } from "../doc/local";
import { followStampedColour, TabUser } from "../doc/me";
import { mountNamePrompt } from "../doc/nameprompt";
import { mountOutline } from "../doc/outline";
import { leaveWhenHidden, mountPresence } from "../doc/presence";
import { renderRole } from "../doc/role";
import { SaveTracker } from "../doc/saved";
import { ShareDialog } from "../doc/share";
import { renderStatus, renderSyncOnly } from "../doc/status";
import { mountTitle } from "../doc/title";
import { imageAddress, mountImageControls, uploadImage } from "../doc/images";
import { mountTableForm } from "../doc/tableform";
import { mountToolbar } from "../doc/toolbar";
import { byId, setIfChanged } from "../dom";
import { createEditor, type EditorHandle } from "../editor/editor";
import { SCHEMA_VERSION } from "../editor/schema";
import { registerServiceWorker } from "../offline";

function docNameFromLocation(): string {
  const raw = location.pathname.replace(/^\/d\//, "");
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

const docName = docNameFromLocation();
const creds = credentialsFromLocation();
/** Opened by the app's own "New" (`?new=1`): create the document if it does not exist. */
const creating = new URLSearchParams(location.search).get("new") === "1";
const body = document.body;

async function main(): Promise<void> {
  let [me, opened] = await Promise.all([
    whoAmI().catch((): Me | null => null),
    openDocument(docName, creds, creating),
  ]);
  // Never opened on this device and the server can't be reached: nothing to show
  // yet. Keep asking (1 s, 2 s, 4 s, then every 5 s) instead of giving up.
  for (let wait = 1000; opened.kind === "unreachable"; wait = Math.min(wait * 2, 5000)) {
    showAccess("unreachable", "Can't reach the server to open this document. Trying again…");
    renderSyncOnly("offline");
    body.classList.add("no-document");
    await new Promise((resolve) => setTimeout(resolve, wait));
    [me, opened] = await Promise.all([
      me ? me : whoAmI().catch((): Me | null => null),
      openDocument(docName, creds, creating),
    ]);
  }
  const mode: AuthMode = me?.mode ?? (creds.token ? "jwt" : "open");
  if (opened.kind === "denied") {
    const { state, text } = refusalText(opened.status, opened.message, mode, docName);
    showAccess(state, text, refusalAction(state, mode, docName));
    renderSyncOnly("closed");
    body.classList.add("no-document");
    return;
  }
  if (creating) {
    // Made (or found): a reload or a shared address should not say "new" any more.
    const params = new URLSearchParams(location.search);
    params.delete("new");
    const rest = params.toString();
    history.replaceState(history.state, "", location.pathname + (rest ? `?${rest}` : "") + location.hash);
  }
  body.classList.remove("no-document");
  showAccess("ok");
  start(opened.access, opened.verified, mode, me?.user?.username ?? null);
}

function start(initial: DocAccess, initiallyVerified: boolean, mode: AuthMode, username: string | null): void {
  setIfChanged(body.dataset, "epoch", initial.epoch);
  const me = new TabUser(username, creds.token, docName);

  // -------------------------------------------------------------- Y.Doc and its connections
  const ydoc = new Y.Doc();
  const wsBase = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws`;
  const room = encodeURIComponent(docName);
  const provider = new WebsocketProvider(wsBase, room, ydoc, {
    connect: false,
    maxBackoffTime: 3000,
    params: {
      epoch: initial.epoch,
      schema: String(SCHEMA_VERSION),
      author_key: anonymousKey(),
      ...credentialParams(creds),
    },
  });
  // Tabs of this browser sync over BroadcastChannel: only tabs on the same epoch.
  provider.bcChannel = `${wsBase}/${room}#${initial.epoch}`;
  const saveTracker = new SaveTracker(ydoc, provider);
  const dbName = localDbName(docName, initial.epoch);
  const persistence = new IndexeddbPersistence(dbName, ydoc);
  const localTracker = new LocalSaveTracker(ydoc, persistence);
  void deleteOtherCopies(docName, initial.epoch);
  if (me.fixedName) followStampedColour(provider, () => ydoc.clientID, me);

  const connection = new Connection(
    { docName, creds, mode, username, provider, persistence, access: initial, verified: initiallyVerified },
    { role: applyRole, stopped, changed: showStatus },
  );
  leaveWhenHidden(provider.awareness, () => me.user);

  let saved = false;
  let savedLocally = false;
  function showStatus(): void {
    renderStatus(connection.syncState(), saved, savedLocally);
  }
  saveTracker.onChange((s) => {
    saved = s;
    showStatus();
  });
  localTracker.onChange((s) => {
    savedLocally = s;
    showStatus();
  });
  setInterval(() => connection.tick(), 1000);

  const role = (): Role => connection.access.role;
  /** Viewers and commenters read the text; commenters write comments (doc/comments.ts). */
  const textReadOnly = (r: Role): boolean => r === "viewer" || r === "commenter";
  const canEdit = (): boolean => !connection.stopped && !textReadOnly(role());

  // -------------------------------------------------------------- the header's parts
  const title = mountTitle(ydoc, () => editor.focus());
  const editor: EditorHandle = createEditor({
    element: byId("editor"),
    ydoc,
    provider,
    user: me.user,
    editable: !textReadOnly(initial.role),
    onStateChange: () => {
      toolbar.render();
      outline.changed();
      counts();
    },
    uploadImage: (file) => uploadImage(docName, creds, file),
    imageSrc: imageAddress(creds),
    onUploadError: (error) => {
      const banner = byId("error-banner");
      const message = `An image could not be added: ${error instanceof Error ? error.message : String(error)}`;
      banner.textContent = message;
      banner.hidden = false;
      setTimeout(() => {
        if (banner.textContent === message) banner.hidden = true;
      }, 10_000);
    },
    onContentError: (error) => {
      console.error("coedit: the document has content this editor can't show", error);
      // Possibly called while createEditor runs (the copy on this device already has it):
      // stop once this page is fully set up.
      queueMicrotask(() => connection.outdatedEditor());
    },
  });
  const linkForm = mountLinkForm(editor, canEdit);
  const tableForm = mountTableForm(editor, canEdit);
  const images = mountImageControls(editor, canEdit);
  const toolbar = mountToolbar(editor, {
    link: () => linkForm.open(),
    table: () => tableForm.open(),
    image: () => images.pick(),
    imageAlt: () => images.editAlt(),
  });
  mountExportMenu(docName, creds);
  const findBar = mountFindBar(editor, canEdit);
  const outline = mountOutline(editor);
  const counts = mountCounts(editor);
  const previewShown = closeOnBack(() => history.closePreview());
  const history = new HistoryPanel({
    docName,
    creds,
    canEdit,
    onPreview: (previewing) => {
      byId("editor").hidden = previewing;
      body.classList.toggle("previewing", previewing);
      previewShown(previewing);
    },
  });
  const share = new ShareDialog(docName, creds);
  byId("share-button").addEventListener("click", () => share.open());
  const presence = mountPresence(provider.awareness, () => ydoc.clientID, role, () => me.user);
  me.onChange((user) => {
    editor.setUser(user);
    presence.render();
  });
  me.render();
  const namePrompt = mountNamePrompt(me, username, () => editor.focus());
  mountHeaderActions();
  const comments: Comments = mountComments({
    docName,
    epoch: initial.epoch,
    creds,
    wsBase,
    editor,
    textDoc: ydoc,
    fixedName: () => username ?? tokenName(creds.token),
    fixedPrefix: username ? "user" : "jwt",
    me: () => me.user,
    role,
    stopped: () => connection.stopped,
  });

  /** Viewers, and everyone once the connection stopped, get a read-only page. */
  function applyRole(r: Role): void {
    const viewer = textReadOnly(r) || connection.stopped;
    comments.roleChanged();
    renderRole(r, viewer, mode);
    editor.setEditable(!viewer);
    title.setReadOnly(viewer);
    toolbar.setHidden(viewer);
    findBar.setCanReplace(!viewer);
    if (viewer) linkForm.hide();
    history.renderPermissions();
    presence.render();
  }

  /** The connection stopped for good: the reason replaces whatever asked for input. */
  function stopped(state: AccessState, text: string, action?: AccessAction): void {
    namePrompt.stop();
    linkForm.hide();
    if (state === "deleted") {
      // Nothing left to show, export or look back on: the page says so, and only that.
      history.close();
      share.close();
      body.classList.add("no-document");
    }
    showAccess(state, text, action);
  }

  applyRole(role());
  connection.start();

  // -------------------------------------------------------------- debugging hook
  // Exposed for tests and the console; not an API.
  (window as unknown as { coedit: unknown }).coedit = {
    Y,
    ydoc,
    provider,
    persistence,
    editor,
    comments,
    docName,
    dbName,
    get access() {
      return connection.access;
    },
    get saved() {
      return saved;
    },
  };

  showStatus();
}

registerServiceWorker();
void main();

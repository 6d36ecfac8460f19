// The home page: lists documents (newest first, or by title), searches them, renames, copies
// and deletes them (to the trash, with an "Undo"), shows the trash, creates new ones and
// imports Markdown / HTML / text files. In accounts mode it shows who is signed in (or sends
// people to sign in first).

import { api, ApiError, docPath, signInUrl, whoAmI } from "../api";
import { randomDocName } from "../identity";
import { byId } from "../dom";
import { type DocInfo, docUrl, renderDoc, renderTrashed, type RowActions } from "../home/docrow";
import { mountMentions } from "../home/mentions";
import { mountSearch } from "../home/search";
import { toast } from "../home/toast";
import { forgetRememberedAccess, registerServiceWorker } from "../offline";

interface DocsPage {
  docs: DocInfo[];
  next: string | null;
}

const list = byId<HTMLUListElement>("docs");
const status = byId<HTMLElement>("docs-status");
const more = byId<HTMLButtonElement>("more-docs");
const newDoc = byId<HTMLButtonElement>("new-doc");
const importButton = byId<HTMLButtonElement>("import-doc");
const importFile = byId<HTMLInputElement>("import-file");
const importStatus = byId<HTMLElement>("import-status");
const account = byId<HTMLElement>("account");
const accountName = byId<HTMLElement>("account-name");
const signOut = byId<HTMLButtonElement>("sign-out");

const PAGE_SIZE = 50;
/** The server refuses bodies over 8 MiB; JSON escaping adds a little. */
const MAX_IMPORT_BYTES = 7 * 1024 * 1024;
let next: string | null = null;
/** Whether this person may rename, copy and delete here (not in JWT mode). */
let manage = true;

newDoc.addEventListener("click", () => {
  // `new=1`: this address may create the document (a typed one only asks).
  location.href = `${docUrl(randomDocName())}?new=1`;
});

function isDocsPage(value: unknown): value is DocsPage {
  if (typeof value !== "object" || value === null) return false;
  const v = value as { docs?: unknown; next?: unknown };
  return Array.isArray(v.docs) && (v.next === null || v.next === undefined || typeof v.next === "string");
}

function why(err: unknown): string {
  return err instanceof ApiError && err.network ? "the server can't be reached" : (err as Error).message;
}

const actions: RowActions = {
  rename: async (doc, title) => {
    try {
      await api(docPath(doc.name), { method: "PATCH", body: { title } });
    } catch (err) {
      toast(`Couldn't rename “${doc.title || doc.name}”: ${why(err)}`);
      throw err;
    }
  },
  copy: async (doc) => {
    try {
      const made = await api<DocInfo>(`${docPath(doc.name)}/copy`, { method: "POST" });
      list.prepend(renderDoc(made, actions));
      sortList();
      toast(`Made “${made.title}”.`, { label: "Open", run: () => (location.href = docUrl(made.name)) });
    } catch (err) {
      toast(`Couldn't copy “${doc.title || doc.name}”: ${why(err)}`);
    }
  },
  remove: async (doc, row) => {
    try {
      await api(docPath(doc.name), { method: "DELETE" });
    } catch (err) {
      toast(`Couldn't delete “${doc.title || doc.name}”: ${why(err)}`);
      return;
    }
    const next = row.nextSibling;
    row.remove();
    toast(`Moved “${doc.title || doc.preview || doc.name}” to the trash.`, {
      label: "Undo",
      run: () => void undoDelete(doc, row, next),
    });
  },
};

async function undoDelete(doc: DocInfo, row: HTMLLIElement, next: Node | null): Promise<void> {
  try {
    await api(`/api/trash/${encodeURIComponent(doc.name)}/restore`, { method: "POST" });
    list.insertBefore(row, next && next.parentNode === list ? next : null);
  } catch (err) {
    toast(`Couldn't restore “${doc.title || doc.name}”: ${why(err)}`);
  }
}

// ---------------------------------------------------------------- sorting

const sortSelect = byId<HTMLSelectElement>("sort");

function sortList(): void {
  const rows = [...list.children] as HTMLLIElement[];
  const byTitle = sortSelect.value === "title";
  rows.sort((a, b) =>
    byTitle
      ? (a.dataset.title ?? "").localeCompare(b.dataset.title ?? "")
      : Number(b.dataset.updated) - Number(a.dataset.updated),
  );
  list.append(...rows);
}
sortSelect.addEventListener("change", sortList);

async function load(before: string | null): Promise<void> {
  more.disabled = true;
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (before) params.set("before", before);
  try {
    const data = await api<unknown>(`/api/docs?${params}`);
    if (!isDocsPage(data)) throw new Error("unexpected answer");
    list.append(...data.docs.map((doc) => renderDoc(doc, manage ? actions : null)));
    sortList();
    next = data.next ?? null;
    more.hidden = next === null;
    if (list.children.length === 0) {
      status.textContent = "No documents yet. Create one with “New document”, or import a file.";
      status.hidden = false;
    } else {
      status.hidden = true;
    }
  } catch (err) {
    status.hidden = false;
    status.textContent = `Couldn't load the document list (${err instanceof Error ? err.message : String(err)}). `
      + "You can still create a new document or open a link.";
    status.classList.add("error");
  } finally {
    more.disabled = false;
  }
}

more.addEventListener("click", () => void load(next));

// ---------------------------------------------------------------- import

const IMPORT_KINDS: Record<string, "markdown" | "html"> = {
  md: "markdown",
  markdown: "markdown",
  txt: "markdown", // plain text reads fine as Markdown: paragraphs stay paragraphs
  html: "html",
  htm: "html",
};

function sayImport(text: string, error = false): void {
  importStatus.textContent = text;
  importStatus.classList.toggle("error", error);
  importStatus.hidden = !text;
}

importButton.addEventListener("click", () => importFile.click());
importFile.addEventListener("change", () => {
  const file = importFile.files?.[0];
  importFile.value = "";
  if (file) void importDocument(file);
});

async function importDocument(file: File): Promise<void> {
  const dot = file.name.lastIndexOf(".");
  const ext = dot > 0 ? file.name.slice(dot + 1).toLowerCase() : "";
  const kind = IMPORT_KINDS[ext];
  if (!kind) {
    sayImport(`“${file.name}” isn't a Markdown, HTML or text file (.md, .markdown, .html, .htm, .txt).`, true);
    return;
  }
  if (file.size > MAX_IMPORT_BYTES) {
    sayImport(`“${file.name}” is too large to import (at most ${MAX_IMPORT_BYTES / 1024 / 1024} MB).`, true);
    return;
  }
  const title = (dot > 0 ? file.name.slice(0, dot) : file.name).trim().slice(0, 200);
  importButton.disabled = true;
  sayImport(`Importing “${file.name}”…`);
  try {
    const content = await file.text();
    const created = await api<{ name?: unknown }>("/api/docs", {
      method: "POST",
      body: { title, [kind]: content },
    });
    if (typeof created?.name !== "string") throw new Error("the server's answer has no document name");
    location.href = docUrl(created.name);
  } catch (err) {
    const why = err instanceof ApiError && err.network ? "the server can't be reached" : (err as Error).message;
    sayImport(`Couldn't import “${file.name}”: ${why}`, true);
  } finally {
    importButton.disabled = false;
  }
}

// ---------------------------------------------------------------- trash

const trashButton = byId<HTMLButtonElement>("trash-toggle");
const trashSection = byId("trash");
const trashList = byId<HTMLUListElement>("trash-list");
const trashStatus = byId("trash-status");
const docsSection = byId("documents");

async function showTrash(show: boolean): Promise<void> {
  trashSection.hidden = !show;
  docsSection.hidden = show;
  trashButton.setAttribute("aria-pressed", String(show));
  trashButton.textContent = show ? "Back to documents" : "Trash";
  if (!show) return;
  trashStatus.hidden = false;
  trashStatus.textContent = "Loading…";
  try {
    const data = await api<{ docs: (DocInfo & { deleted_at: number })[] }>("/api/trash");
    trashList.replaceChildren(
      ...data.docs.map((doc) => {
        const row = renderTrashed(
          doc,
          () => void restore(doc, row),
          () => void purge(doc, row),
        );
        return row;
      }),
    );
    trashStatus.textContent = data.docs.length
      ? "Documents in the trash are deleted for good after 30 days."
      : "The trash is empty.";
  } catch (err) {
    trashStatus.textContent = `Couldn't load the trash: ${why(err)}`;
  }
}

async function restore(doc: DocInfo, row: HTMLLIElement): Promise<void> {
  try {
    await api(`/api/trash/${encodeURIComponent(doc.name)}/restore`, { method: "POST" });
    row.remove();
    list.prepend(renderDoc(doc, actions));
    sortList();
    toast(`Restored “${doc.title || doc.preview || doc.name}”.`, {
      label: "Open",
      run: () => (location.href = docUrl(doc.name)),
    });
  } catch (err) {
    toast(`Couldn't restore it: ${why(err)}`);
  }
}

async function purge(doc: DocInfo, row: HTMLLIElement): Promise<void> {
  const what = doc.title || doc.preview || doc.name;
  if (!confirm(`Delete “${what}” for good? This can't be undone.`)) return;
  try {
    await api(`/api/trash/${encodeURIComponent(doc.name)}`, { method: "DELETE" });
    row.remove();
    toast(`Deleted “${what}” for good.`);
  } catch (err) {
    toast(`Couldn't delete it: ${why(err)}`);
  }
}

trashButton.addEventListener("click", () => void showTrash(trashSection.hidden));

mountSearch((searching) => {
  list.hidden = searching;
  more.hidden = searching || next === null;
  if (searching) status.hidden = true;
});

// ---------------------------------------------------------------- account

signOut.addEventListener("click", async () => {
  signOut.disabled = true;
  try {
    await api("/api/auth/signout", { method: "POST" });
  } catch {
    // signed out or not, the sign-in page is where to go
  }
  forgetRememberedAccess();
  location.href = "/signin";
});

registerServiceWorker();

async function startHome(): Promise<void> {
  let mode = "open";
  try {
    const me = await whoAmI();
    mode = me.mode;
    if (me.mode === "accounts") {
      if (!me.user) {
        location.replace(signInUrl("/"));
        return;
      }
      accountName.textContent = me.user.username;
      account.hidden = false;
      void mountMentions();
    }
  } catch {
    // server unreachable: the list below says so
  }
  if (mode === "jwt") {
    status.textContent = "Documents on this server are opened from the application that embeds it.";
    status.hidden = false;
    newDoc.hidden = true;
    importButton.hidden = true;
    trashButton.hidden = true;
    byId("search-row").hidden = true;
    manage = false;
    return;
  }
  await load(null);
}

void startHome();

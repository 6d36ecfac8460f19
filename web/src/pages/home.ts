// The home page: lists documents (newest first), creates new ones and imports
// Markdown / HTML / text files. In accounts mode it shows who is signed in (or
// sends people to sign in first).

import { api, ApiError, relativeTime, signInUrl, whoAmI } from "../api";
import { randomDocName } from "../identity";
import { byId } from "../dom";
import { mountMentions } from "../home/mentions";
import { forgetRememberedAccess, registerServiceWorker } from "../offline";

interface DocInfo {
  name: string;
  title: string;
  created_at: number;
  updated_at: number;
  size: number;
}

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

function docUrl(name: string): string {
  return `/d/${encodeURIComponent(name)}`;
}

newDoc.addEventListener("click", () => {
  location.href = docUrl(randomDocName());
});

function isDocsPage(value: unknown): value is DocsPage {
  if (typeof value !== "object" || value === null) return false;
  const v = value as { docs?: unknown; next?: unknown };
  return Array.isArray(v.docs) && (v.next === null || v.next === undefined || typeof v.next === "string");
}

function renderDoc(doc: DocInfo): HTMLLIElement {
  const li = document.createElement("li");
  li.dataset.name = doc.name;
  const a = document.createElement("a");
  a.href = docUrl(doc.name);
  a.className = "doc-title";
  const title = typeof doc.title === "string" ? doc.title.trim() : "";
  a.textContent = title || "Untitled document";
  if (!title) a.classList.add("untitled");
  const info = document.createElement("span");
  info.className = "doc-meta muted";
  const when = document.createElement("time");
  if (typeof doc.updated_at === "number") {
    when.dateTime = new Date(doc.updated_at * 1000).toISOString();
    when.textContent = `edited ${relativeTime(doc.updated_at)}`;
    when.title = new Date(doc.updated_at * 1000).toLocaleString();
  }
  const name = document.createElement("span");
  name.className = "doc-name";
  name.textContent = doc.name;
  info.append(name, " · ", when);
  li.append(a, info);
  return li;
}

async function load(before: string | null): Promise<void> {
  more.disabled = true;
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (before) params.set("before", before);
  try {
    const data = await api<unknown>(`/api/docs?${params}`);
    if (!isDocsPage(data)) throw new Error("unexpected answer");
    list.append(...data.docs.map(renderDoc));
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
    return;
  }
  await load(null);
}

void startHome();

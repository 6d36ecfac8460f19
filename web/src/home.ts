// The home page: lists documents (newest first) and creates new ones.

import { randomDocName } from "./identity";

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

const list = document.getElementById("docs") as HTMLUListElement;
const status = document.getElementById("docs-status") as HTMLElement;
const more = document.getElementById("more-docs") as HTMLButtonElement;
const newDoc = document.getElementById("new-doc") as HTMLButtonElement;

const PAGE_SIZE = 50;
let next: string | null = null;

function docUrl(name: string): string {
  return `/d/${encodeURIComponent(name)}`;
}

newDoc.addEventListener("click", () => {
  location.href = docUrl(randomDocName());
});

function relativeTime(epochSeconds: number): string {
  const seconds = Math.round(Date.now() / 1000 - epochSeconds);
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  if (seconds < 45) return "just now";
  if (seconds < 3600) return rtf.format(-Math.round(seconds / 60), "minute");
  if (seconds < 86400) return rtf.format(-Math.round(seconds / 3600), "hour");
  if (seconds < 86400 * 30) return rtf.format(-Math.round(seconds / 86400), "day");
  return new Date(epochSeconds * 1000).toLocaleDateString();
}

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
    const res = await fetch(`/api/docs?${params}`, { headers: { Accept: "application/json" } });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const data: unknown = await res.json();
    if (!isDocsPage(data)) throw new Error("unexpected answer");
    list.append(...data.docs.map(renderDoc));
    next = data.next ?? null;
    more.hidden = next === null;
    if (list.children.length === 0) {
      status.textContent = "No documents yet. Create one with “New document”.";
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
void load(null);

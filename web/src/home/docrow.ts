// One document in the home page's list: its title (or first line), when it was edited, and its
// actions (rename in place, make a copy, delete) under a small menu.

import { relativeTime } from "../api";
import { mountMenu } from "../doc/menu";

export interface DocInfo {
  name: string;
  title: string;
  preview?: string;
  created_at: number;
  updated_at: number;
  size: number;
}

export interface RowActions {
  rename(doc: DocInfo, title: string): Promise<void>;
  copy(doc: DocInfo): Promise<void>;
  remove(doc: DocInfo, row: HTMLLIElement): Promise<void>;
}

export function docUrl(name: string): string {
  return `/d/${encodeURIComponent(name)}`;
}

/** What to call a document in a list: its title, else its first line. */
export function displayTitle(doc: { title?: string; preview?: string }): string {
  const title = typeof doc.title === "string" ? doc.title.trim() : "";
  if (title) return title;
  const preview = typeof doc.preview === "string" ? doc.preview.trim() : "";
  return preview || "Untitled document";
}

function titleLink(doc: DocInfo): HTMLAnchorElement {
  const a = document.createElement("a");
  a.href = docUrl(doc.name);
  a.className = "doc-title";
  a.textContent = displayTitle(doc);
  if (!doc.title?.trim()) a.classList.add("untitled");
  return a;
}

function editedAt(stamp: number): HTMLTimeElement {
  const when = document.createElement("time");
  when.dateTime = new Date(stamp * 1000).toISOString();
  when.textContent = relativeTime(stamp);
  when.title = new Date(stamp * 1000).toLocaleString();
  return when;
}

export function renderDoc(doc: DocInfo, actions: RowActions | null): HTMLLIElement {
  const li = document.createElement("li");
  li.dataset.name = doc.name;
  li.dataset.updated = String(doc.updated_at);
  li.dataset.title = displayTitle(doc).toLocaleLowerCase();
  let link = titleLink(doc);
  const meta = document.createElement("span");
  meta.className = "doc-meta muted";
  const name = document.createElement("span");
  name.className = "doc-name";
  name.textContent = doc.name;
  const sep = document.createElement("span");
  sep.className = "sep";
  sep.textContent = " · ";
  meta.append(name, sep, "edited ", editedAt(doc.updated_at));
  li.append(link, meta);
  if (!actions) return li;

  const wrap = document.createElement("div");
  wrap.className = "menu row-menu";
  const button = document.createElement("button");
  button.type = "button";
  button.className = "icon row-menu-button";
  button.textContent = "⋯";
  button.setAttribute("aria-haspopup", "menu");
  button.setAttribute("aria-label", `Actions for ${displayTitle(doc)}`);
  const list = document.createElement("div");
  list.className = "menu-list";
  list.setAttribute("role", "menu");
  list.hidden = true;
  const item = (label: string, run: () => void): HTMLButtonElement => {
    const b = document.createElement("button");
    b.type = "button";
    b.setAttribute("role", "menuitem");
    b.textContent = label;
    b.addEventListener("click", run);
    return b;
  };

  function rename(): void {
    const input = document.createElement("input");
    input.type = "text";
    input.className = "rename-input";
    input.value = doc.title;
    input.maxLength = 200;
    input.setAttribute("aria-label", "New title");
    link.replaceWith(input);
    input.focus();
    input.select();
    let done = false;
    const finish = async (save: boolean): Promise<void> => {
      if (done) return;
      done = true;
      const title = input.value.trim();
      if (save && title !== doc.title) {
        try {
          await actions?.rename(doc, title);
          doc.title = title;
          li.dataset.title = displayTitle(doc).toLocaleLowerCase();
        } catch {
          // the toast said why; the old title stays
        }
      }
      link = titleLink(doc);
      input.replaceWith(link);
    };
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") void finish(true);
      else if (e.key === "Escape") void finish(false);
    });
    input.addEventListener("blur", () => void finish(true));
  }

  list.append(
    item("Rename", rename),
    item("Make a copy", () => void actions.copy(doc)),
    item("Delete", () => void actions.remove(doc, li)),
  );
  wrap.append(button, list);
  mountMenu(button, list);
  li.append(wrap);
  return li;
}

export function renderTrashed(
  doc: DocInfo & { deleted_at: number },
  restore: () => void,
  purge: () => void,
): HTMLLIElement {
  const li = document.createElement("li");
  li.dataset.name = doc.name;
  const title = document.createElement("span");
  title.className = "doc-title";
  title.textContent = displayTitle(doc);
  const meta = document.createElement("span");
  meta.className = "doc-meta muted";
  meta.append("deleted ", editedAt(doc.deleted_at));
  const back = document.createElement("button");
  back.type = "button";
  back.textContent = "Restore";
  back.addEventListener("click", restore);
  const gone = document.createElement("button");
  gone.type = "button";
  gone.className = "danger";
  gone.textContent = "Delete forever";
  gone.addEventListener("click", purge);
  const buttons = document.createElement("span");
  buttons.className = "row-buttons";
  buttons.append(back, gone);
  li.append(title, meta, buttons);
  return li;
}

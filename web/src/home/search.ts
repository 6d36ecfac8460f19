// The home page's search box: results as you type (titles and text, best first), each with
// the passage that matched, the words found marked.

import { api, relativeTime } from "../api";
import { byId } from "../dom";
import { displayTitle, docUrl } from "./docrow";

interface Result {
  name: string;
  title: string;
  snippet: string;
  updated_at: number;
  preview?: string;
}

const WAIT_MS = 150;

/** `text` as nodes, each word starting with one of `words` in a <mark>. */
function marked(text: string, words: string[]): Node[] {
  if (!words.length) return [document.createTextNode(text)];
  const fold = (s: string): string => s.normalize("NFKD").replace(/\p{M}/gu, "").toLocaleLowerCase();
  const out: Node[] = [];
  for (const part of text.split(/(\p{L}[\p{L}\p{N}]*|\p{N}+)/u)) {
    if (part && words.some((w) => fold(part).startsWith(w))) {
      const mark = document.createElement("mark");
      mark.textContent = part;
      out.push(mark);
    } else if (part) {
      out.push(document.createTextNode(part));
    }
  }
  return out;
}

export function mountSearch(onActive: (active: boolean) => void): void {
  const input = byId<HTMLInputElement>("search");
  const results = byId<HTMLOListElement>("results");
  const status = byId("results-status");
  let timer = 0;
  let asked = 0;

  async function run(query: string): Promise<void> {
    const mine = ++asked;
    try {
      const data = await api<{ results: Result[] }>(`/api/search?${new URLSearchParams({ q: query, limit: "30" })}`);
      if (mine !== asked) return; // a newer query is on its way
      const words = (query.match(/[\p{L}\p{N}]+/gu) ?? []).map((w) =>
        w.normalize("NFKD").replace(/\p{M}/gu, "").toLocaleLowerCase(),
      );
      results.replaceChildren(...data.results.map((r) => row(r, words)));
      status.textContent = data.results.length ? "" : `No documents match “${query}”.`;
      status.hidden = data.results.length > 0;
    } catch (err) {
      if (mine !== asked) return;
      status.hidden = false;
      status.textContent = `Search failed: ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  function row(r: Result, words: string[]): HTMLLIElement {
    const li = document.createElement("li");
    li.dataset.name = r.name;
    const a = document.createElement("a");
    a.href = docUrl(r.name);
    a.className = "doc-title";
    a.append(...marked(displayTitle(r), words));
    const snippet = document.createElement("p");
    snippet.className = "snippet muted";
    snippet.append(...marked(r.snippet, words));
    const when = document.createElement("span");
    when.className = "doc-meta muted";
    when.textContent = `edited ${relativeTime(r.updated_at)}`;
    li.append(a, when, snippet);
    return li;
  }

  input.addEventListener("input", () => {
    window.clearTimeout(timer);
    const query = input.value.trim();
    const active = query.length > 0;
    onActive(active);
    results.hidden = !active;
    if (!active) {
      asked++;
      results.replaceChildren();
      status.hidden = true;
      return;
    }
    timer = window.setTimeout(() => void run(query), WAIT_MS);
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      const first = results.querySelector<HTMLAnchorElement>("a");
      if (first) location.href = first.href;
    } else if (e.key === "Escape") {
      input.value = "";
      input.dispatchEvent(new Event("input"));
    }
  });
}

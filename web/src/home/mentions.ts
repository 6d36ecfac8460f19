// The home page's mentions (accounts mode): comments that mention you or reply to your threads,
// newest first, with an unread count; each opens its document at the thread.

import { api, relativeTime } from "../api";
import { byId } from "../dom";

interface Mention {
  doc: string;
  title: string;
  thread: string;
  comment: string;
  reason: "mention" | "reply";
  quote: string;
  body: string;
  author: { name: string | null };
  created_at: number;
  read: boolean;
}

/** Where a mention opens: its document, with the thread (and the comment to mark read). */
export function mentionUrl(m: Pick<Mention, "doc" | "thread" | "comment">): string {
  const hash = new URLSearchParams({ thread: m.thread, comment: m.comment });
  return `/d/${encodeURIComponent(m.doc)}#${hash.toString()}`;
}

function renderMention(m: Mention): HTMLLIElement {
  const li = document.createElement("li");
  li.className = m.read ? "mention" : "mention unread";
  const link = document.createElement("a");
  link.href = mentionUrl(m);
  const who = document.createElement("strong");
  who.textContent = m.author?.name ?? "Someone";
  const what = m.reason === "mention" ? " mentioned you in " : " replied to your comment in ";
  const doc = document.createElement("span");
  doc.className = "mention-doc";
  doc.textContent = m.title || m.doc;
  link.append(who, what, doc);
  const body = document.createElement("p");
  body.className = "mention-body";
  body.textContent = m.body; // plain text, never HTML
  const quote = document.createElement("p");
  quote.className = "mention-quote muted";
  quote.textContent = `On “${m.quote}” · ${relativeTime(m.created_at / 1000)}`;
  li.append(link, body, quote);
  return li;
}

export async function mountMentions(): Promise<void> {
  const button = byId<HTMLButtonElement>("mentions-button");
  const count = byId("mentions-count");
  const section = byId("mentions");
  const list = byId<HTMLUListElement>("mention-list");
  let data: { mentions: Mention[]; unread: number };
  try {
    data = await api<{ mentions: Mention[]; unread: number }>("/api/mentions");
  } catch {
    return; // not in accounts mode, or signed out: no mentions to show
  }
  button.hidden = false;
  count.textContent = data.unread ? String(data.unread) : "";
  list.replaceChildren(...data.mentions.map(renderMention));
  byId("mentions-empty").hidden = data.mentions.length > 0;
  button.addEventListener("click", () => {
    section.hidden = !section.hidden;
    button.setAttribute("aria-expanded", String(!section.hidden));
  });
}

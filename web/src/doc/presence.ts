// Who's here: the avatars in the header, from the awareness states (one entry per person;
// this browser's other tabs are one entry, "You (other tab)").

import type { Awareness } from "y-protocols/awareness";
import type { Role } from "../api";
import { byId } from "../dom";
import { OTHER_TAB, type User } from "../identity";

interface Person {
  name: string;
  /** What the list shows: the name, or OTHER_TAB for this browser's other tabs. */
  label: string;
  color: string;
  self: boolean;
  /** This browser's other tabs (how many). */
  tabs: number;
  viewing: boolean;
}

export interface Presence {
  render(): void;
}

/**
 * Two letters for the avatar: of the first and last words, or the first two of a single word.
 * Only letters and digits count, and a note in brackets ("Carol (link)") is not the name.
 */
function initials(name: string): string {
  const words = (text: string): string[][] =>
    (text.match(/[\p{L}\p{N}]+/gu) ?? []).map((w) => Array.from(w));
  let parts = words(name.replace(/\([^)]*\)|\[[^\]]*\]/g, " "));
  if (parts.length === 0) parts = words(name);
  if (parts.length === 0) return Array.from(name.trim())[0] ?? "?";
  const first = parts[0];
  const last = parts[parts.length - 1];
  const letters = parts.length > 1 ? first[0] + last[0] : first.slice(0, 2).join("");
  return letters.toUpperCase();
}

/**
 * `selfId`: this tab's client id (the Y.Doc's); `ownRole`: our own state here is the one we
 * sent, the server's stamp comes from its echo; `me`: who we are (its `browser` recognises
 * this browser's other tabs).
 */
export function mountPresence(
  awareness: Awareness,
  selfId: () => number,
  ownRole: () => Role,
  me: () => User,
): Presence {
  const presenceList = byId("presence");
  let shown = "";

  function renderPresence(): void {
    const people = new Map<string, Person>();
    const ownId = selfId();
    const { browser } = me();
    let tabs: Person | null = null;
    for (const [clientId, state] of awareness.getStates()) {
      const u = (state as { user?: { name?: unknown; color?: unknown; role?: unknown; browser?: unknown } }).user;
      if (!u || typeof u.name !== "string") continue;
      const self = clientId === ownId;
      const color = typeof u.color === "string" ? u.color : "#868e96";
      // Commenters read the text as viewers do (their comments show in the panel).
      const role = self ? ownRole() : u.role;
      const viewing = role === "viewer" || role === "commenter";
      if (!self && browser !== undefined && u.browser === browser) {
        // Under the name and colour that tab shows the others (the first such tab's).
        tabs ??= { name: u.name, label: OTHER_TAB, color, self: false, tabs: 0, viewing: true };
        tabs.tabs += 1;
        tabs.viewing &&= viewing;
        continue;
      }
      const key = `${u.name}\u0000${color}`;
      const existing = people.get(key);
      if (existing) {
        existing.self ||= self;
        existing.viewing &&= viewing;
      } else {
        people.set(key, { name: u.name, label: u.name, color, self, tabs: 0, viewing });
      }
    }
    const sorted = [...people.values()].sort((a, b) =>
      Number(b.self) - Number(a.self) || a.name.localeCompare(b.name));
    // Right after our own entry (first, when we show).
    if (tabs) sorted.splice(sorted.length && sorted[0].self ? 1 : 0, 0, tabs);
    // Each keystroke moves a caret in the awareness: redraw only when the list changes.
    const next = JSON.stringify(sorted);
    if (next === shown) return;
    shown = next;
    presenceList.replaceChildren(...sorted.map((p) => {
      const li = document.createElement("li");
      li.dataset.name = p.name;
      li.dataset.role = p.viewing ? "viewer" : "editor";
      const suffix = p.viewing ? " · viewing" : "";
      if (p.tabs) {
        li.dataset.own = "tab";
        li.title = `${p.name}: you, in ${p.tabs === 1 ? "another tab" : `${p.tabs} other tabs`} of this browser${suffix}`;
      } else {
        li.title = p.self ? `${p.name} (you)${suffix}` : `${p.name}${suffix}`;
      }
      if (p.self) li.classList.add("self");
      const avatar = document.createElement("span");
      avatar.className = "avatar";
      avatar.style.backgroundColor = p.color;
      avatar.textContent = initials(p.name);
      avatar.setAttribute("aria-hidden", "true");
      const label = document.createElement("span");
      label.className = "person-name";
      label.textContent = p.label;
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
      p.viewing ? `${p.label} (viewing)` : p.label).join(", ")}`);
  }

  awareness.on("change", renderPresence);
  return { render: renderPresence };
}

/** Leave quickly when the tab goes away so others' "who's here" is accurate. */
export function leaveWhenHidden(awareness: Awareness, user: () => User): void {
  window.addEventListener("pagehide", () => {
    awareness.setLocalState(null);
  });
  window.addEventListener("pageshow", (e) => {
    // Back from the back/forward cache: be visible again.
    if (e.persisted) awareness.setLocalState({ user: user() });
  });
}

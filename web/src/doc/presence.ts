// Who's here: the avatars in the header, from the awareness states (one entry per person).

import type { Awareness } from "y-protocols/awareness";
import type { Role } from "../api";
import { byId } from "../dom";
import type { User } from "../identity";

interface Person {
  name: string;
  color: string;
  self: boolean;
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
 * sent, the server's stamp comes from its echo.
 */
export function mountPresence(awareness: Awareness, selfId: () => number, ownRole: () => Role): Presence {
  const presenceList = byId("presence");

  function renderPresence(): void {
    const people = new Map<string, Person>();
    const ownId = selfId();
    for (const [clientId, state] of awareness.getStates()) {
      const u = (state as { user?: { name?: unknown; color?: unknown; role?: unknown } }).user;
      if (!u || typeof u.name !== "string") continue;
      const self = clientId === ownId;
      const color = typeof u.color === "string" ? u.color : "#868e96";
      // Commenters read the text as viewers do (their comments show in the panel).
      const role = self ? ownRole() : u.role;
      const viewing = role === "viewer" || role === "commenter";
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

// The name prompt: asks once for the name others see, and again from the "me" button.

import { byId } from "../dom";
import { cleanName, rememberName, userFor } from "../identity";
import type { TabUser } from "./me";

export interface NamePrompt {
  /** The page stopped for good: the prompt goes, and the name can't be changed any more. */
  stop(): void;
}

/** `done`: the prompt was answered (focus goes back to the text). */
export function mountNamePrompt(me: TabUser, username: string | null, done: () => void): NamePrompt {
  const namePrompt = byId<HTMLFormElement>("name-prompt");
  const nameInput = byId<HTMLInputElement>("name-input");
  const meButton = byId<HTMLButtonElement>("me");

  function openNamePrompt(): void {
    nameInput.value = me.user.name;
    namePrompt.hidden = false;
    nameInput.focus();
    nameInput.select();
  }

  function setName(name: string): void {
    const clean = cleanName(name);
    if (!clean) return;
    rememberName(clean);
    me.set(userFor(clean));
  }

  namePrompt.addEventListener("submit", (e) => {
    e.preventDefault();
    setName(nameInput.value || me.user.name);
    namePrompt.hidden = true;
    done();
  });
  nameInput.addEventListener("keydown", (e) => {
    if (e.key === "Escape") namePrompt.hidden = true;
  });
  byId("name-dismiss").addEventListener("click", () => {
    namePrompt.hidden = true;
  });
  if (me.fixedName) {
    // The server shows the account's (or token's) name: nothing to change here.
    meButton.disabled = true;
    meButton.title = username ? `Signed in as ${username}` : me.fixedName;
    meButton.classList.add("fixed");
  } else {
    meButton.addEventListener("click", openNamePrompt);
    if (me.askedBefore === null) {
      // Ask once, without blocking. The friendly random name is remembered right
      // away, so it stays the same in other documents and on reload.
      rememberName(me.user.name);
      nameInput.value = me.user.name;
      namePrompt.hidden = false;
    }
  }
  return {
    stop: () => {
      namePrompt.hidden = true;
      meButton.disabled = true;
    },
  };
}

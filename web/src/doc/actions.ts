// The header's actions: one list (#actions), shown as buttons while they fit and in the
// "More" menu when they don't (a phone, a long title, many people here).
//
// Each child of #actions is one action, in order of importance (the last overflows first):
// - a button: the More menu offers an item that clicks it;
// - a `.menu` (a button and its own [role=menu] list): the More menu offers that list's
//   items under the action's `data-label`.
// An action with `hidden` set is in neither place. See "Adding a header action" in README.md.

import { byId } from "../dom";
import { mountMenu } from "./menu";

export interface HeaderActions {
  /** Fit the header again (after something in it changed size outside an observed element). */
  layout(): void;
}

export function mountHeaderActions(): HeaderActions {
  const bar = byId("topbar");
  const actions = byId("actions");
  const more = byId("more");
  const moreList = byId("more-menu");
  const menu = mountMenu(byId<HTMLButtonElement>("more-button"), moreList, fillMenu);
  const all = (): HTMLElement[] => [...actions.children] as HTMLElement[];

  /** Nothing in the header reaches past its padding. */
  function fits(): boolean {
    const style = getComputedStyle(bar);
    const limit = bar.getBoundingClientRect().right - parseFloat(style.paddingRight) + 0.5;
    for (const child of bar.children) {
      const rect = child.getBoundingClientRect();
      if (rect.width > 0 && rect.right > limit) return false;
    }
    return true;
  }

  function layout(): void {
    // The toolbar and the side panel stick below the header, whatever its height.
    document.documentElement.style.setProperty("--topbar-height", `${bar.offsetHeight}px`);
    // Measured at their natural sizes (`measuring` in style.css): actions go under More before
    // the title, the name or the role badge are squeezed; those give way only after.
    bar.classList.add("measuring");
    for (const a of all()) a.classList.remove("overflowed");
    more.hidden = true;
    if (!fits()) {
      more.hidden = false;
      for (const a of all().filter((el) => !el.hidden).reverse()) {
        a.classList.add("overflowed");
        if (fits()) break;
      }
    }
    bar.classList.remove("measuring");
    if (menu.isOpen && more.hidden) menu.setOpen(false);
    else if (menu.isOpen) fillMenu();
  }

  function fillMenu(): void {
    const entries: HTMLElement[] = [];
    for (const a of all()) {
      if (a.hidden || !a.classList.contains("overflowed")) continue;
      const own = a.querySelector<HTMLElement>("[role=menu]");
      if (own) {
        const heading = document.createElement("div");
        heading.className = "menu-heading";
        heading.setAttribute("role", "presentation");
        heading.textContent = a.dataset.label ?? "";
        entries.push(heading);
        for (const item of own.querySelectorAll<HTMLElement>("[role=menuitem]")) {
          const copy = item.cloneNode(true) as HTMLElement;
          copy.removeAttribute("id");
          entries.push(copy);
        }
      } else {
        const item = document.createElement("button");
        item.type = "button";
        item.setAttribute("role", "menuitem");
        item.dataset.action = a.id;
        item.textContent = a.dataset.label ?? a.textContent ?? "";
        item.addEventListener("click", () => a.click());
        entries.push(item);
      }
    }
    moreList.replaceChildren(...entries);
  }

  // Layout in the next frame: changing the header inside a ResizeObserver callback would
  // notify it again in the same frame.
  let frame = 0;
  const schedule = (): void => {
    if (!frame) {
      frame = requestAnimationFrame(() => {
        frame = 0;
        layout();
      });
    }
  };
  const sizes = new ResizeObserver(schedule);
  sizes.observe(bar);
  for (const child of bar.children) if (child !== more && child !== actions) sizes.observe(child);
  // Shown or hidden (Share follows the role) and labels changing.
  new MutationObserver(schedule).observe(actions, {
    attributes: true,
    attributeFilter: ["hidden"],
    childList: true,
    subtree: true,
    characterData: true,
  });
  layout();
  return { layout };
}

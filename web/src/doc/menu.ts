// A drop-down menu: a button that opens a [role=menu] list; outside clicks, Escape and arrows.

export interface Menu {
  setOpen(open: boolean): void;
  readonly isOpen: boolean;
}

/** `onOpen`: fills or refreshes the list right before it shows. */
export function mountMenu(button: HTMLButtonElement, list: HTMLElement, onOpen?: () => void): Menu {
  const items = (): HTMLElement[] => [...list.querySelectorAll<HTMLElement>("[role=menuitem]")];

  function setOpen(open: boolean): void {
    if (open) onOpen?.();
    list.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    if (open) items()[0]?.focus();
  }

  button.addEventListener("click", () => setOpen(list.hidden));
  // Choosing an item closes the menu (the item's own handler runs first).
  list.addEventListener("click", (e) => {
    if ((e.target as Element).closest("[role=menuitem]")) setOpen(false);
  });
  document.addEventListener("click", (e) => {
    const target = e.target as Node;
    if (!list.hidden && !list.contains(target) && !button.contains(target)) setOpen(false);
  });
  list.addEventListener("keydown", (e) => {
    const all = items();
    const i = all.indexOf(document.activeElement as HTMLElement);
    if (e.key === "Escape") {
      setOpen(false);
      button.focus();
    } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      const step = e.key === "ArrowDown" ? 1 : -1;
      all[(i + step + all.length) % all.length]?.focus();
    }
  });

  return {
    setOpen,
    get isOpen() {
      return !list.hidden;
    },
  };
}

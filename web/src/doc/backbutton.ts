// The browser's Back button closes an overlay (a version preview) instead of leaving the page.

/**
 * Returns `shown(open)`, to be called as the overlay opens and closes. While it is open, one
 * history entry of ours sits on top: Back pops it and `close` runs. Closed another way, the
 * entry is popped so that Back then leaves the page as usual.
 */
export function closeOnBack(close: () => void): (open: boolean) => void {
  let pushed = false;
  window.addEventListener("popstate", () => {
    if (!pushed) return;
    pushed = false;
    close();
  });
  return (open) => {
    if (open && !pushed) {
      window.history.pushState({ coeditOverlay: true }, "");
      pushed = true;
    } else if (!open && pushed) {
      pushed = false;
      window.history.back();
    }
  };
}

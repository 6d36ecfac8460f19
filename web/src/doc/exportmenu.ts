// The Export menu: download links (with the page's credentials) and its keyboard handling.

import { type Credentials, docPath, withCredentials } from "../api";
import { byId } from "../dom";

export function mountExportMenu(docName: string, creds: Credentials): void {
  const exportButton = byId<HTMLButtonElement>("export-button");
  const exportMenu = byId("export-menu");
  for (const a of exportMenu.querySelectorAll<HTMLAnchorElement>("a[data-format]")) {
    a.href = withCredentials(`${docPath(docName)}/export?format=${a.dataset.format}`, creds);
    a.addEventListener("click", () => setMenu(false));
  }

  function setMenu(open: boolean): void {
    exportMenu.hidden = !open;
    exportButton.setAttribute("aria-expanded", String(open));
    if (open) exportMenu.querySelector<HTMLElement>("a")?.focus();
  }

  exportButton.addEventListener("click", () => setMenu(exportMenu.hidden));
  document.addEventListener("click", (e) => {
    if (!exportMenu.hidden && !exportMenu.parentElement?.contains(e.target as Node)) setMenu(false);
  });
  exportMenu.addEventListener("keydown", (e) => {
    const items = [...exportMenu.querySelectorAll<HTMLElement>("a")];
    const i = items.indexOf(document.activeElement as HTMLElement);
    if (e.key === "Escape") {
      setMenu(false);
      exportButton.focus();
    } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      const step = e.key === "ArrowDown" ? 1 : -1;
      items[(i + step + items.length) % items.length]?.focus();
    }
  });
}

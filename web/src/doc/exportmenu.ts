// The Export menu: download links with the page's credentials.

import { type Credentials, docPath, withCredentials } from "../api";
import { byId } from "../dom";
import { mountMenu } from "./menu";

export function mountExportMenu(docName: string, creds: Credentials): void {
  const exportMenu = byId("export-menu");
  for (const a of exportMenu.querySelectorAll<HTMLAnchorElement>("a[data-format]")) {
    a.href = withCredentials(`${docPath(docName)}/export?format=${a.dataset.format}`, creds);
  }
  mountMenu(byId<HTMLButtonElement>("export-button"), exportMenu);
}

// The share dialog (document owners, accounts mode): links that let anyone
// view or edit without signing in, and people the document is shared with.

import { api, ApiError, type Credentials, docPath, relativeTime } from "../api";
import { byId } from "../dom";

type ShareRole = "viewer" | "commenter" | "editor";

interface ShareLink {
  id: number;
  role: ShareRole;
  token: string;
  created_at?: number;
}

interface Shares {
  users: Array<{ username: string; role: ShareRole }>;
  links: ShareLink[];
}

const LINK_LABELS: Record<ShareRole, string> = {
  viewer: "Anyone with this link can view",
  commenter: "Anyone with this link can comment",
  editor: "Anyone with this link can edit",
};
const USER_ROLES: Record<ShareRole, string> = { editor: "Can edit", commenter: "Can comment", viewer: "Can view" };

function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.network ? "the server can't be reached" : err.message;
  return err instanceof Error ? err.message : String(err);
}

export function shareUrl(docName: string, token: string): string {
  return `${location.origin}/d/${encodeURIComponent(docName)}?share=${encodeURIComponent(token)}`;
}

async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false; // no clipboard access (insecure origin, permission): the link is shown instead
  }
}

export class ShareDialog {
  private readonly dialog = byId<HTMLDialogElement>("share-dialog");
  private readonly links = byId<HTMLUListElement>("share-links");
  private readonly users = byId<HTMLUListElement>("share-users");
  private readonly status = byId("share-status");
  private readonly addForm = byId<HTMLFormElement>("share-add");
  private readonly username = byId<HTMLInputElement>("share-username");
  private readonly role = byId<HTMLSelectElement>("share-role");

  constructor(
    private readonly docName: string,
    private readonly creds: Credentials,
  ) {
    byId("copy-view-link").addEventListener("click", () => void this.copyLink("viewer"));
    byId("copy-edit-link").addEventListener("click", () => void this.copyLink("editor"));
    byId("copy-comment-link").addEventListener("click", () => void this.copyLink("commenter"));
    this.addForm.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.addUser();
    });
    // A click on the backdrop (outside the dialog box) closes it.
    this.dialog.addEventListener("click", (e) => {
      if (e.target === this.dialog) this.dialog.close();
    });
  }

  open(): void {
    this.say("");
    if (!this.dialog.open) this.dialog.showModal();
    void this.load();
  }

  close(): void {
    if (this.dialog.open) this.dialog.close();
  }

  private path(suffix: string): string {
    return `${docPath(this.docName)}${suffix}`;
  }

  private say(text: string, error = false): void {
    this.status.textContent = text;
    this.status.classList.toggle("error", error);
  }

  private async load(): Promise<void> {
    try {
      const shares = await api<Shares>(this.path("/shares"), { creds: this.creds });
      this.render(shares);
    } catch (err) {
      this.say(`Couldn't load who has access: ${errorText(err)}`, true);
    }
  }

  private render(shares: Shares): void {
    this.links.replaceChildren(...shares.links.map((link) => this.renderLink(link)));
    this.users.replaceChildren(...shares.users.map((u) => this.renderUser(u.username, u.role)));
    if (shares.users.length === 0) {
      const li = document.createElement("li");
      li.className = "muted empty";
      li.textContent = "Not shared with anyone yet.";
      this.users.append(li);
    }
  }

  private renderLink(link: ShareLink): HTMLLIElement {
    const li = document.createElement("li");
    li.dataset.id = String(link.id);
    li.dataset.role = link.role;
    const label = document.createElement("span");
    label.className = "share-who";
    label.textContent = LINK_LABELS[link.role] ?? link.role;
    if (link.created_at) {
      const when = document.createElement("span");
      when.className = "muted small";
      when.textContent = ` · made ${relativeTime(link.created_at)}`;
      label.append(when);
    }
    const url = document.createElement("input");
    url.type = "text";
    url.readOnly = true;
    url.className = "share-url";
    url.value = shareUrl(this.docName, link.token);
    url.setAttribute("aria-label", `${LINK_LABELS[link.role]}: address`);
    url.addEventListener("focus", () => url.select());
    const revoke = document.createElement("button");
    revoke.type = "button";
    revoke.textContent = "Revoke";
    revoke.addEventListener("click", () => void this.revoke(link));
    li.append(label, url, revoke);
    return li;
  }

  private renderUser(username: string, role: ShareRole): HTMLLIElement {
    const li = document.createElement("li");
    li.dataset.username = username;
    li.dataset.role = role;
    const name = document.createElement("span");
    name.className = "share-who";
    name.textContent = username;
    const select = document.createElement("select");
    select.setAttribute("aria-label", `Role of ${username}`);
    for (const r of ["editor", "commenter", "viewer"] as const) {
      const option = new Option(USER_ROLES[r], r, false, r === role);
      select.append(option);
    }
    select.addEventListener("change", () => void this.setUser(username, select.value as ShareRole));
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "Remove";
    remove.setAttribute("aria-label", `Remove ${username}`);
    remove.addEventListener("click", () => void this.removeUser(username));
    li.append(name, select, remove);
    return li;
  }

  private async copyLink(role: ShareRole): Promise<void> {
    try {
      const link = await api<ShareLink>(this.path("/links"), { method: "POST", body: { role }, creds: this.creds });
      const url = shareUrl(this.docName, link.token);
      const copied = await copyText(url);
      await this.load();
      const what = { viewer: "View link", commenter: "Comment link", editor: "Edit link" }[role];
      this.say(copied ? `${what} copied.` : `${what} ready: copy it from the list above.`);
      const input = this.links.querySelector<HTMLInputElement>(`li[data-id="${link.id}"] input`);
      if (!copied) input?.focus();
    } catch (err) {
      this.say(`Couldn't make the link: ${errorText(err)}`, true);
    }
  }

  private async revoke(link: ShareLink): Promise<void> {
    try {
      await api(this.path(`/links/${link.id}`), { method: "DELETE", creds: this.creds });
      this.say("Link revoked: it no longer opens the document.");
      await this.load();
    } catch (err) {
      this.say(`Couldn't revoke the link: ${errorText(err)}`, true);
    }
  }

  private async addUser(): Promise<void> {
    const username = this.username.value.trim();
    if (!username) return;
    if (await this.setUser(username, this.role.value as ShareRole)) this.username.value = "";
  }

  private async setUser(username: string, role: ShareRole): Promise<boolean> {
    try {
      await api(this.path(`/shares/${encodeURIComponent(username)}`), { method: "PUT", body: { role }, creds: this.creds });
      this.say(`${username}: ${USER_ROLES[role].toLowerCase()}.`);
      await this.load();
      return true;
    } catch (err) {
      const text = err instanceof ApiError && err.status === 404 ? `There is no user named “${username}”.` : `Couldn't share: ${errorText(err)}`;
      this.say(text, true);
      return false;
    }
  }

  private async removeUser(username: string): Promise<void> {
    try {
      await api(this.path(`/shares/${encodeURIComponent(username)}`), { method: "DELETE", creds: this.creds });
      this.say(`${username} no longer has access.`);
      await this.load();
    } catch (err) {
      this.say(`Couldn't remove ${username}: ${errorText(err)}`, true);
    }
  }
}

// The version history panel: lists versions (newest first), saves named ones,
// previews one read-only with its differences from the current document, and
// restores it (with an undo that puts back the text from before).
//
// A restore is a normal live change made by the server: the editor updates by
// itself, like it does for any collaborator's edit. It is one entry in the list,
// named after what it restored; undoing it marks that entry instead of adding one.

import { api, ApiError, type Credentials, docPath } from "../api";
import { byId } from "../dom";
import { imageAddress } from "./images";
import { createPreview, type DiffSegment, type PreviewHandle } from "../editor/preview";

interface Version {
  id: number;
  created_at: number;
  kind: "auto" | "named" | "restore-backup" | string;
  label: string | null;
  authors: string[];
  size: number;
  /** Set on a restore entry: what it restored, as it was then. */
  restored: { id: number; label: string | null; created_at: number; backup: number } | null;
  undone_at: number | null;
}

interface VersionPage {
  versions: Version[];
  next: string | null;
}

interface VersionContent {
  version: Version;
  content: unknown;
}

interface VersionDiff {
  target_text: string;
  segments: DiffSegment[];
}

interface RestoreAnswer {
  changed: boolean;
  backup: Version | null;
  version: Version | null;
}

export interface HistoryOptions {
  docName: string;
  creds: Credentials;
  /** Whether this person may save and restore versions (editors and owners). */
  canEdit: () => boolean;
  /** The live document is hidden while a version is previewed, and shown again after. */
  onPreview: (previewing: boolean) => void;
}

const KIND_BADGES: Record<string, string> = {
  named: "Named",
  auto: "Auto",
  "restore-backup": "Before restore",
};

function badgeText(v: Version): string {
  if (v.restored) return v.undone_at === null ? "Restore" : "Undone";
  return KIND_BADGES[v.kind] ?? v.kind;
}

const TIME = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });
const WHEN = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const WHEN_SECONDS = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

/** A time alone when it is today, else with its date. */
function moment(seconds: number): string {
  const date = new Date(seconds * 1000);
  const today = date.toDateString() === new Date().toDateString();
  return (today ? TIME : WHEN).format(date);
}

function versionTitle(v: Version): string {
  if (v.restored) {
    const at = moment(v.restored.created_at);
    return v.restored.label ? `Restored “${v.restored.label}” (${at})` : `Restored the version of ${at}`;
  }
  if (v.label) return v.label;
  if (v.kind === "named") return "Named version";
  if (v.kind === "restore-backup") return "Before a restore";
  return "Automatic version";
}

function minute(v: Version): number {
  return Math.floor(v.created_at / 60);
}

/** When it was saved; to the second if a neighbour in the list shares its minute. */
function when(v: Version, close = false): string {
  return (close ? WHEN_SECONDS : WHEN).format(new Date(v.created_at * 1000));
}

function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.network ? "The server can't be reached." : err.message;
  return err instanceof Error ? err.message : String(err);
}

export class HistoryPanel {
  private readonly panel = byId("history-panel");
  private readonly list = byId<HTMLOListElement>("versions");
  private readonly status = byId("history-status");
  private readonly more = byId<HTMLButtonElement>("more-versions");
  private readonly saveButton = byId<HTMLButtonElement>("save-version");
  private readonly saveForm = byId<HTMLFormElement>("save-version-form");
  private readonly labelInput = byId<HTMLInputElement>("version-label");
  private readonly notice = byId("history-notice");
  private readonly preview = byId("preview");
  private readonly previewDoc = byId("preview-doc");
  private readonly previewName = byId("preview-name");
  private readonly previewWhen = byId("preview-when");
  private readonly previewLegend = byId("preview-legend");
  private readonly restoreButton = byId<HTMLButtonElement>("restore-version");
  private readonly toggleButton = byId<HTMLButtonElement>("history-button");
  /** Shown instead of Restore while previewing a restore that can still be undone. */
  private readonly undoButton = document.createElement("button");

  private versions: Version[] = [];
  private next: string | null = null;
  private selected: Version | null = null;
  private previewHandle: PreviewHandle | null = null;
  /** Bumped on every selection: answers for an older selection are dropped. */
  private selection = 0;
  private loading = 0;

  constructor(private readonly opts: HistoryOptions) {
    this.toggleButton.addEventListener("click", () => (this.isOpen ? this.close() : this.open()));
    byId("history-close").addEventListener("click", () => this.close());
    this.more.addEventListener("click", () => void this.load(this.next));
    this.saveButton.addEventListener("click", () => this.openSaveForm());
    byId("save-version-cancel").addEventListener("click", () => this.closeSaveForm());
    this.saveForm.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.save();
    });
    this.labelInput.addEventListener("keydown", (e) => {
      if (e.key === "Escape") this.closeSaveForm();
    });
    this.restoreButton.addEventListener("click", () => void this.restoreSelected());
    this.undoButton.type = "button";
    this.undoButton.id = "undo-restore";
    this.undoButton.textContent = "Undo this restore";
    this.undoButton.hidden = true;
    this.restoreButton.after(this.undoButton);
    this.undoButton.addEventListener("click", () => {
      const v = this.selected;
      if (!v?.restored) return;
      this.closePreview();
      void this.undo(this.path(`/${v.id}/undo`));
    });
    byId("preview-close").addEventListener("click", () => this.closePreview());
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && this.selected && !this.saveForm.contains(document.activeElement)) {
        this.closePreview();
      }
    });
    this.renderPermissions();
  }

  get isOpen(): boolean {
    return !this.panel.hidden;
  }

  open(): void {
    this.panel.hidden = false;
    document.body.classList.add("panel-open");
    this.toggleButton.setAttribute("aria-expanded", "true");
    this.renderPermissions();
    void this.load(null);
  }

  close(): void {
    this.closePreview();
    this.closeSaveForm();
    this.panel.hidden = true;
    document.body.classList.remove("panel-open");
    this.toggleButton.setAttribute("aria-expanded", "false");
  }

  /** The person's role changed: show or hide the editing actions. */
  renderPermissions(): void {
    const canEdit = this.opts.canEdit();
    this.saveButton.hidden = !canEdit;
    // Only the latest restore not undone yet can be undone (the server says so too).
    const latest = this.versions.find((v) => v.restored && v.undone_at === null);
    const undoable = this.selected !== null && this.selected.id === latest?.id;
    this.restoreButton.hidden = !canEdit || undoable;
    this.undoButton.hidden = !canEdit || !undoable;
    if (!canEdit) this.closeSaveForm();
  }

  private path(suffix: string): string {
    return `${docPath(this.opts.docName)}/versions${suffix}`;
  }

  // ------------------------------------------------------------ the list

  private async load(before: string | null): Promise<void> {
    const ticket = ++this.loading;
    this.more.disabled = true;
    if (before === null && this.versions.length === 0) this.showStatus("Loading…");
    const query = new URLSearchParams({ limit: "50" });
    if (before) query.set("before", before);
    try {
      const page = await api<VersionPage>(this.path(`?${query}`), { creds: this.opts.creds });
      if (ticket !== this.loading) return;
      this.versions = before === null ? page.versions : [...this.versions, ...page.versions];
      this.next = page.next;
      this.renderList();
    } catch (err) {
      if (ticket !== this.loading) return;
      this.showStatus(`Couldn't load the versions: ${errorText(err)}`, true);
    } finally {
      this.more.disabled = false;
    }
  }

  private showStatus(text: string, error = false): void {
    this.status.textContent = text;
    this.status.classList.toggle("error", error);
    this.status.hidden = false;
  }

  private renderList(): void {
    this.more.hidden = this.next === null;
    if (this.versions.length === 0) {
      this.showStatus("No versions yet. Versions are saved automatically while people edit, "
        + "or save one yourself.");
    } else {
      this.status.hidden = true;
    }
    const vs = this.versions;
    const close = (i: number): boolean =>
      (i > 0 && minute(vs[i - 1]) === minute(vs[i])) || (i + 1 < vs.length && minute(vs[i + 1]) === minute(vs[i]));
    this.list.replaceChildren(...vs.map((v, i) => this.renderVersion(v, close(i))));
  }

  private renderVersion(v: Version, close: boolean): HTMLLIElement {
    const li = document.createElement("li");
    li.dataset.id = String(v.id);
    li.dataset.kind = v.restored ? "restore" : v.kind;
    if (v.undone_at !== null) li.dataset.undone = "true";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "version";
    if (this.selected?.id === v.id) button.setAttribute("aria-current", "true");
    const top = document.createElement("span");
    top.className = "version-top";
    const title = document.createElement("span");
    title.className = "version-label";
    title.textContent = versionTitle(v);
    const badge = document.createElement("span");
    badge.className = `badge kind-${li.dataset.kind}`;
    badge.textContent = badgeText(v);
    top.append(title, badge);
    const meta = document.createElement("span");
    meta.className = "version-meta";
    const time = document.createElement("time");
    time.dateTime = new Date(v.created_at * 1000).toISOString();
    time.textContent = when(v, close);
    meta.append(time);
    if (v.undone_at !== null) {
      const undone = document.createElement("span");
      undone.className = "version-undone";
      undone.textContent = ` · undone ${moment(v.undone_at)}`;
      meta.append(undone);
    }
    if (v.authors.length > 0) {
      const authors = document.createElement("span");
      authors.className = "version-authors";
      authors.textContent = ` · ${v.authors.join(", ")}`;
      meta.append(authors);
    }
    button.append(top, meta);
    button.addEventListener("click", () => void this.select(v));
    li.append(button);
    return li;
  }

  // ------------------------------------------------------------ saving

  private openSaveForm(): void {
    this.saveForm.hidden = false;
    this.saveButton.hidden = true;
    this.labelInput.value = "";
    this.labelInput.focus();
  }

  private closeSaveForm(): void {
    this.saveForm.hidden = true;
    this.saveButton.hidden = !this.opts.canEdit();
  }

  private async save(): Promise<void> {
    const label = this.labelInput.value.trim();
    if (!label) {
      this.labelInput.focus();
      return;
    }
    const submit = this.saveForm.querySelector<HTMLButtonElement>("button[type=submit]");
    if (submit) submit.disabled = true;
    try {
      await api<Version>(this.path(""), { method: "POST", body: { label }, creds: this.opts.creds });
      this.closeSaveForm();
      this.say(`Saved version “${label}”.`);
      await this.load(null);
    } catch (err) {
      this.say(`Couldn't save the version: ${errorText(err)}`, { error: true });
    } finally {
      if (submit) submit.disabled = false;
    }
  }

  // ------------------------------------------------------------ notices

  private say(text: string, opts: { error?: boolean; action?: { label: string; run: () => void } } = {}): void {
    const span = document.createElement("span");
    span.textContent = text;
    const parts: Node[] = [span];
    if (opts.action) {
      const action = opts.action;
      const b = document.createElement("button");
      b.type = "button";
      b.className = "link-button";
      b.textContent = action.label;
      b.addEventListener("click", () => action.run(), { once: true });
      parts.push(document.createTextNode(" "), b);
    }
    this.notice.replaceChildren(...parts);
    this.notice.classList.toggle("error", Boolean(opts.error));
    this.notice.hidden = false;
  }

  // ------------------------------------------------------------ preview

  private async select(v: Version): Promise<void> {
    const ticket = ++this.selection;
    this.selected = v;
    for (const b of this.list.querySelectorAll("button.version")) {
      const li = b.closest("li");
      if (li?.dataset.id === String(v.id)) b.setAttribute("aria-current", "true");
      else b.removeAttribute("aria-current");
    }
    this.previewName.textContent = versionTitle(v);
    this.previewWhen.textContent = when(v, true);
    this.renderPermissions();
    this.previewLegend.textContent = "Loading…";
    this.previewLegend.classList.remove("error");
    this.destroyPreview();
    this.preview.hidden = false;
    this.preview.dataset.version = String(v.id);
    this.preview.dataset.ready = "false";
    this.opts.onPreview(true);
    try {
      const [content, diff] = await Promise.all([
        api<VersionContent>(this.path(`/${v.id}?format=json`), { creds: this.opts.creds }),
        api<VersionDiff>(this.path(`/${v.id}/diff?against=current`), { creds: this.opts.creds }),
      ]);
      if (ticket !== this.selection) return;
      this.renderPreview(content.content, diff);
    } catch (err) {
      if (ticket !== this.selection) return;
      this.previewLegend.textContent = `Couldn't load this version: ${errorText(err)}`;
      this.previewLegend.classList.add("error");
    }
  }

  private renderPreview(content: unknown, diff: VersionDiff): void {
    const changed = diff.segments.some((s) => s.op !== "equal");
    let handle: PreviewHandle | null = null;
    try {
      handle = createPreview({
        element: this.previewDoc,
        content,
        diff: changed ? { segments: diff.segments, targetText: diff.target_text } : undefined,
        imageSrc: imageAddress(this.opts.creds),
      });
    } catch (err) {
      console.warn("coedit: could not render the version as a document", err);
    }
    this.previewHandle = handle;
    if (changed && (handle === null || !handle.highlighted)) {
      // The rich preview and the server's text disagree: show the changes as text instead.
      this.destroyPreview();
      this.previewDoc.append(redline(diff.segments));
    }
    this.previewLegend.replaceChildren(...legend(changed));
    this.preview.dataset.ready = "true";
  }

  private destroyPreview(): void {
    this.previewHandle?.destroy();
    this.previewHandle = null;
    this.previewDoc.replaceChildren();
  }

  closePreview(): void {
    if (!this.selected) return;
    this.selection++;
    this.selected = null;
    this.destroyPreview();
    this.preview.hidden = true;
    delete this.preview.dataset.version;
    for (const b of this.list.querySelectorAll("button.version")) b.removeAttribute("aria-current");
    this.opts.onPreview(false);
  }

  // ------------------------------------------------------------ restoring

  private async restoreSelected(): Promise<void> {
    const v = this.selected;
    if (!v) return;
    this.restoreButton.disabled = true;
    try {
      const answer = await api<RestoreAnswer>(this.path(`/${v.id}/restore`), {
        method: "POST",
        creds: this.opts.creds,
      });
      this.closePreview();
      if (!answer.changed || !answer.backup) {
        this.say("The document already matches this version.");
      } else {
        const undo = answer.version
          ? this.path(`/${answer.version.id}/undo`)
          : this.path(`/${answer.backup.id}/restore`); // the entry could not be recorded
        this.say(`Restored “${versionTitle(v)}”.`, { action: { label: "Undo", run: () => void this.undo(undo) } });
      }
      await this.load(null);
    } catch (err) {
      this.say(`Couldn't restore: ${errorText(err)}`, { error: true });
    } finally {
      this.restoreButton.disabled = false;
    }
  }

  private async undo(path: string): Promise<void> {
    try {
      await api<unknown>(path, { method: "POST", creds: this.opts.creds });
      this.say("Restore undone.");
      await this.load(null);
    } catch (err) {
      this.say(`Couldn't undo the restore: ${errorText(err)}`, { error: true });
    }
  }
}

function legend(changed: boolean): Node[] {
  if (!changed) return [document.createTextNode("Same text as the current document.")];
  const ins = document.createElement("span");
  ins.className = "diff-ins";
  ins.textContent = "Highlighted";
  const del = document.createElement("del");
  del.className = "diff-del";
  del.textContent = "struck through";
  return [
    ins,
    document.createTextNode(": only in this version. "),
    del,
    document.createTextNode(": in the current document, not in this version."),
  ];
}

/** The changes as text: a fallback when they can't be shown inside the rich preview. */
function redline(segments: DiffSegment[]): HTMLElement {
  const box = document.createElement("div");
  box.className = "redline";
  for (const seg of segments) {
    if (seg.op === "equal") {
      box.append(seg.text);
    } else {
      const el = document.createElement(seg.op === "insert" ? "span" : "del");
      el.className = seg.op === "insert" ? "diff-ins" : "diff-del";
      el.textContent = seg.text;
      box.append(el);
    }
  }
  return box;
}

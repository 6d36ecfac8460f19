// The live, collaborative editor behind a small EditorHandle.
//
// editor/ holds the only modules that import the editor library (Tiptap / ProseMirror), so the
// library could be swapped without touching the rest of the app.

import { Editor, getSchema } from "@tiptap/core";
import Collaboration from "@tiptap/extension-collaboration";
import CollaborationCaret from "@tiptap/extension-collaboration-caret";
import { CharacterCount, Placeholder } from "@tiptap/extensions";
import { TextSelection } from "@tiptap/pm/state";
import type { Awareness } from "y-protocols/awareness";
import * as Y from "yjs";
import { OTHER_TAB, type User } from "../identity";
import { safeHref } from "../rules";
import { CaretAfterTyping } from "./caret";
import { type CommentAnchors, commentAnchors } from "./comments";
import { createFind, type FindHandle } from "./find";
import { installRemoteSync, othersOnly } from "./remotesync";
import { imagePastePlugin, insertImageFiles, selectedImageAlt, type UploadImage } from "./images";
import { schemaExtensions } from "./schema";
import { guardSchema } from "./schemaguard";

/** Name of the XmlFragment inside the Y.Doc that holds the rich text. */
export const FRAGMENT_NAME = "default";

export type ActionId =
  | "paragraph" | "heading1" | "heading2" | "heading3"
  | "bold" | "italic" | "underline" | "strike" | "code" | "link"
  | "bulletList" | "orderedList" | "taskList"
  | "blockquote" | "codeBlock" | "horizontalRule" | "table" | "image" | "imageAlt"
  | "addRowAfter" | "addColumnAfter" | "deleteRow" | "deleteColumn" | "toggleHeaderRow" | "deleteTable"
  | "undo" | "redo";

export interface ActionInfo {
  id: ActionId;
  label: string;
  /** Short text shown on the button. */
  icon: string;
  /** Human readable shortcut ("Mod" is rendered as Ctrl or ⌘). */
  shortcut?: string;
  group: "history" | "block" | "inline" | "list" | "insert" | "table" | "image";
  /** Shown only while the caret is in a table, or an image is selected. */
  context?: "table" | "image";
}

export const ACTIONS: readonly ActionInfo[] = [
  { id: "undo", label: "Undo", icon: "↶", shortcut: "Mod+Z", group: "history" },
  { id: "redo", label: "Redo", icon: "↷", shortcut: "Mod+Shift+Z", group: "history" },
  { id: "paragraph", label: "Normal text", icon: "¶", shortcut: "Mod+Alt+0", group: "block" },
  { id: "heading1", label: "Heading 1", icon: "H1", shortcut: "Mod+Alt+1", group: "block" },
  { id: "heading2", label: "Heading 2", icon: "H2", shortcut: "Mod+Alt+2", group: "block" },
  { id: "heading3", label: "Heading 3", icon: "H3", shortcut: "Mod+Alt+3", group: "block" },
  { id: "bold", label: "Bold", icon: "B", shortcut: "Mod+B", group: "inline" },
  { id: "italic", label: "Italic", icon: "I", shortcut: "Mod+I", group: "inline" },
  { id: "underline", label: "Underline", icon: "U", shortcut: "Mod+U", group: "inline" },
  { id: "strike", label: "Strikethrough", icon: "S", shortcut: "Mod+Shift+S", group: "inline" },
  { id: "code", label: "Inline code", icon: "</>", shortcut: "Mod+E", group: "inline" },
  { id: "link", label: "Link", icon: "Link", shortcut: "Mod+K", group: "inline" },
  { id: "bulletList", label: "Bullet list", icon: "•", shortcut: "Mod+Shift+8", group: "list" },
  { id: "orderedList", label: "Numbered list", icon: "1.", shortcut: "Mod+Shift+7", group: "list" },
  { id: "taskList", label: "Task list", icon: "☑", shortcut: "Mod+Shift+9", group: "list" },
  { id: "blockquote", label: "Quote", icon: "❝", shortcut: "Mod+Shift+B", group: "insert" },
  { id: "codeBlock", label: "Code block", icon: "{ }", shortcut: "Mod+Alt+C", group: "insert" },
  { id: "horizontalRule", label: "Horizontal rule", icon: "―", group: "insert" },
  { id: "table", label: "Insert table", icon: "▦", group: "insert" },
  { id: "image", label: "Insert image", icon: "🖼", group: "insert" },
  { id: "addRowAfter", label: "Add row below", icon: "+Row", group: "table", context: "table" },
  { id: "addColumnAfter", label: "Add column right", icon: "+Col", group: "table", context: "table" },
  { id: "deleteRow", label: "Delete row", icon: "−Row", group: "table", context: "table" },
  { id: "deleteColumn", label: "Delete column", icon: "−Col", group: "table", context: "table" },
  { id: "toggleHeaderRow", label: "Header row", icon: "Hdr", group: "table", context: "table" },
  { id: "deleteTable", label: "Delete table", icon: "✕▦", group: "table", context: "table" },
  { id: "imageAlt", label: "Image description (alt text)", icon: "Alt", group: "image", context: "image" },
];

export interface EditorOptions {
  element: HTMLElement;
  ydoc: Y.Doc;
  /** Anything with an `awareness` (the y-websocket provider). */
  provider: { awareness: Awareness };
  user: User;
  /** False for viewers: the text can be read and selected, not changed. */
  editable?: boolean;
  /** Called (at most once per animation frame) when selection or content changed. */
  onStateChange?: () => void;
  /**
   * The shared document holds content this editor's schema can't represent
   * (e.g. written by a newer version). Editing is stopped so nothing is lost.
   */
  onContentError?: (error: Error) => void;
  /** Uploads a pasted, dropped or picked image; without it images can't be added. */
  uploadImage?: UploadImage;
  /** An image could not be uploaded. */
  onUploadError?: (error: unknown) => void;
  /** The address an image is shown from (see schemaExtensions). */
  imageSrc?: (src: string) => string;
}

/** A heading of the document, for the outline. */
export interface Heading {
  level: number;
  text: string;
  /** Where it starts in the document (for `goTo`). */
  pos: number;
}

/** Words and characters of the document, and of the selection when there is one. */
export interface Counts {
  words: number;
  characters: number;
  /** Null without a selection. */
  selected: { words: number; characters: number } | null;
}

export interface EditorHandle {
  run(id: ActionId): boolean;
  isActive(id: ActionId): boolean;
  canRun(id: ActionId): boolean;
  /** Current link href at the selection, if any. */
  currentLink(): string | null;
  setLink(href: string | null): void;
  /** A rows × columns table at the caret, its first row a header row if `header`. */
  insertTable(rows: number, cols: number, header: boolean): boolean;
  /** Whether the caret is inside a table. */
  inTable(): boolean;
  /** Uploads the files and inserts them as images at the caret. */
  insertImages(files: File[]): Promise<void>;
  /** The selected image's alt text ("" if none), or null when no image is selected. */
  imageAlt(): string | null;
  setImageAlt(alt: string): void;
  setUser(user: User): void;
  setEditable(editable: boolean): void;
  focus(): void;
  destroy(): void;
  /** The document's headings, in order. */
  headings(): Heading[];
  /** Put the caret at the start of the block at `pos`, and scroll it into view. */
  goTo(pos: number): void;
  counts(): Counts;
  /** Find and replace (matches highlighted for this person only). */
  readonly find: FindHandle;
  /** The editable DOM element (`.ProseMirror`). */
  readonly dom: HTMLElement;
  /** Comment anchors and their highlights. */
  readonly comments: CommentAnchors;
}

/**
 * A remote caret: a coloured bar with the person's name, or "You (other tab)" for a tab of this
 * browser (`ownBrowser`). The server stamps the role into presence; someone who can only view
 * is marked "viewing".
 */
function renderCaret(user: Record<string, unknown>, ownBrowser: string | undefined): HTMLElement {
  const color = typeof user.color === "string" && /^#[0-9a-fA-F]{6}$/.test(user.color) ? user.color : "#868e96";
  const caret = document.createElement("span");
  caret.className = "collaboration-carets__caret";
  caret.style.borderColor = color;
  const label = document.createElement("div");
  label.className = "collaboration-carets__label";
  label.style.backgroundColor = color;
  const ownTab = ownBrowser !== undefined && user.browser === ownBrowser;
  label.textContent = ownTab ? OTHER_TAB : typeof user.name === "string" ? user.name : "Someone";
  if (user.role === "viewer" || user.role === "commenter") {
    const mark = document.createElement("span");
    mark.className = "caret-viewing";
    mark.textContent = user.role === "viewer" ? "viewing" : "commenting";
    label.append(" ", mark);
  }
  caret.append(label);
  return caret;
}

/**
 * The link target for what someone typed in the link form, or null to remove
 * the link: an address without a scheme ("example.com/a") is taken for a web
 * address; whatever the server would refuse (javascript:, data:, …) is refused.
 */
function linkFromInput(raw: string): string | null {
  const href = raw.trim();
  if (!href) return null;
  return safeHref(/^([a-z][a-z0-9+.-]*:|\/|#)/i.test(href) ? href : `https://${href}`);
}

export function createEditor(opts: EditorOptions): EditorHandle {
  installRemoteSync();
  // Listeners (the toolbar's pressed states, ...) run once per frame, after it is painted:
  // in the frame itself they would delay showing the key just typed.
  let frame = 0;
  const notify = (): void => {
    if (!opts.onStateChange || frame) return;
    frame = requestAnimationFrame(() => {
      setTimeout(() => {
        frame = 0;
        opts.onStateChange?.();
      }, 0);
    });
  };

  // Content written by a newer editor (a node type this schema lacks) must never reach the
  // binding: it would delete it for everyone. Already there: bind to an empty stand-in document.
  // Arriving later: unbind, synchronously, before the binding sees it (schemaguard.ts).
  const fragment = opts.ydoc.getXmlFragment(FRAGMENT_NAME);
  const known = new Set(Object.keys(getSchema(schemaExtensions({ autolink: false })).nodes));
  let bound: Editor | null = null;
  let unknownAtStart = false;
  let detached = false;
  const stopGuard = guardSchema(fragment, known, (name) => {
    try {
      if (bound === null) unknownAtStart = true;
      else {
        detached = true;
        // y-sync first: it is the one that would delete the node.
        for (const key of ["y-sync", "y-undo", "yjs-cursor"]) bound.unregisterPlugin(key);
        bound.setEditable(false);
      }
    } finally {
      opts.onContentError?.(new Error(`the document holds a "${name}", which this editor does not know`));
    }
  });

  const editor = new Editor({
    element: opts.element,
    extensions: [
      ...schemaExtensions({ autolink: true, imageSrc: opts.imageSrc }),
      Placeholder.configure({ placeholder: "Start writing…" }),
      CaretAfterTyping,
      // Words are what whitespace separates (blocks apart), as a reader counts them.
      CharacterCount.configure({ wordCounter: (text) => text.split(/\s+/).filter(Boolean).length }),
      Collaboration.configure({ document: unknownAtStart ? new Y.Doc() : opts.ydoc, field: FRAGMENT_NAME }),
      CollaborationCaret.configure({
        provider: { awareness: othersOnly(opts.provider.awareness) },
        user: opts.user,
        render: (user) => renderCaret(user, opts.user.browser),
      }),
    ],
    editable: !unknownAtStart && (opts.editable ?? true),
    editorProps: {
      attributes: { spellcheck: "true", "aria-label": "Document text", role: "textbox", "aria-multiline": "true" },
    },
    // Content comes from the Y.Doc only; never seed it (that duplicates on merge).
    enableContentCheck: true,
    onContentError: ({ error, editor: ed }) => {
      // Collaboration already stopped applying remote changes; stop local ones too.
      ed.setEditable(false);
      opts.onContentError?.(error);
    },
    onTransaction: notify,
  });
  const uploadError = (error: unknown): void => {
    console.error("coedit: an image could not be uploaded", error);
    opts.onUploadError?.(error);
  };
  if (opts.uploadImage) editor.registerPlugin(imagePastePlugin(editor, opts.uploadImage, uploadError));
  bound = editor;

  // Tiptap's focus command, when the editor isn't focused, focuses it in the next
  // animation frame and then re-applies the selection it had: keys pressed in
  // between (End right after closing the link form, say) would be undone. So
  // focus synchronously first; chain().focus() is then a no-op.
  const focusNow = (): void => {
    if (!editor.view.hasFocus()) editor.view.focus();
  };
  const chain = () => {
    focusNow();
    return editor.chain().focus();
  };

  const commands: Record<ActionId, () => boolean> = {
    paragraph: () => chain().setParagraph().run(),
    heading1: () => chain().toggleHeading({ level: 1 }).run(),
    heading2: () => chain().toggleHeading({ level: 2 }).run(),
    heading3: () => chain().toggleHeading({ level: 3 }).run(),
    bold: () => chain().toggleBold().run(),
    italic: () => chain().toggleItalic().run(),
    underline: () => chain().toggleUnderline().run(),
    strike: () => chain().toggleStrike().run(),
    code: () => chain().toggleCode().run(),
    link: () => false, // needs an address: handled by setLink()
    bulletList: () => chain().toggleBulletList().run(),
    orderedList: () => chain().toggleOrderedList().run(),
    taskList: () => chain().toggleTaskList().run(),
    blockquote: () => chain().toggleBlockquote().run(),
    codeBlock: () => chain().toggleCodeBlock().run(),
    horizontalRule: () => chain().setHorizontalRule().run(),
    table: () => false, // needs a size: handled by insertTable()
    image: () => false, // needs a file: handled by insertImages()
    imageAlt: () => false, // needs the text: handled by setImageAlt()
    addRowAfter: () => chain().addRowAfter().run(),
    addColumnAfter: () => chain().addColumnAfter().run(),
    deleteRow: () => chain().deleteRow().run(),
    deleteColumn: () => chain().deleteColumn().run(),
    toggleHeaderRow: () => chain().toggleHeaderRow().run(),
    deleteTable: () => chain().deleteTable().run(),
    undo: () => chain().undo().run(),
    redo: () => chain().redo().run(),
  };

  const can: Record<ActionId, () => boolean> = {
    paragraph: () => editor.can().setParagraph(),
    heading1: () => editor.can().toggleHeading({ level: 1 }),
    heading2: () => editor.can().toggleHeading({ level: 2 }),
    heading3: () => editor.can().toggleHeading({ level: 3 }),
    bold: () => editor.can().toggleBold(),
    italic: () => editor.can().toggleItalic(),
    underline: () => editor.can().toggleUnderline(),
    strike: () => editor.can().toggleStrike(),
    code: () => editor.can().toggleCode(),
    link: () => editor.can().setLink({ href: "https://x" }),
    bulletList: () => editor.can().toggleBulletList(),
    orderedList: () => editor.can().toggleOrderedList(),
    taskList: () => editor.can().toggleTaskList(),
    blockquote: () => editor.can().toggleBlockquote(),
    codeBlock: () => editor.can().toggleCodeBlock(),
    horizontalRule: () => editor.can().setHorizontalRule(),
    table: () => editor.can().insertTable({ rows: 2, cols: 2 }),
    image: () => Boolean(opts.uploadImage) && editor.isEditable,
    imageAlt: () => selectedImageAlt(editor) !== null,
    addRowAfter: () => editor.can().addRowAfter(),
    addColumnAfter: () => editor.can().addColumnAfter(),
    deleteRow: () => editor.can().deleteRow(),
    deleteColumn: () => editor.can().deleteColumn(),
    toggleHeaderRow: () => editor.can().toggleHeaderRow(),
    deleteTable: () => editor.can().deleteTable(),
    undo: () => editor.can().undo(),
    redo: () => editor.can().redo(),
  };

  const active: Partial<Record<ActionId, () => boolean>> = {
    paragraph: () => editor.isActive("paragraph") && !editor.isActive("bulletList")
      && !editor.isActive("orderedList") && !editor.isActive("taskList") && !editor.isActive("blockquote"),
    heading1: () => editor.isActive("heading", { level: 1 }),
    heading2: () => editor.isActive("heading", { level: 2 }),
    heading3: () => editor.isActive("heading", { level: 3 }),
    bold: () => editor.isActive("bold"),
    italic: () => editor.isActive("italic"),
    underline: () => editor.isActive("underline"),
    strike: () => editor.isActive("strike"),
    code: () => editor.isActive("code"),
    link: () => editor.isActive("link"),
    bulletList: () => editor.isActive("bulletList"),
    orderedList: () => editor.isActive("orderedList"),
    taskList: () => editor.isActive("taskList"),
    blockquote: () => editor.isActive("blockquote"),
    codeBlock: () => editor.isActive("codeBlock"),
    toggleHeaderRow: () => editor.isActive("tableHeader"),
  };

  const count = editor.storage.characterCount;
  return {
    dom: editor.view.dom,
    comments: commentAnchors(editor, opts.ydoc),
    find: createFind(editor),
    headings: () => {
      const found: Heading[] = [];
      editor.state.doc.descendants((node, pos) => {
        if (node.type.name === "heading") {
          found.push({ level: Number(node.attrs.level) || 1, text: node.textContent, pos });
          return false;
        }
        return !node.isTextblock;
      });
      return found;
    },
    goTo: (pos) => {
      const { doc } = editor.state;
      if (pos < 0 || pos >= doc.content.size) return;
      focusNow();
      const tr = editor.state.tr.setSelection(TextSelection.near(doc.resolve(pos + 1))).scrollIntoView();
      editor.view.dispatch(tr);
      // ProseMirror scrolls the caret just into view; a heading picked from the outline
      // belongs at the top of the screen, as in Google Docs.
      const at = editor.view.domAtPos(pos + 1).node;
      const element = at instanceof HTMLElement ? at : at.parentElement;
      element?.closest("h1, h2, h3, h4, h5, h6")?.scrollIntoView({ block: "start" });
    },
    counts: () => {
      const { doc, selection } = editor.state;
      const whole = { words: count.words(), characters: count.characters() };
      if (selection.empty) return { ...whole, selected: null };
      const part = doc.cut(selection.from, selection.to);
      return { ...whole, selected: { words: count.words({ node: part }), characters: count.characters({ node: part }) } };
    },
    run: (id) => commands[id](),
    isActive: (id) => active[id]?.() ?? false,
    canRun: (id) => {
      try {
        return can[id]();
      } catch {
        return false;
      }
    },
    currentLink: () => {
      const href: unknown = editor.getAttributes("link").href;
      return typeof href === "string" ? href : null;
    },
    setLink: (raw) => {
      const href = raw === null ? null : linkFromInput(raw);
      if (href === null) {
        chain().extendMarkRange("link").unsetLink().run();
        return;
      }
      if (editor.state.selection.empty && !editor.isActive("link")) {
        // Nothing selected: insert the address itself as a link.
        chain().insertContent({ type: "text", text: href, marks: [{ type: "link", attrs: { href } }] }).run();
      } else {
        // Link the selection (or the whole link the caret is in), then put the
        // caret after it so typing carries on from there.
        chain()
          .extendMarkRange("link")
          .setLink({ href })
          .command(({ tr }) => {
            tr.setSelection(TextSelection.create(tr.doc, tr.selection.to));
            return true;
          })
          .run();
      }
    },
    insertTable: (rows, cols, header) => chain().insertTable({ rows, cols, withHeaderRow: header }).run(),
    inTable: () => editor.isActive("table"),
    insertImages: async (files) => {
      if (opts.uploadImage) await insertImageFiles(editor, files, opts.uploadImage, uploadError);
    },
    imageAlt: () => selectedImageAlt(editor),
    setImageAlt: (alt) => {
      chain().updateAttributes("image", { alt: alt.trim() || null }).run();
    },
    setUser: (user) => {
      editor.commands.updateUser({ ...user });
    },
    setEditable: (editable) => {
      if (unknownAtStart || detached) return;
      if (editor.isEditable !== editable) editor.setEditable(editable);
    },
    focus: focusNow,
    destroy: () => {
      if (frame) cancelAnimationFrame(frame);
      stopGuard();
      editor.destroy();
    },
  };
}

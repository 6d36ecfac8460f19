// The document schema both the live editor and the version preview build on (the server's
// server/content/schema.py mirrors it): one list, so the two can never disagree.
import type { AnyExtension } from "@tiptap/core";
import { Image } from "@tiptap/extension-image";
import { Link } from "@tiptap/extension-link";
import { TaskItem, TaskList } from "@tiptap/extension-list";
import { Table, TableCell, TableHeader, TableRow } from "@tiptap/extension-table";
import StarterKit from "@tiptap/starter-kit";

export function schemaExtensions(opts: { autolink: boolean }): AnyExtension[] {
  return [
    StarterKit.configure({
      // Collaboration brings its own (Yjs) undo manager: it only undoes
      // changes made by this client, never a collaborator's.
      undoRedo: false,
      // Appending nodes automatically races between clients and can leave
      // duplicate empty paragraphs; the gap cursor covers the use case.
      trailingNode: false,
      heading: { levels: [1, 2, 3] },
      link: false,
    }),
    // Tiptap makes the link mark inclusive when it autolinks, so text typed right after a link
    // joined it; a link ends where it ends (the autolink still marks an address once typed).
    Link.extend({ inclusive: false }).configure(
      opts.autolink
        ? { openOnClick: false, autolink: true, defaultProtocol: "https" }
        : { openOnClick: false, autolink: false },
    ),
    TaskList,
    TaskItem.configure({ nested: true }),
    // Column widths dragged on one screen would not fit another (a phone): tables take the
    // page's width and columns share it.
    Table.configure({ resizable: false, renderWrapper: true }),
    TableRow,
    TableHeader,
    TableCell,
    // Images live on the server (POST /api/docs/{name}/files); a data: URL would put megabytes
    // into the shared document, so the parser refuses them.
    Image.configure({ inline: false, allowBase64: false }),
  ];
}

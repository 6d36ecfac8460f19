// The document schema both the live editor and the version preview build on (the server's
// server/content/schema.py mirrors it): one list, so the two can never disagree.
import type { AnyExtension } from "@tiptap/core";
import { Image } from "@tiptap/extension-image";
import { Link } from "@tiptap/extension-link";
import { TaskItem, TaskList } from "@tiptap/extension-list";
import { Table, TableCell, TableHeader, TableRow } from "@tiptap/extension-table";
import StarterKit from "@tiptap/starter-kit";

/**
 * The version of the node and mark list below. Bump it whenever a node or mark type is added,
 * removed or renamed (tests/test_schema_version.py compares the list with
 * tests/fixtures/editor_schema.json and fails until both are updated). The server's
 * SCHEMA_VERSION (server/content/schema.py) is checked against the same fixture: a page whose
 * version is older is turned away before it syncs (close code 4426) and reloads, because
 * y-prosemirror drops nodes its schema does not know and would write that loss back.
 */
export const SCHEMA_VERSION = 2;

/**
 * `imageSrc`: the address an image is shown from (the page adds a share link's or token's
 * credentials to this server's file addresses: an <img> cannot send headers). The document, and
 * whatever is copied out of it, keeps the plain address.
 */
export function schemaExtensions(opts: { autolink: boolean; imageSrc?: (src: string) => string }): AnyExtension[] {
  const image = Image.configure({ inline: false, allowBase64: false });
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
    opts.imageSrc ? withImageSrc(image, opts.imageSrc) : image,
  ];
}

function withImageSrc(image: typeof Image, imageSrc: (src: string) => string): AnyExtension {
  return image.extend({
    addNodeView() {
      return ({ node }) => {
        const img = document.createElement("img");
        const show = (attrs: Record<string, unknown>): void => {
          for (const name of ["alt", "title", "width", "height"]) {
            const value = attrs[name];
            if (value === null || value === undefined) img.removeAttribute(name);
            else img.setAttribute(name, String(value));
          }
          const src = typeof attrs.src === "string" ? imageSrc(attrs.src) : "";
          if (img.getAttribute("src") !== src) img.setAttribute("src", src);
        };
        show(node.attrs);
        return {
          dom: img,
          update: (updated) => {
            if (updated.type !== node.type) return false;
            show(updated.attrs);
            return true;
          },
        };
      };
    },
  });
}

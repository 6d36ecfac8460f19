// The document schema both the live editor and the version preview build on (the server's
// server/content/schema.py mirrors it): one list, so the two can never disagree.
import type { AnyExtension } from "@tiptap/core";
import { Link } from "@tiptap/extension-link";
import { TaskItem, TaskList } from "@tiptap/extension-list";
import StarterKit from "@tiptap/starter-kit";

/**
 * The version of the node and mark list below. Bump it whenever a node or mark type is added,
 * removed or renamed (tests/test_schema_version.py compares the list with
 * tests/fixtures/editor_schema.json and fails until both are updated). The server's
 * SCHEMA_VERSION (server/content/schema.py) is checked against the same fixture: a page whose
 * version is older is turned away before it syncs (close code 4426) and reloads, because
 * y-prosemirror drops nodes its schema does not know and would write that loss back.
 */
export const SCHEMA_VERSION = 1;

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
  ];
}

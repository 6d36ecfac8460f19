// The document schema both the live editor and the version preview build on (the server's
// server/content/schema.py mirrors it): one list, so the two can never disagree.
import type { AnyExtension } from "@tiptap/core";
import { TaskItem, TaskList } from "@tiptap/extension-list";
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
      link: opts.autolink
        ? { openOnClick: false, autolink: true, defaultProtocol: "https" }
        : { openOnClick: false, autolink: false },
    }),
    TaskList,
    TaskItem.configure({ nested: true }),
  ];
}

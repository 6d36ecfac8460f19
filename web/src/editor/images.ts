// Images pasted, dropped or picked: each file is uploaded to the server first, and only its
// address goes into the document (a data: URL would put the bytes in every copy of it).

import type { Editor } from "@tiptap/core";
import { NodeSelection, Plugin, PluginKey } from "@tiptap/pm/state";
import type { EditorView } from "@tiptap/pm/view";

/** Uploads one image; resolves with its address on the server. */
export type UploadImage = (file: File) => Promise<string>;

const IMAGE_TYPES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);

function imageFiles(list: FileList | null | undefined): File[] {
  return Array.from(list ?? []).filter((f) => IMAGE_TYPES.has(f.type));
}

/** Uploads the files in order and inserts each image at `pos` (or the selection), in order. */
export async function insertImageFiles(
  editor: Editor, files: File[], upload: UploadImage, onError: (error: unknown) => void, pos?: number,
): Promise<void> {
  // A position from before the uploads is kept valid through edits made meanwhile.
  let at = pos ?? editor.state.selection.to;
  for (const file of files) {
    let src: string;
    try {
      src = await upload(file);
    } catch (err) {
      onError(err);
      continue;
    }
    if (editor.isDestroyed || !editor.isEditable) return;
    at = Math.min(at, editor.state.doc.content.size);
    const alt = file.name && !/^image\.\w+$/.test(file.name) ? file.name.replace(/\.\w+$/, "") : null;
    editor.chain().insertContentAt(at, { type: "image", attrs: { src, alt } }).run();
    at = editor.state.selection.to;
  }
}

/** A plugin catching image files in paste and drop events. */
export function imagePastePlugin(editor: Editor, upload: UploadImage, onError: (error: unknown) => void): Plugin {
  return new Plugin({
    key: new PluginKey("imageUpload"),
    props: {
      handlePaste(_view: EditorView, event: ClipboardEvent) {
        const files = imageFiles(event.clipboardData?.files);
        if (files.length === 0) return false;
        // Browsers put an <img> with a local or data: address beside the file: the file wins.
        event.preventDefault();
        void insertImageFiles(editor, files, upload, onError);
        return true;
      },
      handleDrop(view: EditorView, event: DragEvent) {
        const files = imageFiles(event.dataTransfer?.files);
        if (files.length === 0) return false;
        event.preventDefault();
        const pos = view.posAtCoords({ left: event.clientX, top: event.clientY })?.pos;
        void insertImageFiles(editor, files, upload, onError, pos);
        return true;
      },
    },
  });
}

/** The selected image's alt text, or null when no image is selected. */
export function selectedImageAlt(editor: Editor): string | null {
  const { selection } = editor.state;
  if (!(selection instanceof NodeSelection) || selection.node.type.name !== "image") return null;
  const alt: unknown = selection.node.attrs.alt;
  return typeof alt === "string" ? alt : "";
}

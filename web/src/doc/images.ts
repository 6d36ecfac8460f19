// Adding images on the document page: the upload request, the Image button's file picker and
// the alt text form.

import { ApiError, type Credentials, docPath, withCredentials } from "../api";
import { byId } from "../dom";
import type { EditorHandle } from "../editor/editor";

/** POSTs the file as the raw body; resolves with the address the server gives it. */
export async function uploadImage(docName: string, creds: Credentials, file: File): Promise<string> {
  const headers = new Headers({ Accept: "application/json" });
  if (file.type) headers.set("Content-Type", file.type);
  if (creds.token) headers.set("Authorization", `Bearer ${creds.token}`);
  if (creds.share) headers.set("X-Coedit-Share", creds.share);
  let res: Response;
  try {
    res = await fetch(`${docPath(docName)}/files`, {
      method: "POST", headers, body: file, credentials: "same-origin",
    });
  } catch {
    throw new ApiError(0, "the server can't be reached: images need a connection to upload");
  }
  const data = (await res.json().catch(() => null)) as { url?: unknown; error?: unknown } | null;
  if (!res.ok || typeof data?.url !== "string") {
    throw new ApiError(res.status, typeof data?.error === "string" ? data.error : `HTTP ${res.status}`);
  }
  return data.url;
}

/** Where an image is shown from: this server's files with the page's share link or token (an
 * <img> sends no headers), any other address as it is. */
export function imageAddress(creds: Credentials): (src: string) => string {
  return (src) => (src.startsWith("/api/docs/") ? withCredentials(src, creds) : src);
}

export interface ImageControls {
  pick(): void;
  editAlt(): void;
}

export function mountImageControls(editor: EditorHandle, canEdit: () => boolean): ImageControls {
  const input = byId<HTMLInputElement>("image-input");
  const form = byId<HTMLFormElement>("alt-form");
  const altInput = byId<HTMLInputElement>("alt-input");

  input.addEventListener("change", () => {
    const files = Array.from(input.files ?? []);
    input.value = "";
    if (files.length) void editor.insertImages(files);
  });
  function close(): void {
    form.hidden = true;
    editor.focus();
  }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    form.hidden = true;
    editor.setImageAlt(altInput.value);
  });
  byId("alt-cancel").addEventListener("click", close);
  altInput.addEventListener("keydown", (e) => {
    if (e.key === "Escape") close();
  });

  return {
    pick: () => {
      if (canEdit()) input.click();
    },
    editAlt: () => {
      const alt = editor.imageAlt();
      if (!canEdit() || alt === null) return;
      altInput.value = alt;
      form.hidden = false;
      altInput.focus();
      altInput.select();
    },
  };
}

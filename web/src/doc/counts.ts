// Word and character count in the status bar: the document's, and the selection's out of it.

import { byId, setText } from "../dom";
import type { EditorHandle } from "../editor/editor";

const plural = (n: number, one: string): string => `${n.toLocaleString()} ${one}${n === 1 ? "" : "s"}`;

// Counting reads the whole text: during typing, a few times a second is plenty.
const REFRESH_MS = 250;

export function mountCounts(editor: EditorHandle): () => void {
  const words = byId("word-count");
  const chars = byId("char-count");
  let timer = 0;
  const render = (): void => {
    timer = 0;
    const c = editor.counts();
    if (c.selected) {
      setText(words, `${c.selected.words.toLocaleString()} of ${plural(c.words, "word")}`);
      setText(chars, `${c.selected.characters.toLocaleString()} of ${plural(c.characters, "character")}`);
    } else {
      setText(words, plural(c.words, "word"));
      setText(chars, plural(c.characters, "character"));
    }
  };
  render();
  return () => {
    if (!timer) timer = window.setTimeout(render, REFRESH_MS);
  };
}

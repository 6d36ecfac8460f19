// Keeps the caret after what a key typed.
//
// Chrome now and then inserts a letter typed right after Enter (a few ms later, as a fast
// typist's rolled keys arrive) into the new, empty block without moving its own caret past
// it. ProseMirror takes the caret from the DOM, so the rest of the word went in front of its
// first letter ("aragraphP"). Typing never leaves the caret in front of what it typed, so a
// plain insertion at a collapsed caret that reports the caret unmoved gets it put after.

import { Extension } from "@tiptap/core";
import { Plugin, PluginKey, TextSelection } from "@tiptap/pm/state";

export const CaretAfterTyping = Extension.create({
  name: "caretAfterTyping",
  // Last: input rules (Markdown shortcuts) see the text first.
  priority: 1,
  addProseMirrorPlugins() {
    return [
      new Plugin({
        key: new PluginKey("caretAfterTyping"),
        props: {
          handleTextInput(view, from, to, text, deflt) {
            const before = view.state.selection;
            // Composition (IMEs, phone keyboards) moves the caret its own way.
            if (view.composing || text.length === 0 || from !== to) return false;
            if (!before.empty || before.head !== from) return false;
            const tr = deflt();
            if (!tr.selection.empty || tr.selection.head !== from) return false;
            view.dispatch(tr.setSelection(TextSelection.create(tr.doc, from + text.length)));
            return true;
          },
        },
      }),
    ];
  },
});

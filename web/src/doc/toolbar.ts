// The formatting toolbar: one button per editor action, pressed and disabled as the editor says.

import { byId } from "../dom";
import { ACTIONS, type ActionId, type EditorHandle } from "../editor/editor";

const NOT_TOGGLES = new Set<ActionId>(["undo", "redo", "horizontalRule", "table", "image"]);

export interface Toolbar {
  /** After each editor transaction (at most once a frame): keep it cheap on big documents. */
  render(): void;
  setHidden(hidden: boolean): void;
}

/** What the buttons that need more than a click open: the link form (an address), the table
 * form (a size), the file picker (images) and the alt text form. */
export interface ToolbarForms {
  link: () => void;
  table: () => void;
  image: () => void;
  imageAlt: () => void;
}

export function mountToolbar(editor: EditorHandle, forms: ToolbarForms): Toolbar {
  const toolbar = byId("toolbar");
  const buttons = new Map<ActionId, HTMLButtonElement>();
  const isMac = /Mac|iPhone|iPad/.test(navigator.platform);

  function shortcutText(s: string): string {
    return s.replace("Mod", isMac ? "⌘" : "Ctrl").replace("Alt", isMac ? "⌥" : "Alt");
  }

  // The row and column buttons, shown while the caret is in a table; the alt text button, while
  // an image is selected.
  const contextual: Array<[HTMLElement, "table" | "image"]> = [];
  let lastGroup = "";
  for (const action of ACTIONS) {
    if (lastGroup && action.group !== lastGroup) {
      const sep = document.createElement("span");
      sep.className = "sep";
      sep.setAttribute("aria-hidden", "true");
      toolbar.append(sep);
      if (action.context) contextual.push([sep, action.context]);
    }
    lastGroup = action.group;
    const b = document.createElement("button");
    b.type = "button";
    b.className = `tb tb-${action.id}`;
    b.dataset.action = action.id;
    if (action.id === "link") b.append(linkIcon());
    else b.textContent = action.icon;
    b.setAttribute("aria-label", action.label);
    b.title = action.shortcut ? `${action.label} (${shortcutText(action.shortcut)})` : action.label;
    // Keep the editor's selection: don't take focus on mousedown.
    b.addEventListener("mousedown", (e) => e.preventDefault());
    b.addEventListener("click", () => {
      if (action.id === "link" || action.id === "table" || action.id === "image" || action.id === "imageAlt") {
        forms[action.id]();
      } else editor.run(action.id);
    });
    if (action.id === "toggleHeaderRow" || (!action.context && !NOT_TOGGLES.has(action.id))) {
      b.setAttribute("aria-pressed", "false");
    }
    buttons.set(action.id, b);
    toolbar.append(b);
    if (action.context) contextual.push([b, action.context]);
  }

  function render(): void {
    const shown = { table: editor.inTable(), image: editor.imageAlt() !== null };
    for (const [el, context] of contextual) if (el.hidden === shown[context]) el.hidden = !shown[context];
    for (const [id, b] of buttons) {
      if (b.hasAttribute("aria-pressed")) {
        const pressed = String(editor.isActive(id));
        if (b.getAttribute("aria-pressed") !== pressed) b.setAttribute("aria-pressed", pressed);
      }
    }
    for (const id of ["undo", "redo"] as const) {
      const b = buttons.get(id);
      const disabled = !editor.canRun(id);
      if (b && b.disabled !== disabled) b.disabled = disabled;
    }
  }
  render();

  return {
    render,
    setHidden: (hidden) => {
      toolbar.hidden = hidden;
    },
  };
}

function linkIcon(): SVGSVGElement {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "16");
  svg.setAttribute("height", "16");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", "M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1");
  path.setAttribute("fill", "none");
  path.setAttribute("stroke", "currentColor");
  path.setAttribute("stroke-width", "2");
  path.setAttribute("stroke-linecap", "round");
  svg.append(path);
  return svg;
}

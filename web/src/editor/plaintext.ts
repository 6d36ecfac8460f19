// The document's plain text as the server writes it, mapped to ProseMirror positions.
//
// The version preview places the server's text diff with it.

import type { Node as PMNode } from "@tiptap/pm/model";

/**
 * The document's plain text exactly as the server writes it (server/convert.py
 * json_to_text: blocks separated by blank lines, list markers, "> " quotes),
 * with the ProseMirror position of every code point that is document text
 * (null for markers and separators).
 */
export class MappedText {
  readonly chars: string[] = [];
  readonly pos: Array<number | null> = [];

  get empty(): boolean {
    return this.chars.length === 0;
  }

  lit(s: string): this {
    for (const ch of s) {
      this.chars.push(ch);
      this.pos.push(null);
    }
    return this;
  }

  add(other: MappedText): this {
    this.chars.push(...other.chars);
    this.pos.push(...other.pos);
    return this;
  }

  lines(): MappedText[] {
    const out = [new MappedText()];
    this.chars.forEach((ch, i) => {
      if (ch === "\n") out.push(new MappedText());
      else {
        const last = out[out.length - 1];
        last.chars.push(ch);
        last.pos.push(this.pos[i]);
      }
    });
    return out;
  }

  static join(parts: MappedText[], sep: string): MappedText {
    const out = new MappedText();
    parts.forEach((p, i) => {
      if (i > 0) out.lit(sep);
      out.add(p);
    });
    return out;
  }
}

const LIST_ITEM: Record<string, string> = { bulletList: "listItem", orderedList: "listItem", taskList: "taskItem" };

function textBlocks(parent: PMNode, start: number, inItem: boolean): MappedText {
  const parts: MappedText[] = [];
  parent.forEach((child, offset) => {
    const rendered = textBlock(child, start + offset);
    if (rendered.empty) return;
    if (parts.length > 0 && inItem && child.type.name in LIST_ITEM) {
      parts[parts.length - 1].lit("\n").add(rendered);
    } else {
      parts.push(rendered);
    }
  });
  return MappedText.join(parts, "\n\n");
}

/** `node` starts at `pos`; its content at pos + 1. */
function textBlock(node: PMNode, pos: number): MappedText {
  const kind = node.type.name;
  const out = new MappedText();
  if (kind === "paragraph" || kind === "heading" || kind === "codeBlock") {
    node.forEach((child, offset) => {
      if (!child.isText) {
        out.lit("\n");
        return;
      }
      let at = pos + 1 + offset;
      for (const ch of child.text ?? "") {
        out.chars.push(ch);
        out.pos.push(at);
        at += ch.length;
      }
    });
    return out;
  }
  if (kind === "horizontalRule") return out.lit("---");
  if (kind === "blockquote") {
    const lines = textBlocks(node, pos + 1, false).lines();
    return MappedText.join(lines.map((l) => (l.empty ? new MappedText().lit(">") : new MappedText().lit("> ").add(l))), "\n");
  }
  if (kind in LIST_ITEM) {
    const start = typeof node.attrs.start === "number" ? node.attrs.start : 1;
    const items: MappedText[] = [];
    let i = 0;
    node.forEach((item, offset) => {
      let marker = "- ";
      if (kind === "orderedList") marker = `${start + i}. `;
      else if (kind === "taskList") marker = item.attrs.checked ? "- [x] " : "- [ ] ";
      i++;
      const lines = textBlocks(item, pos + 1 + offset + 1, true).lines();
      const head = lines[0].empty ? new MappedText().lit(marker.trimEnd()) : new MappedText().lit(marker).add(lines[0]);
      const rest = lines.slice(1).map((l) => (l.empty ? l : new MappedText().lit(" ".repeat(marker.length)).add(l)));
      items.push(MappedText.join([head, ...rest], "\n"));
    });
    return MappedText.join(items, "\n");
  }
  return out;
}

export function serverPlainText(doc: PMNode): MappedText {
  const text = textBlocks(doc, 0, false);
  return text.empty ? text : text.lit("\n");
}

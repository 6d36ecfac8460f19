// Rules the browser shares with the server, each checked on both sides against
// the same cases (tests/fixtures/shared_rules.json, run by tests/test_shared_rules.py).
// ProseMirror is used for its types only: the editor library itself stays in editor.ts.

import type { Node as PMNode } from "@tiptap/pm/model";

/**
 * The document's plain text exactly as the server writes it (server/content/text.py
 * json_to_text: blocks separated by blank lines, list markers, "> " quotes),
 * with the ProseMirror position of every code point that is document text
 * (null for markers and separators).
 */
class MappedText {
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
  if (kind === "table") {
    // One row a line, cells separated by tabs, a cell's lines joined by spaces.
    const rows: MappedText[] = [];
    node.forEach((row, rowOffset) => {
      const cells: MappedText[] = [];
      row.forEach((cell, cellOffset) => {
        const lines = textBlocks(cell, pos + 1 + rowOffset + 1 + cellOffset + 1, false).lines();
        cells.push(MappedText.join(lines.filter((l) => !l.empty), " "));
      });
      rows.push(MappedText.join(cells, "\t"));
    });
    return MappedText.join(rows, "\n");
  }
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

const SAFE_SCHEMES = new Set(["http", "https", "mailto", "tel"]);

/**
 * `href` if a document may keep it as a link target (http, https, mailto, tel or
 * relative), else null: the rule of server/content/links.py safe_href. Read the
 * way browsers parse: tabs and newlines anywhere and leading control characters
 * or spaces are ignored, and the form with character references decoded must
 * pass too, for whatever decodes them once more on the way.
 */
export function safeHref(href: string): string | null {
  return safeUrl(href) && safeUrl(decodeReferences(href)) ? href : null;
}

function safeUrl(href: string): boolean {
  const cleaned = href.replace(/[\t\n\r]/g, "").replace(/^[\x00-\x20]+/, "");
  if (!cleaned) return false;
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(cleaned);
  if (scheme) return SAFE_SCHEMES.has(scheme[1].toLowerCase());
  // Without a scheme a colon before the path would make some parsers see one.
  return !cleaned.split(/[/?#]/, 1)[0].includes(":");
}

// The named references that can change how a URL reads: Python's html.unescape
// knows every other one too, but none of them decodes to a character the rule
// looks at.
const NAMED: Record<string, string> = {
  Tab: "\t", NewLine: "\n", colon: ":", sol: "/", quest: "?", num: "#", period: ".", plus: "+",
};

/** Character references decoded once, as Python's html.unescape does. */
function decodeReferences(s: string): string {
  return s.replace(/&(?:#[xX]([0-9a-fA-F]+);?|#([0-9]+);?|([A-Za-z][A-Za-z0-9]*);)/g, (ref, hex, dec, name) => {
    if (name !== undefined) return NAMED[name] ?? ref;
    const code = hex !== undefined ? parseInt(hex, 16) : parseInt(dec, 10);
    if (code === 0 || (code >= 0x80 && code <= 0x9f)) return "\ufffd"; // Python: NUL, windows-1252: never ASCII
    if (code === 0x0d) return "\r";
    if ((code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff) return "\ufffd";
    const invalid = (code >= 0x01 && code <= 0x08) || code === 0x0b || (code >= 0x0e && code <= 0x1f)
      || code === 0x7f || (code >= 0xfdd0 && code <= 0xfdef) || (code & 0xfffe) === 0xfffe;
    return invalid ? "" : String.fromCodePoint(code);
  });
}

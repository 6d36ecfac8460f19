"""ProseMirror JSON -> CommonMark with GFM task lists and strikethrough, escaped to read back as
written."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .html_out import html_table
from .links import absolute, safe_marks, safe_src
from .marks import Op, inline_ops
from .schema import LIST_ITEM, PMNode, make_text, normalize_json
from .text import indent

_MD_ALWAYS = re.compile(r"([\\`*_\[\]<~|])|&(?=#?[0-9A-Za-z]+;)")
_MD_LINE_START = re.compile(r"([#>+=-])|(\d{1,9})([.)])")


def _md_escape(text: str, *, line_start: bool, line_end: bool, heading: bool) -> str:
    # Spaces and tabs where a line starts or ends are left out: CommonMark strips them (or
    # reads four spaces as a code block, two at the end as a line break), a rendered page never
    # shows them, and an entity for each (`&#32;`) is noise to whoever reads the file.
    lead = len(text) - len(text.lstrip(" \t")) if line_start else 0
    tail = max(len(text.rstrip(" \t")), lead) if line_end else len(text)
    escaped = _MD_ALWAYS.sub(lambda m: "\\" + m.group(0), text[lead:tail])
    if heading:
        escaped = escaped.replace("#", "\\#")
    elif line_start:
        match = _MD_LINE_START.match(escaped)
        if match is not None:
            if match.group(1):
                escaped = "\\" + escaped
            else:
                cut = match.end(2)
                escaped = escaped[:cut] + "\\" + escaped[cut:]
    return escaped


def _md_code_span(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = text.startswith(("`", " ")) or text.endswith(("`", " "))
    if text.strip(" ") == "":
        pad = False
    return f"{fence} {text} {fence}" if pad else f"{fence}{text}{fence}"


def _md_destination(href: str) -> str:
    href = href.replace("\n", "%0A").replace("\r", "%0D")
    escaped = re.sub(r"([\\<>()])|&(?=#?[0-9A-Za-z]+;)", lambda m: "\\" + m.group(0), href)
    if not href or re.search(r"[\x00-\x20\x7f]", href):
        return f"<{escaped}>"
    return escaped


def _md_title(title: str) -> str:
    return '"' + re.sub(r'(["\\])|&(?=#?[0-9A-Za-z]+;)', lambda m: "\\" + m.group(0), title) + '"'


def json_to_markdown(node: PMNode, *, base: str = "") -> str:
    """CommonMark with GFM task lists, strikethrough and tables. Underline has no Markdown syntax
    and is written as <u>...</u>, which markdown_to_json reads back. Text is escaped to stay
    literal. Image addresses are made absolute against `base`. A table GFM cannot express (no
    header row, merged cells, a cell holding more than one paragraph) is written as HTML."""
    doc = normalize_json(node)
    text = _md_blocks(doc["content"], base=base)
    return text + "\n" if text else ""


def _md_blocks(blocks: Sequence[PMNode], *, in_item: bool = False, base: str = "") -> str:
    parts: list[str] = []
    marker: str | None = None  # list marker of the block written last, if it was a list
    for i, block in enumerate(blocks):
        rendered, marker_used = _md_block(block, marker, keep_empty=in_item and i == 0, base=base)
        if rendered is None:
            continue
        marker = marker_used
        # After an empty first paragraph the next block must follow at once, or the item
        # would end up empty. A nested list goes right under its item's text where it can.
        if parts and in_item and (parts[-1] == "" or _interrupts_paragraph(block)):
            parts[-1] += "\n" + rendered
        else:
            parts.append(rendered)
    return "\n\n".join(parts)


def _interrupts_paragraph(block: PMNode) -> bool:
    """Whether this list may start right after a paragraph line: CommonMark lets only lists
    whose first item is not empty, and ordered ones only when they start at 1."""
    if block["type"] not in LIST_ITEM:
        return False
    if block["type"] == "orderedList" and block["attrs"]["start"] != 1:
        return False
    return bool(block["content"][0]["content"][0].get("content"))


def _md_block(
    node: PMNode, marker_before: str | None, *, keep_empty: bool, base: str
) -> tuple[str | None, str | None]:
    """The block's Markdown (None to leave it out) and the list marker it used, if any."""
    kind = node["type"]
    if kind in LIST_ITEM:
        return _md_list(node, marker_before, base)
    if kind == "table":
        return _md_table(node, base), None
    if kind == "image":
        return _md_image(node["attrs"], base), None
    return _md_leaf_block(node, keep_empty=keep_empty, base=base), None


def _md_image(attrs: dict[str, Any], base: str) -> str | None:
    src = safe_src(attrs["src"])
    if src is None:
        return None
    alt = _md_escape(attrs["alt"] or "", line_start=False, line_end=False, heading=False)
    title = f" {_md_title(attrs['title'])}" if attrs["title"] else ""
    return f"![{alt}]({_md_destination(absolute(src, base))}{title})"


def _gfm_cell(cell: PMNode) -> str | None:
    """The cell as one line of inline Markdown, or None if GFM cannot hold it."""
    attrs = cell["attrs"]
    blocks: list[PMNode] = cell["content"]
    if attrs["colspan"] != 1 or attrs["rowspan"] != 1:
        return None
    if len(blocks) != 1 or blocks[0]["type"] != "paragraph":
        return None
    inline: list[PMNode] = blocks[0].get("content", [])
    # A pipe inside a code span would still end the cell in some readers.
    if any(n["type"] == "text" and _is_code(n) and "|" in n["text"] for n in inline):
        return None
    # heading=True: a line break is written <br>, which keeps the row on one line
    return _md_inline(inline, heading=True) if inline else ""


_GFM_RULE = {None: "---", "left": ":--", "center": ":-:", "right": "--:"}


def _md_table(node: PMNode, base: str) -> str:
    rows: list[PMNode] = node["content"]
    width = max(sum(c["attrs"]["colspan"] for c in row["content"]) for row in rows)
    lines: list[list[str]] = []
    gfm = all(c["type"] == "tableHeader" for c in rows[0]["content"])
    for row in rows if gfm else []:
        cells = [_gfm_cell(c) for c in row["content"]]
        if any(c is None for c in cells):
            gfm = False
            break
        lines.append([c or "" for c in cells] + [""] * (width - len(cells)))
    if not gfm:
        # An HTML block ends at a blank line: newlines (only ever inside code) become references.
        return html_table(node, base).replace("\n", "&#10;")
    # GFM aligns whole columns; a column takes its header cell's alignment.
    aligns = [c["attrs"]["align"] for c in rows[0]["content"]] + [None] * width
    rule = [_GFM_RULE[a] for a in aligns[:width]]
    out = ["| " + " | ".join(lines[0]) + " |", "|" + "|".join(rule) + "|"]
    out.extend("| " + " | ".join(cells) + " |" for cells in lines[1:])
    return "\n".join(out)


def _md_leaf_block(node: PMNode, *, keep_empty: bool, base: str) -> str | None:
    kind = node["type"]
    content: list[PMNode] = node.get("content", [])
    attrs: dict[str, Any] = node.get("attrs", {})
    if kind == "paragraph":
        if not content:
            return "" if keep_empty else None
        return _md_inline(content, heading=False)
    if kind == "heading":
        inner = _md_inline(content, heading=True)
        return "#" * int(attrs["level"]) + (" " + inner if inner else "")
    if kind == "horizontalRule":
        return "---"
    if kind == "codeBlock":
        code = content[0]["text"] if content else ""
        language = attrs["language"] or ""
        char = "~" if "`" in language else "`"
        longest = max((len(run) for run in re.findall(re.escape(char) + "+", code)), default=0)
        fence = char * max(3, longest + 1)
        info = re.sub(r"([\\`~])|&(?=#?[0-9A-Za-z]+;)", lambda m: "\\" + m.group(0), language)
        info = re.sub(r"\s+", " ", info)
        body = code + "\n" if code else ""
        return f"{fence}{info}\n{body}{fence}"
    if kind == "blockquote":
        inner = _md_blocks(content, base=base)
        return "\n".join("> " + line if line else ">" for line in inner.split("\n"))
    raise AssertionError(kind)  # pragma: no cover


def _md_list(node: PMNode, marker_before: str | None, base: str) -> tuple[str, str]:
    kind = node["type"]
    attrs: dict[str, Any] = node.get("attrs", {})
    # Two lists in a row would merge into one unless their markers differ.
    first, second = (".", ")") if kind == "orderedList" else ("-", "*")
    char = second if marker_before == first else first
    lines: list[str] = []
    for i, item in enumerate(node["content"]):
        marker = f"{attrs['start'] + i}{char} " if kind == "orderedList" else f"{char} "
        width = len(marker)
        if kind == "taskList":
            marker += "[x] " if item["attrs"]["checked"] else "[ ] "
        inner = _md_blocks(item["content"], in_item=True, base=base)
        # the space after "]" is what makes an empty item a task
        lines.append(indent(inner, marker, " " * width, keep_marker_space=kind == "taskList"))
    return "\n".join(lines), char


_FLANKING = frozenset({"bold", "italic", "strike"})


def _is_code(node: PMNode) -> bool:
    marks: list[PMNode] = node.get("marks") or []
    return bool(marks) and marks[0]["type"] == "code"


def _drop_lone_emphasis(items: list[PMNode]) -> list[PMNode]:
    """Emphasis around nothing but whitespace cannot be written (`** **` is not bold): such a
    text keeps only the emphasis it shares with a neighbour."""
    out: list[PMNode] = []
    for i, node in enumerate(items):
        marks = node.get("marks")
        if node["type"] == "text" and marks and not node["text"].strip() and not _is_code(node):
            near = [
                *(items[i - 1].get("marks", []) if i > 0 else []),
                *(items[i + 1].get("marks", []) if i + 1 < len(items) else []),
            ]
            node = make_text(
                node["text"], [m for m in marks if m["type"] not in _FLANKING or m in near]
            )
        out.append(node)
    return out


def _expel_whitespace(ops: list[Op]) -> list[Op]:
    """Moves whitespace and line breaks at the inner edge of emphasis delimiters outside them
    (`** x**` is not bold): before the first emphasis opener, after the last emphasis closer."""
    # Each pass moves a break past one delimiter run; several breaks in a row need more.
    for _ in range(len(ops) + 1):
        moved = _expel_once(ops)
        if moved == ops:
            break
        ops = moved
    return ops


def _expel_once(ops: list[Op]) -> list[Op]:
    out: list[Op] = []
    for op, value in ops:
        if op in ("text", "break") and not _is_code(value):
            start = len(out)
            while start > 0 and out[start - 1][0] == "open":
                start -= 1
            first = next(
                (k for k in range(start, len(out)) if out[k][1]["type"] in _FLANKING), None
            )
            if first is not None and op == "break":
                out.insert(first, (op, value))
                continue
            text: str = value["text"] if op == "text" else ""
            if first is not None and text != text.lstrip():
                out.insert(first, ("text", make_text(text[: len(text) - len(text.lstrip())])))
                value = {**value, "text": text.lstrip()}
        if op != "text" or value["text"]:
            out.append((op, value))
    result: list[Op] = []  # built backwards
    for index in range(len(out) - 1, -1, -1):
        op, value = out[index]
        if op in ("text", "break") and not _is_code(value):
            end = index + 1
            while end < len(out) and out[end][0] == "close":
                end += 1
            last = next(
                (k for k in range(end - 1, index, -1) if out[k][1]["type"] in _FLANKING), None
            )
            # in the reversed result, this position is right after the last emphasis closer
            at = len(result) - (last - index) if last is not None else None
            if at is not None and op == "break":
                result.insert(at, (op, value))
                continue
            text = value["text"] if op == "text" else ""
            if at is not None and text != text.rstrip():
                result.insert(at, ("text", make_text(text[len(text.rstrip()) :])))
                value = {**value, "text": text.rstrip()}
                if not value["text"]:
                    continue
        result.append((op, value))
    result.reverse()
    return result


def _md_inline(content: list[PMNode], *, heading: bool) -> str:
    items = _drop_lone_emphasis(
        [{**n, "marks": safe_marks(n["marks"])} if n.get("marks") else n for n in content]
    )
    # Outside delimiters first: `[` and `<u>` are safe next to letters, `*` may not be.
    order = ("link", "underline", "strike", "bold", "italic", "code")
    ops = _expel_whitespace(list(inline_ops(items, atomic=frozenset({"code"}), order=order)))
    # for each op, the kind of the next text or break after it ("" at the end)
    upcoming = [""] * len(ops)
    for i in range(len(ops) - 2, -1, -1):
        after = ops[i + 1][0]
        upcoming[i] = after if after in ("text", "break") else upcoming[i + 1]
    last_text = max((i for i, (op, _) in enumerate(ops) if op == "text"), default=-1)
    out: list[str] = []
    line_start = True
    italic_chars: list[str] = []
    for index, (op, value) in enumerate(ops):
        if op == "break":
            if heading or index > last_text:
                # a heading's or a trailing line break has no Markdown syntax; <br> reads back
                out.append("<br>")
            else:
                out.append("\\\n")
                line_start = True
            continue
        if op == "text":
            text: str = value["text"]
            if value.get("marks") and value["marks"][0]["type"] == "code":
                written = _md_code_span(text)
            else:
                written = _md_escape(
                    text, line_start=line_start, line_end=upcoming[index] != "text", heading=heading
                )
            out.append(written)
            # whitespace left out at the start of a line leaves the line still to start
            line_start = line_start and not written
            continue
        kind = value["type"]
        if op == "open":
            if kind == "link":
                out.append("[")
            elif kind == "italic":
                # `_` is never read as part of a neighbouring `**`, but does not work in a word.
                before = out[-1][-1:] if out else ""
                char = "*" if before.isalnum() or _italic_ends_in_word(ops, index) else "_"
                italic_chars.append(char)
                out.append(char)
            else:
                out.append({"bold": "**", "strike": "~~", "underline": "<u>"}[kind])
        elif kind == "link":
            attrs = value["attrs"]
            title = f" {_md_title(attrs['title'])}" if attrs["title"] else ""
            out.append(f"]({_md_destination(attrs['href'])}{title})")
        elif kind == "italic":
            out.append(italic_chars.pop())
        else:
            out.append({"bold": "**", "strike": "~~", "underline": "</u>"}[kind])
        line_start = False
    return "".join(out)


def _italic_ends_in_word(ops: list[Op], index: int) -> bool:
    """Whether the italic opened at ops[index] is closed right before a letter or digit."""
    mark = ops[index][1]
    for position in range(index + 1, len(ops) - 1):
        if ops[position] == ("close", mark):
            op, after = ops[position + 1]
            code = bool(after.get("marks")) and after["marks"][0]["type"] == "code"
            return op == "text" and not code and after["text"][:1].isalnum()
    return False

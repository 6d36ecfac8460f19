"""ProseMirror JSON -> plain text, as exports write it and the history view diffs it.

The browser places the history diff on the same text (web/src/rules.ts `serverPlainText`); both
are checked against the cases in tests/fixtures/shared_rules.json.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .schema import LIST_ITEM, TEXTBLOCKS, PMNode, normalize_json


def json_to_text(node: PMNode) -> str:
    """Plain text: blocks separated by blank lines, list items prefixed ("- ", "1. ", "- [x] "),
    quotes prefixed with "> ", a table one row a line with its cells separated by tabs (a cell's
    lines joined by spaces); images have no text."""
    doc = normalize_json(node)
    text = _text_blocks(doc["content"])
    return text + "\n" if text else ""


def _text_blocks(blocks: Sequence[PMNode], *, in_item: bool = False) -> str:
    parts: list[str] = []
    for block in blocks:
        rendered = _text_block(block)
        if not rendered:
            continue
        if parts and in_item and block["type"] in LIST_ITEM:
            parts[-1] += "\n" + rendered
        else:
            parts.append(rendered)
    return "\n\n".join(parts)


def _text_block(node: PMNode) -> str:
    kind = node["type"]
    content: list[PMNode] = node.get("content", [])
    attrs: dict[str, Any] = node.get("attrs", {})
    if kind in TEXTBLOCKS or kind == "codeBlock":
        return "".join(n["text"] if n["type"] == "text" else "\n" for n in content)
    if kind == "horizontalRule":
        return "---"
    if kind == "image":
        return ""
    if kind == "table":
        return "\n".join(
            "\t".join(_one_line(_text_blocks(cell["content"])) for cell in row["content"])
            for row in content
        )
    if kind == "blockquote":
        inner = _text_blocks(content)
        return "\n".join("> " + line if line else ">" for line in inner.split("\n"))
    lines: list[str] = []
    for i, item in enumerate(content):
        if kind == "orderedList":
            marker = f"{attrs['start'] + i}. "
        elif kind == "taskList":
            marker = "- [x] " if item["attrs"]["checked"] else "- [ ] "
        else:
            marker = "- "
        inner = _text_blocks(item["content"], in_item=True)
        lines.append(indent(inner, marker, " " * len(marker)))
    return "\n".join(lines)


def _one_line(text: str) -> str:
    return " ".join(line for line in text.split("\n") if line)


def indent(text: str, first: str, rest: str, *, keep_marker_space: bool = False) -> str:
    lines = text.split("\n")
    head = first + lines[0] if lines[0] or keep_marker_space else first.rstrip(" ")
    return "\n".join([head, *(rest + line if line else "" for line in lines[1:])])

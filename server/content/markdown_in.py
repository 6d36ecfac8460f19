"""CommonMark with GFM task lists, strikethrough and tables -> ProseMirror JSON."""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING, Any

from .links import safe_href, safe_src
from .schema import MAX_DEPTH, PMNode, fit_doc, make_mark, make_node, make_text

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token


@cache
def _markdown() -> MarkdownIt:
    # Imported on first use: only Markdown imports need it, and every server process would
    # otherwise keep it resident (about 1 MB).
    from markdown_it import MarkdownIt

    class _Markdown(MarkdownIt):
        def __init__(self) -> None:
            # Deeply nested lists are normal in notes: markdown-it's default limit of 20 cuts
            # them off early. Each token level becomes at most one node level, plus a
            # paragraph and text.
            super().__init__("commonmark", {"tasklists": True, "maxNesting": MAX_DEPTH - 2})
            self.enable(["strikethrough", "table"])

        def normalizeLink(self, url: str) -> str:
            # markdown-it percent-encodes; links should come back exactly as they were written.
            return url

        def normalizeLinkText(self, link: str) -> str:
            return link

        def validateLink(self, url: str) -> bool:
            return safe_href(url) is not None

    return _Markdown()


_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)


def markdown_to_json(markdown: str) -> PMNode:
    """Parse CommonMark (plus GFM task lists, strikethrough and tables). Images become image
    blocks (http(s) and relative addresses only: an image on another host stays there, linked
    by its address; any other kind keeps its alt text). A block of raw HTML that is a <table>
    (how json_to_markdown writes a table GFM cannot hold) is read as HTML; other raw HTML stays
    literal text (except <u> and <br>)."""
    root: list[PMNode] = []
    # (node being built or None for a transparent container, the list its children go to)
    stack: list[tuple[PMNode | None, list[PMNode]]] = [(None, root)]
    for token in _markdown().parse(markdown):
        children = stack[-1][1]
        if token.nesting == 1:
            opened = _md_open(token, children)
            stack.append((opened, opened.setdefault("content", []) if opened else []))
        elif token.nesting == -1:
            closed, inner = stack.pop()
            parent = stack[-1][1]
            if closed is None:
                parent.extend(inner)
            elif closed["type"] in ("bulletList", "orderedList"):
                parent.extend(_split_task_runs(closed))
            else:
                parent.append(closed)
        else:
            children.extend(_md_leaf(token))
    return fit_doc(root)


def _md_open(token: Token, siblings: list[PMNode]) -> PMNode | None:
    kind = token.type
    if kind == "paragraph_open":
        return make_node("paragraph")
    if kind == "heading_open":
        return make_node("heading", {"level": min(int(token.tag[1:]), 3)})
    if kind == "blockquote_open":
        return make_node("blockquote")
    if kind == "bullet_list_open":
        return make_node("bulletList")
    if kind == "ordered_list_open":
        start = token.attrGet("start")
        return make_node("orderedList", {"start": int(start) if start is not None else 1})
    if kind == "list_item_open":
        if token.meta and "checked" in token.meta:
            return make_node("taskItem", {"checked": bool(token.meta["checked"])})
        return make_node("listItem")
    if kind == "table_open":
        return make_node("table")
    if kind == "tr_open":
        return make_node("tableRow")
    if kind in ("th_open", "td_open"):
        # a GFM cell holds one line of inline content
        style = str(token.attrGet("style") or "")
        align = style.removeprefix("text-align:") if style.startswith("text-align:") else None
        return make_node("tableHeader" if kind == "th_open" else "tableCell", {"align": align})
    return None


def _split_task_runs(node: PMNode) -> list[PMNode]:
    """Markdown lets task and plain items share a list; the schema does not, so each run of
    items of one kind becomes its own list."""
    items: list[PMNode] = node.get("content", [])
    if all(item["type"] == "listItem" for item in items):
        return [node]
    out: list[PMNode] = []
    start = node.get("attrs", {}).get("start", 1)
    for i, item in enumerate(items):
        kind = "taskList" if item["type"] == "taskItem" else node["type"]
        if not out or out[-1]["type"] != kind:
            attrs = {"start": start + i} if kind == "orderedList" else None
            out.append(make_node(kind, attrs, []))
            out[-1]["content"] = []
        out[-1]["content"].append(item)
    return out


def _md_leaf(token: Token) -> list[PMNode]:
    kind = token.type
    if kind == "inline":
        return _md_inline_tokens(token.children or [])
    if kind in ("fence", "code_block"):
        from markdown_it.common.utils import unescapeAll  # loaded already: _markdown() ran

        info = unescapeAll(token.info).strip() if kind == "fence" else ""
        language = info.split(maxsplit=1)[0] if info else None
        code = token.content[:-1] if token.content.endswith("\n") else token.content
        return [make_node("codeBlock", {"language": language}, [make_text(code)] if code else [])]
    if kind == "hr":
        return [make_node("horizontalRule")]
    if kind == "html_block" and token.content.lstrip()[:6].lower() == "<table":
        from .html_in import html_to_json

        return list(html_to_json(token.content)["content"])
    if kind == "html_block":
        lines = token.content.rstrip("\n").split("\n")
        inline: list[PMNode] = []
        for i, line in enumerate(lines):
            if i:
                inline.append(make_node("hardBreak"))
            inline.append(make_text(line))
        return [make_node("paragraph", None, inline)]
    return []


def _md_inline_tokens(tokens: list[Token]) -> list[PMNode]:
    # <u> counts as underline only when it has a matching </u>; anything else stays text.
    underline: set[int] = set()
    open_u: list[int] = []
    for i, token in enumerate(tokens):
        if token.type == "html_inline":
            tag = token.content.strip().lower()
            if tag == "<u>":
                open_u.append(i)
            elif tag == "</u>" and open_u:
                underline.update((open_u.pop(), i))

    out: list[PMNode] = []
    marks: list[PMNode] = []
    links: list[PMNode | None] = []

    def drop(kind: str) -> None:
        for j in range(len(marks) - 1, -1, -1):
            if marks[j]["type"] == kind:
                del marks[j]
                return

    simple = {"strong": "bold", "em": "italic", "s": "strike"}
    for i, token in enumerate(tokens):
        kind = token.type
        base = kind.rsplit("_", 1)[0]
        if base in simple and kind.endswith("_open"):
            marks.append(make_mark(simple[base]))
        elif base in simple and kind.endswith("_close"):
            drop(simple[base])
        elif kind == "link_open":
            has_link = any(m["type"] == "link" for m in marks)
            link = None if has_link else make_mark("link", _md_link_attrs(token))
            links.append(link)
            if link is not None:
                marks.append(link)
        elif kind == "link_close":
            if links and links.pop() is not None:
                drop("link")
        elif kind == "text" or kind == "text_special":
            out.append(make_text(token.content, marks))
        elif kind == "code_inline":
            out.append(make_text(token.content, [*marks, make_mark("code")]))
        elif kind == "softbreak":
            out.append(make_text(" ", marks))
        elif kind == "hardbreak":
            out.append(make_node("hardBreak"))
        elif kind == "image":
            src = token.attrGet("src")
            title = token.attrGet("title")
            # token.content is the label as written (escapes included); the alt is its text
            alt = "".join(_alt_text(token.children or []))
            if isinstance(src, str) and safe_src(src) is not None:
                out.append(make_node("image", {"src": src, "alt": alt or None, "title": title}))
            elif alt:
                out.append(make_text(alt, marks))
        elif kind == "html_inline":
            if i in underline:
                if token.content.strip().lower() == "<u>":
                    marks.append(make_mark("underline"))
                else:
                    drop("underline")
            elif _BR.fullmatch(token.content.strip()):
                out.append(make_node("hardBreak"))
            else:
                out.append(make_text(token.content, marks))
        elif token.content:
            out.append(make_text(token.content, marks))
    return out


def _alt_text(tokens: list[Token]) -> list[str]:
    out: list[str] = []
    for token in tokens:
        if token.type in ("softbreak", "hardbreak"):
            out.append(" ")
        elif token.children:
            out.extend(_alt_text(token.children))
        else:
            out.append(token.content)
    return out


def _md_link_attrs(token: Token) -> dict[str, Any]:
    title = token.attrGet("title")
    return {"href": str(token.attrGet("href") or ""), "title": str(title) if title else None}

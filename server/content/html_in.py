"""HTML (our own export, or what a browser puts on the clipboard) -> ProseMirror JSON."""

from __future__ import annotations

import re
from collections.abc import Sequence
from html.parser import HTMLParser
from typing import Any

from .links import safe_href, safe_src
from .schema import (
    MAX_DEPTH,
    TEXTBLOCKS,
    PMNode,
    fit_doc,
    make_mark,
    make_node,
    make_text,
    merge_text,
)

_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
# Never content: their text is code, styling, metadata or a fallback for something else.
_SKIP = frozenset(
    (
        "script style template head title noscript iframe object svg math textarea select "
        "canvas audio video"
    ).split()
)
_HTML_BLOCKS = frozenset(
    (
        "address article aside blockquote body center dd details dialog div dl dt fieldset "
        "figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr html li main nav ol "
        "p pre section summary table tbody td tfoot th thead tr ul"
    ).split()
)
# An opening tag of these closes an open <p> (the HTML parsing rule pasted HTML relies on).
_CLOSES_P = _HTML_BLOCKS - {"body", "html", "td", "th", "tr", "tbody", "thead", "tfoot", "li"}
_LIST_TAGS = frozenset({"ul", "ol"})


class _El:
    __slots__ = ("attrs", "children", "tag")

    def __init__(self, tag: str, attrs: dict[str, str]) -> None:
        self.tag = tag
        self.attrs = attrs
        self.children: list[_El | str] = []


class _TreeBuilder(HTMLParser):
    """A small DOM from html.parser, applying the implied end tags that matter for pasted HTML
    (a block start closes an open <p>, a new <li> closes the previous one)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _El("#root", {})
        self.stack = [self.root]
        self.skip_tag: str | None = None  # inside this non-content element
        self.skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skip_tag is not None:
            if tag == self.skip_tag:
                self.skip_depth += 1
            elif self.skip_tag == "head" and tag == "body":  # <body> ends an unclosed <head>
                self.skip_tag = None
            return
        if tag in _SKIP:
            self.skip_tag, self.skip_depth = tag, 1
            return
        if tag in _CLOSES_P:
            self._close_until("p", stop=_LIST_TAGS | {"li", "td", "th", "blockquote"})
        if tag == "li":
            self._close_until("li", stop=_LIST_TAGS)
        element = _El(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(element)
        # Past the depth limit elements still get their content, but stop nesting further; an
        # element level makes at most one node level, plus text and a filled-in paragraph.
        if tag not in _VOID and len(self.stack) <= MAX_DEPTH - 2:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.skip_tag is not None:
            if tag == self.skip_tag:
                self.skip_depth -= 1
                if self.skip_depth == 0:
                    self.skip_tag = None
            return
        if tag == "br":  # browsers read </br> as <br>
            self.stack[-1].children.append(_El("br", {}))
            return
        self._close_until(tag, stop=frozenset())

    def _close_until(self, tag: str, stop: frozenset[str]) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            current = self.stack[depth].tag
            if current == tag:
                del self.stack[depth:]
                return
            if current in stop:
                return

    def handle_data(self, data: str) -> None:
        if self.skip_tag is None:
            self.stack[-1].children.append(data)


_WS = re.compile(r"[ \t\n\r\f]+")
_BOLD_STYLE = re.compile(r"font-weight\s*:\s*(bold|bolder|[6-9]00)\b", re.IGNORECASE)
_NOT_BOLD_STYLE = re.compile(r"font-weight\s*:\s*(normal|lighter|[1-4]00)\b", re.IGNORECASE)
_ITALIC_STYLE = re.compile(r"font-style\s*:\s*italic\b", re.IGNORECASE)
_UNDERLINE_STYLE = re.compile(r"text-decoration[a-z-]*\s*:[^;]*\bunderline\b", re.IGNORECASE)
_STRIKE_STYLE = re.compile(r"text-decoration[a-z-]*\s*:[^;]*\bline-through\b", re.IGNORECASE)
_MARK_TAGS = {
    "strong": "bold",
    "b": "bold",
    "em": "italic",
    "i": "italic",
    "u": "underline",
    "s": "strike",
    "del": "strike",
    "strike": "strike",
    "code": "code",
}


class _Blocks:
    """Collects blocks, wrapping runs of inline content into paragraphs and collapsing
    whitespace the way ProseMirror's DOM parser does."""

    def __init__(self) -> None:
        self.blocks: list[PMNode] = []
        self.inline: list[PMNode] = []

    def text(self, text: str, marks: list[PMNode]) -> None:
        text = _WS.sub(" ", text)
        if text.startswith(" "):
            last = self.inline[-1] if self.inline else None
            if last is None or last["type"] == "hardBreak" or last["text"].endswith(" "):
                text = text[1:]
        if text:
            self.inline.append(make_text(text, marks))

    def hard_break(self) -> None:
        self.inline.append(make_node("hardBreak"))

    def flush(self, *, force: bool = False) -> list[PMNode]:
        """Ends the current run; returns it (as inline nodes) or adds it as a paragraph."""
        inline = self.inline
        self.inline = []
        if inline and inline[-1]["type"] == "text":
            stripped = inline[-1]["text"].rstrip(" ")
            inline[-1] = make_text(stripped, inline[-1].get("marks", []))
        inline = merge_text(inline)
        if force:
            return inline
        if inline and not all(n["type"] == "hardBreak" for n in inline):
            self.blocks.append(make_node("paragraph", None, inline))
        return []

    def add(self, block: PMNode) -> None:
        self.flush()
        self.blocks.append(block)


def html_to_json(html: str) -> PMNode:
    """Parse HTML (our own export, or what a browser puts on the clipboard). Scripts, styles and
    other non-content elements are ignored entirely; unknown elements keep their text."""
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    out = _Blocks()
    _html_children(builder.root.children, out, [])
    out.flush()
    return fit_doc(out.blocks)


def _html_children(nodes: Sequence[_El | str], out: _Blocks, marks: list[PMNode]) -> None:
    for node in nodes:
        if isinstance(node, str):
            out.text(node, marks)
        else:
            _html_element(node, out, marks)


def _html_marks(element: _El, marks: list[PMNode]) -> list[PMNode]:
    tag = element.tag
    style = element.attrs.get("style", "")
    added: list[PMNode] = []
    kind = _MARK_TAGS.get(tag)
    # Google Docs wraps whole documents in <b style="font-weight:normal">.
    if kind is not None and not (kind == "bold" and _NOT_BOLD_STYLE.search(style)):
        added.append(make_mark(kind))
    if tag == "a" and "href" in element.attrs and safe_href(element.attrs["href"]) is not None:
        attrs: dict[str, Any] = {"href": element.attrs["href"]}
        for name in ("target", "rel", "class", "title"):
            if name in element.attrs:
                attrs[name] = element.attrs[name]
        added.append(make_mark("link", attrs))
    if style:
        for pattern, mark in (
            (_BOLD_STYLE, "bold"),
            (_ITALIC_STYLE, "italic"),
            (_UNDERLINE_STYLE, "underline"),
            (_STRIKE_STYLE, "strike"),
        ):
            if pattern.search(style):
                added.append(make_mark(mark))
    return [*marks, *added] if added else marks


def _html_element(element: _El, out: _Blocks, marks: list[PMNode]) -> None:
    tag = element.tag
    if tag == "br":
        out.hard_break()
    elif tag == "img":
        src = element.attrs.get("src", "")
        alt = element.attrs.get("alt") or None
        if safe_src(src) is not None:
            image: dict[str, Any] = {"src": src, "alt": alt, "title": element.attrs.get("title")}
            for name in ("width", "height"):
                if element.attrs.get(name, "").isdigit():
                    image[name] = int(element.attrs[name])
            out.add(make_node("image", image))
        elif alt:
            # a data: URL or another scheme: the words stay, the picture cannot
            out.text(alt, marks)
    elif tag == "hr":
        out.add(make_node("horizontalRule"))
    elif tag == "p" or tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
        inner = _Blocks()
        _html_children(element.children, inner, _html_marks(element, marks))
        rest = inner.flush(force=True)
        # Blocks inside a paragraph or heading: their lines join it, anything else follows it.
        inline: list[PMNode] = []
        after: list[PMNode] = []
        for part in [*inner.blocks, make_node("paragraph", None, rest)]:
            if part["type"] not in TEXTBLOCKS:
                after.append(part)
            elif part.get("content"):
                inline.extend(
                    [make_node("hardBreak"), *part["content"]] if inline else part["content"]
                )
        attrs = {"level": min(int(tag[1]), 3)} if tag != "p" else None
        out.add(make_node("paragraph" if tag == "p" else "heading", attrs, inline))
        for block in after:
            out.add(block)
    elif tag == "pre":
        out.add(_html_pre(element))
    elif tag == "blockquote":
        out.add(make_node("blockquote", None, _html_container(element.children, marks)))
    elif tag in _LIST_TAGS:
        for block in _html_list(element, marks):
            out.add(block)
    elif tag == "li":
        out.add(
            make_node(
                "bulletList",
                None,
                [make_node("listItem", None, _html_container(element.children, marks))],
            )
        )
    elif tag == "table":
        table = _html_table(element, marks)
        if table is not None:
            out.add(table)
    elif tag in ("tr", "td", "th"):
        # a row or cell outside a table (a paste of part of one): its content, as blocks
        out.flush()
        _html_children(element.children, out, _html_marks(element, marks))
        out.flush()
    elif tag == "input":
        pass
    elif tag in _HTML_BLOCKS:
        out.flush()
        _html_children(element.children, out, _html_marks(element, marks))
        out.flush()
    else:
        _html_children(element.children, out, _html_marks(element, marks))


def _html_container(nodes: Sequence[_El | str], marks: list[PMNode]) -> list[PMNode]:
    inner = _Blocks()
    _html_children(nodes, inner, marks)
    inner.flush()
    return inner.blocks


def _html_text_content(nodes: Sequence[_El | str]) -> str:
    parts: list[str] = []
    for node in nodes:
        if isinstance(node, str):
            parts.append(node)
        elif node.tag == "br":
            parts.append("\n")
        else:
            parts.append(_html_text_content(node.children))
    return "".join(parts)


def _html_pre(element: _El) -> PMNode:
    language = None
    candidates = [element, *(c for c in element.children if isinstance(c, _El) and c.tag == "code")]
    for candidate in candidates:
        for cls in candidate.attrs.get("class", "").split():
            if cls.startswith("language-") and language is None:
                language = cls[len("language-") :]
    code = _html_text_content(element.children).replace("\r\n", "\n").replace("\r", "\n")
    # A newline right after <pre> is not content (HTML parsing rule).
    if element.children and isinstance(element.children[0], str) and code.startswith("\n"):
        code = code[1:]
    return make_node("codeBlock", {"language": language or None}, [make_text(code)] if code else [])


def _html_task_state(item: _El, in_task_list: bool) -> bool | None:
    """Whether a <li> is a task (checked or not), or None if it is a plain item. Knows Tiptap's
    data attributes and GitHub/markdown-it's leading checkbox."""
    checked = item.attrs.get("data-checked")
    if checked is not None:
        return checked == "true"
    if item.attrs.get("data-type") == "taskItem":
        return False
    checkbox = _first_checkbox(item)
    if checkbox is not None:
        return "checked" in checkbox.attrs
    return False if in_task_list else None


def _first_checkbox(element: _El) -> _El | None:
    for child in element.children:
        if isinstance(child, str):
            if child.strip():
                return None
            continue
        if child.tag == "input":
            return child if child.attrs.get("type", "").lower() == "checkbox" else None
        if child.tag in ("label", "p", "span", "div"):
            return _first_checkbox(child)
        return None
    return None


def _html_list(element: _El, marks: list[PMNode]) -> list[PMNode]:
    ordered = element.tag == "ol"
    task_list = element.attrs.get("data-type") == "taskList"
    try:
        start = int(element.attrs.get("start", "1"))
    except ValueError:
        start = 1
    list_type = element.attrs.get("type") if ordered else None
    # (task state or None, blocks) per item; stray content joins the item before it
    items: list[tuple[bool | None, list[PMNode]]] = []
    for child in element.children:
        if isinstance(child, _El) and child.tag == "li":
            items.append(
                (_html_task_state(child, task_list), _html_container(child.children, marks))
            )
        else:
            stray = _html_container([child], marks)
            if not stray or (isinstance(child, str) and not child.strip()):
                continue
            if items:
                items[-1][1].extend(stray)
            else:
                items.append((False if task_list else None, stray))
    lists: list[PMNode] = []
    for i, (state, blocks) in enumerate(items):
        if state is not None:
            kind, item = "taskList", make_node("taskItem", {"checked": state}, blocks)
        else:
            kind, item = (
                ("orderedList" if ordered else "bulletList"),
                make_node("listItem", None, blocks),
            )
        if not lists or lists[-1]["type"] != kind:
            attrs = {"start": start + i, "type": list_type} if kind == "orderedList" else None
            lists.append(make_node(kind, attrs))
            lists[-1]["content"] = []
        lists[-1]["content"].append(item)
    return lists


def _html_rows(element: _El) -> list[_El]:
    rows: list[_El] = []
    for child in element.children:
        if isinstance(child, _El):
            if child.tag == "tr":
                rows.append(child)
            elif child.tag in ("thead", "tbody", "tfoot"):
                rows.extend(_html_rows(child))
    return rows


def _span(cell: _El, name: str) -> int:
    value = cell.attrs.get(name, "1").strip()
    return min(max(int(value), 1), 1000) if value.isdigit() else 1


_TEXT_ALIGN = re.compile(r"text-align\s*:\s*(left|center|right)\b", re.IGNORECASE)


def _align(cell: _El) -> str | None:
    match = _TEXT_ALIGN.search(cell.attrs.get("style", ""))
    value = (match.group(1) if match else cell.attrs.get("align", "")).strip().lower()
    return value if value in ("left", "center", "right") else None


def _html_table(element: _El, marks: list[PMNode]) -> PMNode | None:
    """Rows and cells, header cells kept, merged cells kept (colspan and rowspan). A caption
    is left out."""
    rows: list[PMNode] = []
    for row in _html_rows(element):
        cells = [
            make_node(
                "tableHeader" if cell.tag == "th" else "tableCell",
                {
                    "colspan": _span(cell, "colspan"),
                    "rowspan": _span(cell, "rowspan"),
                    "align": _align(cell),
                },
                _html_container(cell.children, _html_marks(cell, marks)),
            )
            for cell in row.children
            if isinstance(cell, _El) and cell.tag in ("td", "th")
        ]
        if cells:
            rows.append(make_node("tableRow", None, cells))
    return make_node("table", None, rows) if rows else None

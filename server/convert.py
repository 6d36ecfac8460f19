"""Owns document content conversion (Yjs fragment <-> ProseMirror JSON <-> HTML, Markdown, text)
and must stay pure: it must not import starlette, aiosqlite or asyncio, nor do any I/O.

The browser edits documents with Tiptap 3, bound by @tiptap/y-tiptap to the `Y.XmlFragment`
named "default". What y-tiptap stores, as seen from pycrdt:

- each ProseMirror node other than text is a `XmlElement` whose tag is the node type name and
  whose attributes are the node's attrs that are not null, with their JSON types (numbers come
  back from pycrdt as floats, booleans as bools); y-tiptap never stores a node's marks;
- each run of adjacent text nodes is one `XmlText`; each mark is a formatting attribute named
  after the mark type whose value is the mark's attrs object, complete with defaults
  (`{"bold": {}}`, `{"link": {"href": ..., "target": "_blank", ...}}`). A mark type that does
  not exclude itself would get a `--<hash>` suffix; none of ours does, but readers strip it.

The schema is the editor's (web/src/editor.ts): StarterKit with headings 1-3, TaskList and
TaskItem (nested). JSON produced here is shaped like `editor.getJSON()`: every attr of the node
type present (defaults included), marks sorted in the schema's order, adjacent text merged.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cache
from html import escape, unescape
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

from pycrdt import Doc, Map, XmlElement, XmlFragment, XmlText

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

__all__ = [
    "FRAGMENT",
    "PMNode",
    "doc_to_html",
    "doc_to_json",
    "doc_to_markdown",
    "doc_to_text",
    "html_to_json",
    "json_to_html",
    "json_to_html_document",
    "json_to_markdown",
    "json_to_text",
    "markdown_to_json",
    "normalize_json",
    "safe_href",
    "validate_json",
    "write_json",
]

FRAGMENT = "default"
PMNode = dict[str, Any]

# ---------------------------------------------------------------------------------------------
# Schema

_BLOCKS = frozenset(
    "paragraph heading bulletList orderedList taskList blockquote codeBlock horizontalRule".split()
)
_INLINE = frozenset({"text", "hardBreak"})
_TEXTBLOCKS = frozenset({"paragraph", "heading"})
_LIST_ITEM = {"bulletList": "listItem", "orderedList": "listItem", "taskList": "taskItem"}
_ITEMS = frozenset({"listItem", "taskItem"})
_NODE_TYPES = _BLOCKS | _INLINE | _ITEMS | {"doc"}
# Converters recurse per level; real documents nest a few levels, hostile ones thousands.
MAX_DEPTH = 100

# ProseMirror sorts a node's marks by their rank in the schema; Tiptap puts link first because of
# its higher extension priority. getJSON() therefore lists marks in this order.
_MARK_TYPES = ("link", "bold", "code", "italic", "strike", "underline")
_MARK_RANK = {name: i for i, name in enumerate(_MARK_TYPES)}

_Check = Callable[[Any], bool]


def _is_int(value: Any, low: int, high: int) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return float(value).is_integer() and low <= value <= high


def _opt_str(value: Any) -> bool:
    return value is None or isinstance(value, str)


# attr name -> (default, check, what the check wants, for error messages)
_AttrSpec = dict[str, tuple[Any, _Check, str]]
_NODE_ATTRS: dict[str, _AttrSpec] = {
    "heading": {"level": (1, lambda v: _is_int(v, 1, 3), "an integer from 1 to 3")},
    "orderedList": {
        # markdown allows at most nine digits in a list number
        "start": (1, lambda v: _is_int(v, 0, 999_999_999), "an integer from 0 to 999999999"),
        "type": (None, _opt_str, "a string or null"),
    },
    "taskItem": {"checked": (False, lambda v: isinstance(v, bool), "true or false")},
    "codeBlock": {"language": (None, _opt_str, "a string or null")},
}
_MARK_ATTRS: dict[str, _AttrSpec] = {
    "link": {
        "href": (None, lambda v: isinstance(v, str), "a string"),
        "target": ("_blank", _opt_str, "a string or null"),
        "rel": ("noopener noreferrer nofollow", _opt_str, "a string or null"),
        "class": (None, _opt_str, "a string or null"),
        "title": (None, _opt_str, "a string or null"),
    }
}


def _canon_attrs(spec: _AttrSpec, given: dict[str, Any] | None) -> dict[str, Any]:
    """All attrs of the type, defaults filled in; integral floats (JSON from JS) become ints."""
    out: dict[str, Any] = {}
    for name, (default, check, _) in spec.items():
        value = (given or {}).get(name, default)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        out[name] = value if check(value) else default
    return out


def _node(kind: str, attrs: dict[str, Any] | None = None, content: Sequence[PMNode] = ()) -> PMNode:
    node: PMNode = {"type": kind}
    spec = _NODE_ATTRS.get(kind)
    if spec is not None:
        node["attrs"] = _canon_attrs(spec, attrs)
    if content:
        node["content"] = list(content)
    return node


def _mark(kind: str, attrs: dict[str, Any] | None = None) -> PMNode:
    mark: PMNode = {"type": kind}
    spec = _MARK_ATTRS.get(kind)
    if spec is not None:
        mark["attrs"] = _canon_attrs(spec, attrs)
    return mark


def _mark_set(marks: Iterable[PMNode]) -> list[PMNode]:
    """What ProseMirror's Mark.addToSet leaves: one mark per type (every type excludes itself, the
    later one wins) and `code` alone, because it excludes every other mark."""
    by_type: dict[str, PMNode] = {}
    for mark in marks:
        by_type[mark["type"]] = mark
    if "code" in by_type:
        return [by_type["code"]]
    return sorted(by_type.values(), key=lambda m: _MARK_RANK[m["type"]])


def _text(text: str, marks: Iterable[PMNode] = ()) -> PMNode:
    node: PMNode = {"type": "text", "text": text}
    ordered = _mark_set(marks)
    if ordered:
        node["marks"] = ordered
    return node


def _merge_text(nodes: Iterable[PMNode]) -> list[PMNode]:
    out: list[PMNode] = []
    for node in nodes:
        if node["type"] == "text":
            if not node["text"]:
                continue
            prev = out[-1] if out else None
            if (
                prev is not None
                and prev["type"] == "text"
                and prev.get("marks") == node.get("marks")
            ):
                out[-1] = {**prev, "text": prev["text"] + node["text"]}
                continue
        out.append(node)
    return out


# ---------------------------------------------------------------------------------------------
# Validation (strict, for JSON from callers) and normalization

_NODE_KEYS = frozenset({"type", "attrs", "content", "marks", "text"})


def validate_json(node: PMNode) -> None:
    """Raise ValueError naming the offending path if `node` is not a document of our schema."""
    if not isinstance(node, dict) or node.get("type") != "doc":
        raise ValueError("doc: the root must be an object with type 'doc'")
    _validate(node, "doc", 0)


def _validate(node: Any, path: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ValueError(f"{path}: nodes are nested more than {MAX_DEPTH} levels deep")
    if not isinstance(node, dict):
        raise ValueError(f"{path}: expected a node object, got {type(node).__name__}")
    kind = node.get("type")
    if not isinstance(kind, str) or kind not in _NODE_TYPES:
        raise ValueError(f"{path}: unknown node type {kind!r}")
    extra = sorted(set(node) - _NODE_KEYS)
    if extra:
        raise ValueError(f"{path}: unexpected key(s) {', '.join(map(repr, extra))}")
    if kind == "text":
        text = node.get("text")
        if not isinstance(text, str) or not text:
            raise ValueError(f"{path}: a text node needs a non-empty string 'text'")
        if node.get("attrs") or "content" in node:
            raise ValueError(f"{path}: a text node has no attrs or content")
        _validate_marks(node.get("marks"), path)
        return
    if "text" in node:
        raise ValueError(f"{path}: only text nodes have 'text'")
    if "marks" in node:
        if kind != "hardBreak":
            raise ValueError(f"{path}: {kind} nodes cannot have marks")
        _validate_marks(node["marks"], path)
    _validate_attrs(node.get("attrs"), _NODE_ATTRS.get(kind, {}), path, kind)
    content = node.get("content", [])
    if not isinstance(content, list):
        raise ValueError(f"{path}: 'content' must be a list")
    kinds = [child.get("type") if isinstance(child, dict) else None for child in content]
    _validate_content(kind, kinds, path)
    for i, child in enumerate(content):
        child_path = f"{path}.content[{i}]"
        _validate(child, child_path, depth + 1)
        if kind == "codeBlock" and child.get("marks"):
            raise ValueError(f"{child_path}: text in a codeBlock cannot have marks")


def _validate_content(kind: str, kinds: list[Any], path: str) -> None:
    def bad(i: int, wanted: str) -> ValueError:
        got = kinds[i]
        if got in ("text", "hardBreak") and kind not in _TEXTBLOCKS:
            return ValueError(
                f"{path}.content[{i}]: {got} is only allowed inside a paragraph or heading"
                + (" (a codeBlock holds plain text nodes)" if got == "hardBreak" else "")
            )
        return ValueError(f"{path}.content[{i}]: a {kind} may only contain {wanted}, got {got!r}")

    if kind in ("horizontalRule", "hardBreak"):
        if kinds:
            raise ValueError(f"{path}: a {kind} has no content")
        return
    if kind in _TEXTBLOCKS or kind == "codeBlock":
        allowed = _INLINE if kind in _TEXTBLOCKS else frozenset({"text"})
        wanted = "text and hardBreak nodes" if kind in _TEXTBLOCKS else "text nodes"
        for i, child in enumerate(kinds):
            if child not in allowed and child in _NODE_TYPES:
                raise bad(i, wanted)
        return
    if not kinds:
        raise ValueError(f"{path}: a {kind} needs at least one child node")
    if kind in _LIST_ITEM:
        item = _LIST_ITEM[kind]
        for i, child in enumerate(kinds):
            if child != item and child in _NODE_TYPES:
                raise bad(i, f"{item} nodes")
        return
    if kind in _ITEMS and kinds[0] != "paragraph" and kinds[0] in _NODE_TYPES:
        raise ValueError(f"{path}.content[0]: a {kind} must start with a paragraph")
    for i, child in enumerate(kinds):
        if child not in _BLOCKS and child in _NODE_TYPES:
            raise bad(i, "block nodes")


def _validate_attrs(attrs: Any, spec: _AttrSpec, path: str, kind: str) -> None:
    if attrs is None:
        return
    if not isinstance(attrs, dict):
        raise ValueError(f"{path}: 'attrs' must be an object")
    for name, value in attrs.items():
        if name not in spec:
            raise ValueError(f"{path}: {kind} has no attribute {name!r}")
        _, check, wanted = spec[name]
        if not check(value):
            raise ValueError(f"{path}: {kind}.{name} must be {wanted}, got {value!r}")


def _validate_marks(marks: Any, path: str) -> None:
    if marks is None:
        return
    if not isinstance(marks, list):
        raise ValueError(f"{path}: 'marks' must be a list")
    seen: set[str] = set()
    for i, mark in enumerate(marks):
        mark_path = f"{path}.marks[{i}]"
        if not isinstance(mark, dict):
            raise ValueError(f"{mark_path}: expected a mark object")
        kind = mark.get("type")
        if kind not in _MARK_RANK:
            raise ValueError(f"{mark_path}: unknown mark type {kind!r}")
        extra = sorted(set(mark) - {"type", "attrs"})
        if extra:
            raise ValueError(f"{mark_path}: unexpected key(s) {', '.join(map(repr, extra))}")
        if kind in seen:
            raise ValueError(f"{mark_path}: mark {kind!r} appears twice")
        seen.add(kind)
        _validate_attrs(mark.get("attrs"), _MARK_ATTRS.get(kind, {}), mark_path, kind)
        if kind == "link" and not isinstance((mark.get("attrs") or {}).get("href"), str):
            raise ValueError(f"{mark_path}: a link needs a string attrs.href")
    if "code" in seen and len(seen) > 1:
        raise ValueError(f"{path}: the code mark cannot be combined with other marks")


def normalize_json(node: PMNode) -> PMNode:
    """Validate, then return the document as `editor.getJSON()` would show it (see module doc)."""
    validate_json(node)
    return _canon(node)


def _canon(node: PMNode) -> PMNode:
    kind = node["type"]
    if kind == "text":
        return _text(
            node["text"], (_mark(m["type"], m.get("attrs")) for m in node.get("marks", []))
        )
    content = [_canon(child) for child in node.get("content", [])]
    if kind in _TEXTBLOCKS or kind == "codeBlock":
        content = _merge_text(content)
    # hardBreak marks are dropped: y-tiptap does not store marks of non-text nodes.
    return _node(kind, node.get("attrs"), content)


# ---------------------------------------------------------------------------------------------
# Repair: fitting loosely built trees (from Yjs, Markdown, HTML) into the schema, the way
# ProseMirror's parser fills required content and drops what has no place.


def _fit_doc(content: Sequence[PMNode]) -> PMNode:
    return _node("doc", None, _fit_blocks(content))


def _fit_blocks(nodes: Sequence[PMNode], *, item: bool = False) -> list[PMNode]:
    out: list[PMNode] = []
    inline: list[PMNode] = []

    def flush() -> None:
        fitted = _fit_inline(inline)
        if fitted:
            out.append(_node("paragraph", None, fitted))
        inline.clear()

    for node in nodes:
        kind = node["type"]
        if kind in _INLINE:
            inline.append(node)
            continue
        flush()
        if kind in _ITEMS or kind == "doc":
            out.extend(_fit_blocks(node.get("content", [])))
        else:
            fitted_block = _fit_block(node)
            if fitted_block is not None:
                out.append(fitted_block)
    flush()
    if item and (not out or out[0]["type"] != "paragraph"):
        out.insert(0, _node("paragraph"))
    if not out:
        out.append(_node("paragraph"))
    return out


def _fit_inline(nodes: Sequence[PMNode]) -> list[PMNode]:
    kept = [
        _node("hardBreak") if n["type"] == "hardBreak" else n for n in nodes if n["type"] in _INLINE
    ]
    return _merge_text(kept)


def _fit_block(node: PMNode) -> PMNode | None:
    kind = node["type"]
    content: list[PMNode] = node.get("content", [])
    attrs = node.get("attrs")
    if kind in _TEXTBLOCKS:
        return _node(kind, attrs, _fit_inline(content))
    if kind == "codeBlock":
        code = "".join(
            n["text"] if n["type"] == "text" else "\n" if n["type"] == "hardBreak" else ""
            for n in content
        )
        return _node(kind, attrs, [_text(code)] if code else [])
    if kind == "horizontalRule":
        return _node(kind)
    if kind == "blockquote":
        return _node(kind, None, _fit_blocks(content))
    if kind in _LIST_ITEM:
        item_kind = _LIST_ITEM[kind]
        items: list[tuple[dict[str, Any] | None, list[PMNode]]] = []
        for child in content:
            if child["type"] in _ITEMS:
                items.append((child.get("attrs"), list(child.get("content", []))))
            elif items:
                items[-1][1].append(child)
            else:
                items.append((None, [child]))
        if not items:
            return None
        fitted = [
            _node(
                item_kind,
                item_attrs if item_kind == "taskItem" else None,
                _fit_blocks(c, item=True),
            )
            for item_attrs, c in items
        ]
        return _node(kind, attrs, fitted)
    return None


# ---------------------------------------------------------------------------------------------
# Yjs <-> JSON

_HASHED_MARK = re.compile(r"(.*)--[a-zA-Z0-9+/=]{8}")


def doc_to_json(doc: Doc[Any]) -> PMNode:
    """The document as ProseMirror JSON. Like the browser, which deletes what its schema cannot
    build, elements of unknown type and unknown marks are left out; so is anything nested more
    than MAX_DEPTH levels deep. The result always passes validate_json."""
    fragment = doc.get(FRAGMENT, type=XmlFragment)
    with doc.transaction():
        content = _read_children(fragment, 1)
    return _fit_doc(content)


def _read_children(parent: XmlFragment | XmlElement, depth: int) -> list[PMNode]:
    out: list[PMNode] = []
    if depth >= MAX_DEPTH:  # leaves room for the paragraph _fit_blocks may add, and its text
        return out
    for child in parent.children:
        if isinstance(child, XmlText):
            out.extend(_read_text(child))
        elif isinstance(child, XmlElement):
            kind = child.tag
            if kind is None or kind not in _NODE_TYPES or kind in ("doc", "text"):
                continue
            spec = _NODE_ATTRS.get(kind, {})
            attrs = _read_attrs(spec, {name: child.attributes.get(name) for name in spec})
            out.append(_node(kind, attrs, _read_children(child, depth + 1)))
    return out


def _read_attrs(spec: _AttrSpec, raw: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (default, check, _) in spec.items():
        value = raw.get(name)
        # Older clients and hand-made documents store attributes as strings.
        if isinstance(value, str) and check(default) and not check(value):
            if value.isdigit():
                value = int(value)
            elif value in ("true", "false"):
                value = value == "true"
        out[name] = value
    return out


def _read_text(text: XmlText) -> list[PMNode]:
    out: list[PMNode] = []
    for insert, attributes in text.diff():
        if not isinstance(insert, str) or not insert:
            continue
        marks: list[PMNode] = []
        for key, value in (attributes or {}).items():
            hashed = _HASHED_MARK.fullmatch(key)
            name = hashed.group(1) if hashed else key
            if name not in _MARK_RANK or value is None:
                continue
            attrs = value if isinstance(value, dict) else {}
            if name == "link" and not isinstance(attrs.get("href"), str):
                continue
            marks.append(_mark(name, attrs))
        out.append(_text(insert, marks))
    return out


def write_json(doc: Doc[Any], node: PMNode) -> None:
    """Replace the content of the fragment with `node`, in one transaction, building the same
    elements, attributes and formatted text y-tiptap builds for that ProseMirror document."""
    canon = normalize_json(node)
    fragment = doc.get(FRAGMENT, type=XmlFragment)
    with doc.transaction():
        del fragment.children[:]
        for child in canon["content"]:
            _write_node(fragment, child)


def _write_node(parent: XmlFragment | XmlElement, node: PMNode) -> None:
    element = parent.children.append(XmlElement(node["type"]))
    for name, value in node.get("attrs", {}).items():
        # y-tiptap skips null attrs; ProseMirror fills them back in from the defaults.
        if value is not None:
            element.attributes[name] = value
    run: list[PMNode] = []
    for child in node.get("content", []):
        if child["type"] == "text":
            run.append(child)
            continue
        if run:
            _write_text(element, run)
            run = []
        _write_node(element, child)
    if run:
        _write_text(element, run)


def _write_text(parent: XmlElement, run: list[PMNode]) -> None:
    text = parent.children.append(XmlText())
    for node in run:
        marks = node.get("marks")
        # y-tiptap stores each mark's full attrs object ({} for marks without attrs).
        attrs = {m["type"]: dict(m.get("attrs", {})) for m in marks} if marks else None
        text.insert(len(text), node["text"], attrs)


# ---------------------------------------------------------------------------------------------
# Links

_SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*):")
_URL_STRIPPED = re.compile(r"[\t\n\r]")


def safe_href(href: str) -> str | None:
    """`href` if it is http(s), mailto or relative; None for anything else (javascript:, data:
    ...). Checked the way browsers parse: tabs and newlines anywhere and leading control
    characters or spaces are ignored, so "java\\tscript:" is caught too."""
    # Checked decoded too, for whatever decodes entities once more on the way.
    return href if _safe_url(href) and _safe_url(unescape(href)) else None


def _safe_url(href: str) -> bool:
    cleaned = _URL_STRIPPED.sub("", href).lstrip("".join(map(chr, range(0x21))))
    if not cleaned:
        return False
    scheme = _SCHEME.match(cleaned)
    if scheme is not None:
        return scheme.group(1).lower() in _SAFE_SCHEMES
    # Without a scheme a colon before the path would make some parsers see one.
    return ":" not in re.split(r"[/?#]", cleaned, maxsplit=1)[0]


def _safe_marks(marks: Iterable[PMNode]) -> list[PMNode]:
    return [m for m in marks if m["type"] != "link" or safe_href(m["attrs"]["href"]) is not None]


# ---------------------------------------------------------------------------------------------
# Inline content as a sequence of mark openings, closings, texts and breaks, shared by the HTML
# and Markdown writers. Marks that last longer open first, so nesting stays shallow.

_Op = tuple[str, Any]


def _mark_key(mark: PMNode) -> tuple[Any, ...]:
    attrs = mark.get("attrs") or {}
    return (mark["type"], *sorted(attrs.items()))


def _inline_ops(
    items: Sequence[PMNode], *, atomic: frozenset[str] = frozenset(), order: Sequence[str] = ()
) -> Iterator[_Op]:
    """Yields ("open", mark), ("close", mark), ("text", node) and ("break", node). Marks in
    `atomic` are left to the text's renderer instead of being opened and closed."""
    rank = {name: i for i, name in enumerate(order or _MARK_TYPES)}

    def stack_marks(node: PMNode) -> list[PMNode]:
        return [m for m in node.get("marks", []) if m["type"] not in atomic]

    # how many items, from each one on, each mark keeps going (breaks do not interrupt marks)
    lasting: list[dict[tuple[Any, ...], int]] = [{} for _ in items]
    following: dict[tuple[Any, ...], int] = {}
    for i in range(len(items) - 1, -1, -1):
        if items[i]["type"] == "hardBreak":
            lasting[i] = following
            continue
        here = {_mark_key(m): following.get(_mark_key(m), 0) + 1 for m in stack_marks(items[i])}
        lasting[i] = following = here

    stack: list[PMNode] = []
    for i, node in enumerate(items):
        if node["type"] == "hardBreak":
            yield ("break", node)
            continue
        wanted = stack_marks(node)
        keep = 0
        while keep < len(stack) and stack[keep] in wanted:
            keep += 1
        while len(stack) > keep:
            yield ("close", stack.pop())
        opening = [m for m in wanted if m not in stack]
        opening.sort(key=lambda m: (-lasting[i][_mark_key(m)], rank[m["type"]]))
        for mark in opening:
            stack.append(mark)
            yield ("open", mark)
        yield ("text", node)
    while stack:
        yield ("close", stack.pop())


# ---------------------------------------------------------------------------------------------
# JSON -> HTML


def _esc(text: str) -> str:
    return escape(text, quote=True)


_HTML_TAGS = {"bold": "strong", "italic": "em", "underline": "u", "strike": "s", "code": "code"}
_OL_TYPES = frozenset({"1", "a", "A", "i", "I"})


def json_to_html(node: PMNode) -> str:
    """Semantic HTML for the document body. All content is escaped; unsafe link targets are
    dropped (the text stays)."""
    doc = normalize_json(node)
    return "\n".join(_html_block(block) for block in doc["content"]) + "\n"


def _html_block(node: PMNode) -> str:
    kind = node["type"]
    content: list[PMNode] = node.get("content", [])
    attrs: dict[str, Any] = node.get("attrs", {})
    if kind == "paragraph":
        return f"<p>{_html_inline(content)}</p>"
    if kind == "heading":
        return f"<h{attrs['level']}>{_html_inline(content)}</h{attrs['level']}>"
    if kind == "codeBlock":
        language = attrs["language"]
        cls = f' class="language-{_esc(language)}"' if language else ""
        code = content[0]["text"] if content else ""
        return f"<pre><code{cls}>{_esc(code)}</code></pre>"
    if kind == "horizontalRule":
        return "<hr>"
    inner = "".join(_html_block(child) for child in content)
    if kind == "blockquote":
        return f"<blockquote>{inner}</blockquote>"
    if kind == "bulletList":
        return f"<ul>{inner}</ul>"
    if kind == "orderedList":
        start = f' start="{attrs["start"]}"' if attrs["start"] != 1 else ""
        list_type = f' type="{attrs["type"]}"' if attrs["type"] in _OL_TYPES else ""
        return f"<ol{start}{list_type}>{inner}</ol>"
    if kind == "listItem":
        return f"<li>{inner}</li>"
    if kind == "taskList":
        return f'<ul data-type="taskList">{inner}</ul>'
    if kind == "taskItem":
        # The same structure Tiptap renders, so a paste back into the editor keeps the tasks.
        checked = attrs["checked"]
        return (
            f'<li data-type="taskItem" data-checked="{"true" if checked else "false"}">'
            f'<label><input type="checkbox" disabled{" checked" if checked else ""}></label>'
            f"<div>{inner}</div></li>"
        )
    raise AssertionError(kind)  # pragma: no cover - normalize_json admits nothing else


def _html_inline(content: list[PMNode]) -> str:
    items = [{**n, "marks": _safe_marks(n["marks"])} if n.get("marks") else n for n in content]
    out: list[str] = []
    for op, value in _inline_ops(items):
        if op == "text":
            out.append(_esc(value["text"]))
        elif op == "break":
            out.append("<br>")
        elif op == "open":
            out.append(_html_open(value))
        else:
            out.append(f"</{_HTML_TAGS.get(value['type'], 'a')}>")
    return "".join(out)


def _html_open(mark: PMNode) -> str:
    if mark["type"] != "link":
        return f"<{_HTML_TAGS[mark['type']]}>"
    attrs: dict[str, Any] = mark["attrs"]
    parts = [f'href="{_esc(attrs["href"])}"']
    for name in ("target", "rel", "class", "title"):
        if attrs[name] is not None:
            parts.append(f'{name}="{_esc(attrs[name])}"')
    return f"<a {' '.join(parts)}>"


_STYLE = (
    "body{margin:0;font:16px/1.6 system-ui,sans-serif;color:#1f2328;background:#fff}"
    "article{max-width:46rem;margin:2rem auto;padding:0 1rem;overflow-wrap:break-word}"
    # runs of spaces show as they do in the editor
    "p,h1,h2,h3{white-space:pre-wrap}"
    "pre{background:#f6f8fa;padding:.75rem 1rem;border-radius:6px;overflow:auto}"
    "code{font-family:ui-monospace,monospace;font-size:.9em}"
    "blockquote{margin:1rem 0;padding-left:1rem;border-left:3px solid #d0d7de;color:#57606a}"
    'ul[data-type="taskList"]{list-style:none;padding-left:.25rem}'
    'li[data-type="taskItem"]{display:flex;gap:.5rem}'
    'li[data-type="taskItem"]>div{flex:1}'
    "hr{border:0;border-top:1px solid #d0d7de;margin:1.5rem 0}"
)
# The stylesheet is ours, so the policy can name it by hash instead of allowing inline styles;
# nothing else may load or run.
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
_CSP = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; img-src 'none'; "
    "base-uri 'none'; form-action 'none'"
)


def json_to_html_document(node: PMNode, title: str) -> str:
    """A standalone HTML file: charset declared, and a Content-Security-Policy that lets nothing
    run or load even if a browser misparsed something."""
    body = json_to_html(node)
    return (
        "<!DOCTYPE html>\n<html>\n<head>\n"
        '<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_esc(title)}</title>\n"
        f"<style>{_STYLE}</style>\n"
        "</head>\n<body>\n<article>\n"
        f"{body}"
        "</article>\n</body>\n</html>\n"
    )


# ---------------------------------------------------------------------------------------------
# JSON -> Markdown

_MD_ALWAYS = re.compile(r"([\\`*_\[\]<~|])|&(?=#?[0-9A-Za-z]+;)")
_MD_LINE_START = re.compile(r"([#>+=-])|(\d{1,9})([.)])")


def _ws_entities(ws: str) -> str:
    return ws.replace(" ", "&#32;").replace("\t", "&#9;")


def _md_escape(text: str, *, line_start: bool, line_end: bool, heading: bool) -> str:
    # Spaces where a line starts or ends would be stripped (or start a code block): entities
    # keep them.
    lead = len(text) - len(text.lstrip(" \t")) if line_start else 0
    tail = max(len(text.rstrip(" \t")), lead) if line_end else len(text)
    escaped = _MD_ALWAYS.sub(lambda m: "\\" + m.group(0), text[lead:tail])
    if heading:
        escaped = escaped.replace("#", "\\#")
    elif line_start and not lead:
        match = _MD_LINE_START.match(escaped)
        if match is not None:
            if match.group(1):
                escaped = "\\" + escaped
            else:
                cut = match.end(2)
                escaped = escaped[:cut] + "\\" + escaped[cut:]
    return _ws_entities(text[:lead]) + escaped + _ws_entities(text[tail:])


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


def json_to_markdown(node: PMNode) -> str:
    """CommonMark with GFM task lists and strikethrough. Underline has no Markdown syntax and is
    written as <u>...</u>, which markdown_to_json reads back. Text is escaped to stay literal."""
    doc = normalize_json(node)
    text = _md_blocks(doc["content"])
    return text + "\n" if text else ""


def _md_blocks(blocks: Sequence[PMNode], *, in_item: bool = False) -> str:
    parts: list[str] = []
    marker: str | None = None  # list marker of the block written last, if it was a list
    for i, block in enumerate(blocks):
        rendered, marker_used = _md_block(block, marker, keep_empty=in_item and i == 0)
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
    if block["type"] not in _LIST_ITEM:
        return False
    if block["type"] == "orderedList" and block["attrs"]["start"] != 1:
        return False
    return bool(block["content"][0]["content"][0].get("content"))


def _indent(text: str, first: str, rest: str, *, keep_marker_space: bool = False) -> str:
    lines = text.split("\n")
    head = first + lines[0] if lines[0] or keep_marker_space else first.rstrip(" ")
    return "\n".join([head, *(rest + line if line else "" for line in lines[1:])])


def _md_block(
    node: PMNode, marker_before: str | None, *, keep_empty: bool
) -> tuple[str | None, str | None]:
    """The block's Markdown (None to leave it out) and the list marker it used, if any."""
    kind = node["type"]
    if kind in _LIST_ITEM:
        return _md_list(node, marker_before)
    return _md_leaf_block(node, keep_empty=keep_empty), None


def _md_leaf_block(node: PMNode, *, keep_empty: bool) -> str | None:
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
        inner = _md_blocks(content)
        return "\n".join("> " + line if line else ">" for line in inner.split("\n"))
    raise AssertionError(kind)  # pragma: no cover


def _md_list(node: PMNode, marker_before: str | None) -> tuple[str, str]:
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
        inner = _md_blocks(item["content"], in_item=True)
        # the space after "]" is what makes an empty item a task
        lines.append(_indent(inner, marker, " " * width, keep_marker_space=kind == "taskList"))
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
            node = _text(
                node["text"], [m for m in marks if m["type"] not in _FLANKING or m in near]
            )
        out.append(node)
    return out


def _expel_whitespace(ops: list[_Op]) -> list[_Op]:
    """Moves whitespace and line breaks at the inner edge of emphasis delimiters outside them
    (`** x**` is not bold): before the first emphasis opener, after the last emphasis closer."""
    # Each pass moves a break past one delimiter run; several breaks in a row need more.
    for _ in range(len(ops) + 1):
        moved = _expel_once(ops)
        if moved == ops:
            break
        ops = moved
    return ops


def _expel_once(ops: list[_Op]) -> list[_Op]:
    out: list[_Op] = []
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
                out.insert(first, ("text", _text(text[: len(text) - len(text.lstrip())])))
                value = {**value, "text": text.lstrip()}
        if op != "text" or value["text"]:
            out.append((op, value))
    result: list[_Op] = []  # built backwards
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
                result.insert(at, ("text", _text(text[len(text.rstrip()) :])))
                value = {**value, "text": text.rstrip()}
                if not value["text"]:
                    continue
        result.append((op, value))
    result.reverse()
    return result


def _md_inline(content: list[PMNode], *, heading: bool) -> str:
    items = _drop_lone_emphasis(
        [{**n, "marks": _safe_marks(n["marks"])} if n.get("marks") else n for n in content]
    )
    # Outside delimiters first: `[` and `<u>` are safe next to letters, `*` may not be.
    order = ("link", "underline", "strike", "bold", "italic", "code")
    ops = _expel_whitespace(list(_inline_ops(items, atomic=frozenset({"code"}), order=order)))
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
                out.append(_md_code_span(text))
            else:
                out.append(
                    _md_escape(
                        text,
                        line_start=line_start,
                        line_end=upcoming[index] != "text",
                        heading=heading,
                    )
                )
            line_start = False
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


def _italic_ends_in_word(ops: list[_Op], index: int) -> bool:
    """Whether the italic opened at ops[index] is closed right before a letter or digit."""
    mark = ops[index][1]
    for position in range(index + 1, len(ops) - 1):
        if ops[position] == ("close", mark):
            op, after = ops[position + 1]
            code = bool(after.get("marks")) and after["marks"][0]["type"] == "code"
            return op == "text" and not code and after["text"][:1].isalnum()
    return False


# ---------------------------------------------------------------------------------------------
# JSON -> plain text


def json_to_text(node: PMNode) -> str:
    """Plain text: blocks separated by blank lines, list items prefixed ("- ", "1. ", "- [x] "),
    quotes prefixed with "> "."""
    doc = normalize_json(node)
    text = _text_blocks(doc["content"])
    return text + "\n" if text else ""


def _text_blocks(blocks: Sequence[PMNode], *, in_item: bool = False) -> str:
    parts: list[str] = []
    for block in blocks:
        rendered = _text_block(block)
        if not rendered:
            continue
        if parts and in_item and block["type"] in _LIST_ITEM:
            parts[-1] += "\n" + rendered
        else:
            parts.append(rendered)
    return "\n\n".join(parts)


def _text_block(node: PMNode) -> str:
    kind = node["type"]
    content: list[PMNode] = node.get("content", [])
    attrs: dict[str, Any] = node.get("attrs", {})
    if kind in _TEXTBLOCKS or kind == "codeBlock":
        return "".join(n["text"] if n["type"] == "text" else "\n" for n in content)
    if kind == "horizontalRule":
        return "---"
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
        lines.append(_indent(inner, marker, " " * len(marker)))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Markdown -> JSON


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


def doc_to_markdown(doc: Doc[Any]) -> str:
    return json_to_markdown(doc_to_json(doc))


def doc_to_html(doc: Doc[Any]) -> str:
    return json_to_html(doc_to_json(doc))


def doc_to_text(doc: Doc[Any]) -> str:
    return json_to_text(doc_to_json(doc))


def markdown_to_json(markdown: str) -> PMNode:
    """Parse CommonMark (plus GFM task lists, strikethrough and tables). What the schema has no
    place for degrades to text: images become links labelled with their alt text, tables
    become one paragraph per row, raw HTML stays literal text (except <u> and <br>)."""
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
    return _fit_doc(root)


def _md_open(token: Token, siblings: list[PMNode]) -> PMNode | None:
    kind = token.type
    if kind == "paragraph_open":
        return _node("paragraph")
    if kind == "heading_open":
        return _node("heading", {"level": min(int(token.tag[1:]), 3)})
    if kind == "blockquote_open":
        return _node("blockquote")
    if kind == "bullet_list_open":
        return _node("bulletList")
    if kind == "ordered_list_open":
        start = token.attrGet("start")
        return _node("orderedList", {"start": int(start) if start is not None else 1})
    if kind == "list_item_open":
        if token.meta and "checked" in token.meta:
            return _node("taskItem", {"checked": bool(token.meta["checked"])})
        return _node("listItem")
    if kind == "tr_open":
        return _node("paragraph")
    if kind in ("th_open", "td_open") and siblings:
        siblings.append(_text(" | "))
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
            out.append(_node(kind, attrs, []))
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
        return [_node("codeBlock", {"language": language}, [_text(code)] if code else [])]
    if kind == "hr":
        return [_node("horizontalRule")]
    if kind == "html_block":
        lines = token.content.rstrip("\n").split("\n")
        inline: list[PMNode] = []
        for i, line in enumerate(lines):
            if i:
                inline.append(_node("hardBreak"))
            inline.append(_text(line))
        return [_node("paragraph", None, inline)]
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
            marks.append(_mark(simple[base]))
        elif base in simple and kind.endswith("_close"):
            drop(simple[base])
        elif kind == "link_open":
            has_link = any(m["type"] == "link" for m in marks)
            link = None if has_link else _mark("link", _md_link_attrs(token))
            links.append(link)
            if link is not None:
                marks.append(link)
        elif kind == "link_close":
            if links and links.pop() is not None:
                drop("link")
        elif kind == "text" or kind == "text_special":
            out.append(_text(token.content, marks))
        elif kind == "code_inline":
            out.append(_text(token.content, [*marks, _mark("code")]))
        elif kind == "softbreak":
            out.append(_text(" ", marks))
        elif kind == "hardbreak":
            out.append(_node("hardBreak"))
        elif kind == "image":
            src = token.attrGet("src")
            label = token.content or (str(src) if src else "")
            link_marks = list(marks)
            if isinstance(src, str) and src and not any(m["type"] == "link" for m in marks):
                link_marks.append(_mark("link", {"href": src, "title": token.attrGet("title")}))
            out.append(_text(label, link_marks))
        elif kind == "html_inline":
            if i in underline:
                if token.content.strip().lower() == "<u>":
                    marks.append(_mark("underline"))
                else:
                    drop("underline")
            elif _BR.fullmatch(token.content.strip()):
                out.append(_node("hardBreak"))
            else:
                out.append(_text(token.content, marks))
        elif token.content:
            out.append(_text(token.content, marks))
    return out


def _md_link_attrs(token: Token) -> dict[str, Any]:
    title = token.attrGet("title")
    return {"href": str(token.attrGet("href") or ""), "title": str(title) if title else None}


# ---------------------------------------------------------------------------------------------
# HTML -> JSON

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
            self.inline.append(_text(text, marks))

    def hard_break(self) -> None:
        self.inline.append(_node("hardBreak"))

    def flush(self, *, force: bool = False) -> list[PMNode]:
        """Ends the current run; returns it (as inline nodes) or adds it as a paragraph."""
        inline = self.inline
        self.inline = []
        if inline and inline[-1]["type"] == "text":
            stripped = inline[-1]["text"].rstrip(" ")
            inline[-1] = _text(stripped, inline[-1].get("marks", []))
        inline = _merge_text(inline)
        if force:
            return inline
        if inline and not all(n["type"] == "hardBreak" for n in inline):
            self.blocks.append(_node("paragraph", None, inline))
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
    return _fit_doc(out.blocks)


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
        added.append(_mark(kind))
    if tag == "a" and "href" in element.attrs and safe_href(element.attrs["href"]) is not None:
        attrs: dict[str, Any] = {"href": element.attrs["href"]}
        for name in ("target", "rel", "class", "title"):
            if name in element.attrs:
                attrs[name] = element.attrs[name]
        added.append(_mark("link", attrs))
    if style:
        for pattern, mark in (
            (_BOLD_STYLE, "bold"),
            (_ITALIC_STYLE, "italic"),
            (_UNDERLINE_STYLE, "underline"),
            (_STRIKE_STYLE, "strike"),
        ):
            if pattern.search(style):
                added.append(_mark(mark))
    return [*marks, *added] if added else marks


def _html_element(element: _El, out: _Blocks, marks: list[PMNode]) -> None:
    tag = element.tag
    if tag == "br":
        out.hard_break()
    elif tag == "img":
        src = element.attrs.get("src", "")
        label = element.attrs.get("alt") or src
        if label:
            link = [_mark("link", {"href": src})] if src and safe_href(src) is not None else []
            out.text(
                label, [*marks, *link] if not any(m["type"] == "link" for m in marks) else marks
            )
    elif tag == "hr":
        out.add(_node("horizontalRule"))
    elif tag == "p" or tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
        inner = _Blocks()
        _html_children(element.children, inner, _html_marks(element, marks))
        rest = inner.flush(force=True)
        # Blocks inside a paragraph or heading: their lines join it, anything else follows it.
        inline: list[PMNode] = []
        after: list[PMNode] = []
        for part in [*inner.blocks, _node("paragraph", None, rest)]:
            if part["type"] not in _TEXTBLOCKS:
                after.append(part)
            elif part.get("content"):
                inline.extend([_node("hardBreak"), *part["content"]] if inline else part["content"])
        attrs = {"level": min(int(tag[1]), 3)} if tag != "p" else None
        out.add(_node("paragraph" if tag == "p" else "heading", attrs, inline))
        for block in after:
            out.add(block)
    elif tag == "pre":
        out.add(_html_pre(element))
    elif tag == "blockquote":
        out.add(_node("blockquote", None, _html_container(element.children, marks)))
    elif tag in _LIST_TAGS:
        for block in _html_list(element, marks):
            out.add(block)
    elif tag == "li":
        out.add(
            _node(
                "bulletList",
                None,
                [_node("listItem", None, _html_container(element.children, marks))],
            )
        )
    elif tag == "tr":
        out.flush()
        cells = [c for c in element.children if isinstance(c, _El) and c.tag in ("td", "th")]
        for i, cell in enumerate(cells):
            if i:
                out.text(" | ", marks)
            _html_children(cell.children, out, _html_marks(cell, marks))
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
    return _node("codeBlock", {"language": language or None}, [_text(code)] if code else [])


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
            kind, item = "taskList", _node("taskItem", {"checked": state}, blocks)
        else:
            kind, item = (
                ("orderedList" if ordered else "bulletList"),
                _node("listItem", None, blocks),
            )
        if not lists or lists[-1]["type"] != kind:
            attrs = {"start": start + i, "type": list_type} if kind == "orderedList" else None
            lists.append(_node(kind, attrs))
            lists[-1]["content"] = []
        lists[-1]["content"].append(item)
    return lists


# -- whole documents: what export and import work with ------------------------------------------

EXPORT_FORMATS = ("md", "html", "txt", "json")


def render_state(state: bytes, fmt: str, title: str) -> str:
    """A document's full state (one Yjs update) in an export format; ValueError if unknown."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}")
    doc: Doc[Any] = Doc()
    doc.apply_update(state)
    node = doc_to_json(doc)
    if fmt == "md":
        return json_to_markdown(node)
    if fmt == "html":
        return json_to_html_document(node, title)
    if fmt == "txt":
        return json_to_text(node)
    return json.dumps({"title": title, "content": node}, ensure_ascii=False)


def state_from_content(
    *, title: str | None = None, markdown: str | None = None, html: str | None = None
) -> bytes:
    """A new document's state from imported Markdown or HTML, titled in its `meta` map."""
    if markdown is not None and html is not None:
        raise ValueError("give markdown or html, not both")
    doc: Doc[Any] = Doc()
    if markdown is not None:
        write_json(doc, markdown_to_json(markdown))
    elif html is not None:
        write_json(doc, html_to_json(html))
    if title:
        doc.get("meta", type=Map)["title"] = title
    return doc.get_update()

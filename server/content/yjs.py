"""ProseMirror JSON <-> the Yjs XmlFragment the editor binds to, read and written as y-tiptap does.

The browser edits documents with Tiptap 3, bound by @tiptap/y-tiptap to the `Y.XmlFragment`
named "default". What y-tiptap stores, as seen from pycrdt:

- each ProseMirror node other than text is a `XmlElement` whose tag is the node type name and
  whose attributes are the node's attrs that are not null, with their JSON types (numbers come
  back from pycrdt as floats, booleans as bools); y-tiptap never stores a node's marks;
- each run of adjacent text nodes is one `XmlText`; each mark is a formatting attribute named
  after the mark type whose value is the mark's attrs object, complete with defaults
  (`{"bold": {}}`, `{"link": {"href": ..., "target": "_blank", ...}}`). A mark type that does
  not exclude itself would get a `--<hash>` suffix; none of ours does, but readers strip it.
"""

from __future__ import annotations

import re
from typing import Any

from pycrdt import Doc, XmlElement, XmlFragment, XmlText

from .schema import (
    FRAGMENT,
    MARK_RANK,
    MAX_DEPTH,
    NODE_ATTRS,
    NODE_TYPES,
    AttrSpec,
    PMNode,
    fit_doc,
    make_mark,
    make_node,
    make_text,
    normalize_json,
)

_HASHED_MARK = re.compile(r"(.*)--[a-zA-Z0-9+/=]{8}")


def doc_to_json(doc: Doc[Any]) -> PMNode:
    """The document as ProseMirror JSON. Like the browser, which deletes what its schema cannot
    build, elements of unknown type and unknown marks are left out; so is anything nested more
    than MAX_DEPTH levels deep. The result always passes validate_json."""
    fragment = doc.get(FRAGMENT, type=XmlFragment)
    with doc.transaction():
        content = _read_children(fragment, 1)
    return fit_doc(content)


def _read_children(parent: XmlFragment | XmlElement, depth: int) -> list[PMNode]:
    out: list[PMNode] = []
    if depth >= MAX_DEPTH:  # leaves room for the paragraph _fit_blocks may add, and its text
        return out
    for child in parent.children:
        if isinstance(child, XmlText):
            out.extend(_read_text(child))
        elif isinstance(child, XmlElement):
            kind = child.tag
            if kind is None or kind not in NODE_TYPES or kind in ("doc", "text"):
                continue
            spec = NODE_ATTRS.get(kind, {})
            attrs = _read_attrs(spec, {name: child.attributes.get(name) for name in spec})
            out.append(make_node(kind, attrs, _read_children(child, depth + 1)))
    return out


def _read_attrs(spec: AttrSpec, raw: dict[str, Any]) -> dict[str, Any]:
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
            if name not in MARK_RANK or value is None:
                continue
            attrs = value if isinstance(value, dict) else {}
            if name == "link" and not isinstance(attrs.get("href"), str):
                continue
            marks.append(make_mark(name, attrs))
        out.append(make_text(insert, marks))
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

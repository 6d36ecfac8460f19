"""The document model: the names the editor stores, its node and mark types with their attrs and
nesting rules, and how ProseMirror JSON is checked, normalized and repaired to fit them.

The schema is the editor's (web/src/editor/schema.ts): StarterKit with headings 1-3, TaskList and
TaskItem (nested), Tiptap's Table (table, tableRow, tableHeader, tableCell) and Image (a block).
JSON produced here is shaped like `editor.getJSON()`: every attr of the node type present
(defaults included), marks sorted in the schema's order, adjacent text merged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

# The Y.Doc's shared types, as the browser names them (web/src/editor/editor.ts and
# web/src/doc/title.ts).
FRAGMENT = "default"  # the XmlFragment the editor binds to
META = "meta"  # a Map of document properties
TITLE = "title"  # the document's title, in META
PMNode = dict[str, Any]
# The editor schema's version (web/src/editor/schema.ts SCHEMA_VERSION; both are checked against
# tests/fixtures/editor_schema.json). Bumped with every node or mark type added: a page that
# announces an older one is refused before it syncs (Close.SCHEMA_OUTDATED) and reloads.
SCHEMA_VERSION = 2

_BLOCKS = frozenset(
    (
        "paragraph heading bulletList orderedList taskList blockquote codeBlock horizontalRule "
        "table image"
    ).split()
)
_INLINE = frozenset({"text", "hardBreak"})
TEXTBLOCKS = frozenset({"paragraph", "heading"})
LIST_ITEM = {"bulletList": "listItem", "orderedList": "listItem", "taskList": "taskItem"}
_ITEMS = frozenset({"listItem", "taskItem"})
CELLS = frozenset({"tableCell", "tableHeader"})
NODE_TYPES = _BLOCKS | _INLINE | _ITEMS | CELLS | {"doc", "tableRow"}
# Nodes with no content of their own.
_LEAVES = frozenset({"horizontalRule", "hardBreak", "image"})
# Converters recurse per level; real documents nest a few levels, hostile ones thousands.
MAX_DEPTH = 100

# ProseMirror sorts a node's marks by their rank in the schema; Tiptap puts link first because of
# its higher extension priority. getJSON() therefore lists marks in this order.
MARK_TYPES = ("link", "bold", "code", "italic", "strike", "underline")
MARK_RANK = {name: i for i, name in enumerate(MARK_TYPES)}

_Check = Callable[[Any], bool]


def _is_int(value: Any, low: int, high: int) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return float(value).is_integer() and low <= value <= high


def _opt_str(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _opt_int(value: Any) -> bool:
    return value is None or _is_int(value, 0, 100_000)


def _col_widths(value: Any) -> bool:
    return value is None or (isinstance(value, list) and all(_is_int(v, 0, 100_000) for v in value))


ALIGNS = ("left", "center", "right")


def _span(value: Any) -> bool:
    return _is_int(value, 1, 1000)


_CELL_ATTRS: dict[str, tuple[Any, Callable[[Any], bool], str]] = {
    "colspan": (1, _span, "an integer from 1 to 1000"),
    "rowspan": (1, _span, "an integer from 1 to 1000"),
    "colwidth": (None, _col_widths, "null or a list of widths in pixels"),
    "align": (None, lambda v: v in (None, *ALIGNS), "null, 'left', 'center' or 'right'"),
}


# attr name -> (default, check, what the check wants, for error messages)
AttrSpec = dict[str, tuple[Any, _Check, str]]
NODE_ATTRS: dict[str, AttrSpec] = {
    "heading": {"level": (1, lambda v: _is_int(v, 1, 3), "an integer from 1 to 3")},
    "orderedList": {
        # markdown allows at most nine digits in a list number
        "start": (1, lambda v: _is_int(v, 0, 999_999_999), "an integer from 0 to 999999999"),
        "type": (None, _opt_str, "a string or null"),
    },
    "taskItem": {"checked": (False, lambda v: isinstance(v, bool), "true or false")},
    "codeBlock": {"language": (None, _opt_str, "a string or null")},
    "tableCell": _CELL_ATTRS,
    "tableHeader": _CELL_ATTRS,
    "image": {
        "src": (None, _opt_str, "a string or null"),
        "alt": (None, _opt_str, "a string or null"),
        "title": (None, _opt_str, "a string or null"),
        "width": (None, _opt_int, "an integer or null"),
        "height": (None, _opt_int, "an integer or null"),
    },
}
_MARK_ATTRS: dict[str, AttrSpec] = {
    "link": {
        "href": (None, lambda v: isinstance(v, str), "a string"),
        "target": ("_blank", _opt_str, "a string or null"),
        "rel": ("noopener noreferrer nofollow", _opt_str, "a string or null"),
        "class": (None, _opt_str, "a string or null"),
        "title": (None, _opt_str, "a string or null"),
    }
}


def _canon_attrs(spec: AttrSpec, given: dict[str, Any] | None) -> dict[str, Any]:
    """All attrs of the type, defaults filled in; integral floats (JSON from JS) become ints."""
    out: dict[str, Any] = {}
    for name, (default, check, _) in spec.items():
        value = (given or {}).get(name, default)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        elif isinstance(value, list):
            value = [int(v) if isinstance(v, float) and v.is_integer() else v for v in value]
        out[name] = value if check(value) else default
    return out


def make_node(
    kind: str, attrs: dict[str, Any] | None = None, content: Sequence[PMNode] = ()
) -> PMNode:
    node: PMNode = {"type": kind}
    spec = NODE_ATTRS.get(kind)
    if spec is not None:
        node["attrs"] = _canon_attrs(spec, attrs)
    if content:
        node["content"] = list(content)
    return node


def make_mark(kind: str, attrs: dict[str, Any] | None = None) -> PMNode:
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
    return sorted(by_type.values(), key=lambda m: MARK_RANK[m["type"]])


def make_text(text: str, marks: Iterable[PMNode] = ()) -> PMNode:
    node: PMNode = {"type": "text", "text": text}
    ordered = _mark_set(marks)
    if ordered:
        node["marks"] = ordered
    return node


def merge_text(nodes: Iterable[PMNode]) -> list[PMNode]:
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
    if not isinstance(kind, str) or kind not in NODE_TYPES:
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
    _validate_attrs(node.get("attrs"), NODE_ATTRS.get(kind, {}), path, kind)
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
        if got in ("text", "hardBreak") and kind not in TEXTBLOCKS:
            return ValueError(
                f"{path}.content[{i}]: {got} is only allowed inside a paragraph or heading"
                + (" (a codeBlock holds plain text nodes)" if got == "hardBreak" else "")
            )
        return ValueError(f"{path}.content[{i}]: a {kind} may only contain {wanted}, got {got!r}")

    if kind in _LEAVES:
        if kinds:
            raise ValueError(f"{path}: a {kind} has no content")
        return
    if kind in TEXTBLOCKS or kind == "codeBlock":
        allowed = _INLINE if kind in TEXTBLOCKS else frozenset({"text"})
        wanted = "text and hardBreak nodes" if kind in TEXTBLOCKS else "text nodes"
        for i, child in enumerate(kinds):
            if child not in allowed and child in NODE_TYPES:
                raise bad(i, wanted)
        return
    if not kinds:
        raise ValueError(f"{path}: a {kind} needs at least one child node")
    if kind in LIST_ITEM or kind == "table":
        item = LIST_ITEM.get(kind, "tableRow")
        for i, child in enumerate(kinds):
            if child != item and child in NODE_TYPES:
                raise bad(i, f"{item} nodes")
        return
    if kind == "tableRow":
        for i, child in enumerate(kinds):
            if child not in CELLS and child in NODE_TYPES:
                raise bad(i, "tableCell and tableHeader nodes")
        return
    if kind in _ITEMS and kinds[0] != "paragraph" and kinds[0] in NODE_TYPES:
        raise ValueError(f"{path}.content[0]: a {kind} must start with a paragraph")
    for i, child in enumerate(kinds):
        if child not in _BLOCKS and child in NODE_TYPES:
            raise bad(i, "block nodes")


def _validate_attrs(attrs: Any, spec: AttrSpec, path: str, kind: str) -> None:
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
        if kind not in MARK_RANK:
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
        return make_text(
            node["text"], (make_mark(m["type"], m.get("attrs")) for m in node.get("marks", []))
        )
    content = [_canon(child) for child in node.get("content", [])]
    if kind in TEXTBLOCKS or kind == "codeBlock":
        content = merge_text(content)
    # hardBreak marks are dropped: y-tiptap does not store marks of non-text nodes.
    return make_node(kind, node.get("attrs"), content)


# ---------------------------------------------------------------------------------------------
# Repair: fitting loosely built trees (from Yjs, Markdown, HTML) into the schema, the way
# ProseMirror's parser fills required content and drops what has no place.


def fit_doc(content: Sequence[PMNode]) -> PMNode:
    return make_node("doc", None, _fit_blocks(content))


def _fit_blocks(nodes: Sequence[PMNode], *, item: bool = False) -> list[PMNode]:
    out: list[PMNode] = []
    inline: list[PMNode] = []

    def flush() -> None:
        fitted = _fit_inline(inline)
        if fitted:
            out.append(make_node("paragraph", None, fitted))
        inline.clear()

    for node in nodes:
        kind = node["type"]
        if kind in _INLINE:
            inline.append(node)
            continue
        if kind in TEXTBLOCKS and any(c["type"] in _BLOCKS for c in node.get("content", [])):
            # Markdown and HTML put images inside paragraphs; here an image is a block of its own.
            for part in _split_textblock(node):
                if part["type"] in TEXTBLOCKS:
                    flush()
                    out.append(make_node(kind, node.get("attrs"), _fit_inline(part["content"])))
                else:
                    flush()
                    fitted_part = _fit_block(part)
                    if fitted_part is not None:
                        out.append(fitted_part)
            continue
        flush()
        if kind in _ITEMS or kind in CELLS or kind in ("doc", "tableRow"):
            out.extend(_fit_blocks(node.get("content", [])))
        else:
            fitted_block = _fit_block(node)
            if fitted_block is not None:
                out.append(fitted_block)
    flush()
    if item and (not out or out[0]["type"] != "paragraph"):
        out.insert(0, make_node("paragraph"))
    if not out:
        out.append(make_node("paragraph"))
    return out


def _fit_inline(nodes: Sequence[PMNode]) -> list[PMNode]:
    kept = [
        make_node("hardBreak") if n["type"] == "hardBreak" else n
        for n in nodes
        if n["type"] in _INLINE
    ]
    return merge_text(kept)


def _fit_block(node: PMNode) -> PMNode | None:
    kind = node["type"]
    content: list[PMNode] = node.get("content", [])
    attrs = node.get("attrs")
    if kind in TEXTBLOCKS:
        return make_node(kind, attrs, _fit_inline(content))
    if kind == "codeBlock":
        code = "".join(
            n["text"] if n["type"] == "text" else "\n" if n["type"] == "hardBreak" else ""
            for n in content
        )
        return make_node(kind, attrs, [make_text(code)] if code else [])
    if kind == "horizontalRule":
        return make_node(kind)
    if kind == "image":
        return make_node(kind, attrs) if (attrs or {}).get("src") else None
    if kind == "table":
        return _fit_table(content)
    if kind == "blockquote":
        return make_node(kind, None, _fit_blocks(content))
    if kind in LIST_ITEM:
        item_kind = LIST_ITEM[kind]
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
            make_node(
                item_kind,
                item_attrs if item_kind == "taskItem" else None,
                _fit_blocks(c, item=True),
            )
            for item_attrs, c in items
        ]
        return make_node(kind, attrs, fitted)
    return None


def _fit_table(content: Sequence[PMNode]) -> PMNode | None:
    """Rows of cells; whatever else a table holds becomes a one-cell row, so nothing is lost.
    prosemirror-tables pads short rows itself, in every editor, so rows are left as they are."""
    rows: list[PMNode] = []
    for child in content:
        cells = child.get("content", []) if child["type"] == "tableRow" else [child]
        fitted = [
            make_node(
                cell["type"] if cell["type"] in CELLS else "tableCell",
                cell.get("attrs") if cell["type"] in CELLS else None,
                _fit_blocks(cell.get("content", []) if cell["type"] in CELLS else [cell]),
            )
            for cell in cells
        ]
        if fitted:
            rows.append(make_node("tableRow", None, fitted))
    return make_node("table", None, rows) if rows else None


def _split_textblock(node: PMNode) -> list[PMNode]:
    """A textblock's runs of inline content, and the blocks between them, in order; runs that
    hold nothing are left out."""
    parts: list[PMNode] = []
    run: list[PMNode] = []
    for child in node.get("content", []):
        if child["type"] in _BLOCKS:
            if any(n["type"] != "text" or n["text"].strip() for n in run):
                parts.append({"type": node["type"], "content": run})
            parts.append(child)
            run = []
        else:
            run.append(child)
    if any(n["type"] != "text" or n["text"].strip() for n in run):
        parts.append({"type": node["type"], "content": run})
    return parts

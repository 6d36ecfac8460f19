"""ProseMirror JSON -> HTML: the document body, and the standalone file an export serves."""

from __future__ import annotations

import base64
import hashlib
from html import escape
from typing import Any

from .links import absolute, safe_marks, safe_src
from .marks import inline_ops
from .schema import PMNode, normalize_json


def _esc(text: str) -> str:
    return escape(text, quote=True)


_HTML_TAGS = {"bold": "strong", "italic": "em", "underline": "u", "strike": "s", "code": "code"}
_OL_TYPES = frozenset({"1", "a", "A", "i", "I"})


def json_to_html(node: PMNode, *, base: str = "") -> str:
    """Semantic HTML for the document body. All content is escaped; unsafe link targets are
    dropped (the text stays), so are images from anywhere but http(s) or this server; image
    addresses are made absolute against `base`."""
    doc = normalize_json(node)
    return "\n".join(_html_block(block, base) for block in doc["content"]) + "\n"


def html_image(attrs: dict[str, Any], base: str) -> str:
    src = safe_src(attrs["src"])
    if src is None:
        return ""
    parts = [f'src="{_esc(absolute(src, base))}"', f'alt="{_esc(attrs["alt"] or "")}"']
    for name in ("title", "width", "height"):
        if attrs[name] is not None:
            parts.append(f'{name}="{_esc(str(attrs[name]))}"')
    return f"<img {' '.join(parts)}>"


def html_table(node: PMNode, base: str) -> str:
    rows: list[str] = []
    for row in node["content"]:
        cells: list[str] = []
        for cell in row["content"]:
            tag = "th" if cell["type"] == "tableHeader" else "td"
            spans = "".join(
                f' {name}="{cell["attrs"][name]}"'
                for name in ("colspan", "rowspan")
                if cell["attrs"][name] != 1
            )
            if cell["attrs"]["align"] is not None:
                spans += f' align="{cell["attrs"]["align"]}"'
            inner = "".join(_html_block(child, base) for child in cell["content"])
            cells.append(f"<{tag}{spans}>{inner}</{tag}>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><tbody>{''.join(rows)}</tbody></table>"


def _html_block(node: PMNode, base: str = "") -> str:
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
    if kind == "image":
        return html_image(attrs, base)
    if kind == "table":
        return html_table(node, base)
    inner = "".join(_html_block(child, base) for child in content)
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
    items = [{**n, "marks": safe_marks(n["marks"])} if n.get("marks") else n for n in content]
    out: list[str] = []
    for op, value in inline_ops(items):
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
    "table{border-collapse:collapse;margin:1rem 0;width:100%}"
    "td,th{border:1px solid #d0d7de;padding:.25rem .5rem;vertical-align:top;text-align:left}"
    "td>p,th>p{margin:0}img{max-width:100%;height:auto}"
    "hr{border:0;border-top:1px solid #d0d7de;margin:1.5rem 0}"
)
# The stylesheet is ours, so the policy can name it by hash instead of allowing inline styles;
# nothing else may load or run.
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
_CSP = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; img-src http: https:; "
    "base-uri 'none'; form-action 'none'"
)


def json_to_html_document(node: PMNode, title: str, *, base: str = "") -> str:
    """A standalone HTML file: charset declared, and a Content-Security-Policy that lets nothing
    run or load (but images) even if a browser misparsed something."""
    body = json_to_html(node, base=base)
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

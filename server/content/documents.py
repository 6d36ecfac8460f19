"""Whole documents: a stored Yjs state in an export format, and a new document's state from
imported Markdown or HTML."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pycrdt import Doc, Map

from .html_in import html_to_json
from .html_out import json_to_html, json_to_html_document
from .markdown_in import markdown_to_json
from .markdown_out import json_to_markdown
from .schema import META, TITLE
from .text import json_to_text
from .yjs import doc_to_json, write_json


def doc_to_markdown(doc: Doc[Any]) -> str:
    return json_to_markdown(doc_to_json(doc))


def doc_to_html(doc: Doc[Any]) -> str:
    return json_to_html(doc_to_json(doc))


def doc_to_text(doc: Doc[Any]) -> str:
    return json_to_text(doc_to_json(doc))


EXPORT_FORMATS = ("md", "html", "txt", "json")


def render_state(state: bytes, fmt: str, title: str, *, base: str = "") -> str:
    """A document's full state (one Yjs update) in an export format; ValueError if unknown.
    Image addresses on this server are made absolute against `base` (its public address)."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}")
    doc: Doc[Any] = Doc(skip_gc=True)  # stored client content: see sync.integrate.new_doc
    doc.apply_update(state)
    node = doc_to_json(doc)
    if fmt == "md":
        return json_to_markdown(node, base=base)
    if fmt == "html":
        return json_to_html_document(node, title, base=base)
    if fmt == "txt":
        return json_to_text(node)
    return json.dumps({"title": title, "content": node}, ensure_ascii=False)


def with_change(state: bytes, mutate: Callable[[Doc[Any]], None]) -> bytes:
    """A full state: `state` with a change made on top of it (a copy's new title, say)."""
    doc: Doc[Any] = Doc(skip_gc=True)  # stored client content: see sync.integrate.new_doc
    doc.apply_update(state)
    mutate(doc)
    return doc.get_update()


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
        doc.get(META, type=Map)[TITLE] = title
    return doc.get_update()

"""Document content: the editor's schema and every conversion of a document (Yjs, Markdown, HTML,
plain text), pure: nothing here may import starlette, aiosqlite or asyncio, nor do any I/O.

One module per job:

- `schema`: the names the editor stores, node and mark types, validation, normalization, repair
- `yjs`: ProseMirror JSON <-> the Yjs XmlFragment, as y-tiptap builds it
- `links`: which link targets a document may keep
- `marks`: inline content as mark openings and closings, for the HTML and Markdown writers
- `html_out`, `html_in`: JSON -> HTML (body and export file); HTML -> JSON
- `markdown_out`, `markdown_in`: JSON -> CommonMark; CommonMark -> JSON
- `text`: JSON -> plain text
- `documents`: whole documents, as export and import work with them
"""

from .documents import (
    EXPORT_FORMATS,
    doc_to_html,
    doc_to_markdown,
    doc_to_text,
    render_state,
    state_from_content,
    with_change,
)
from .html_in import html_to_json
from .html_out import json_to_html, json_to_html_document
from .links import safe_href
from .markdown_in import markdown_to_json
from .markdown_out import json_to_markdown
from .schema import FRAGMENT, META, TITLE, PMNode, normalize_json, validate_json
from .text import json_to_text
from .yjs import doc_to_json, write_json

__all__ = [
    "EXPORT_FORMATS",
    "FRAGMENT",
    "META",
    "TITLE",
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
    "render_state",
    "safe_href",
    "state_from_content",
    "validate_json",
    "with_change",
    "write_json",
]

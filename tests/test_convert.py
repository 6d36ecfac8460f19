"""Content conversion: Yjs fragment <-> ProseMirror JSON <-> Markdown / HTML / text, checked
against bytes and readers of the real editor code (Tiptap + y-tiptap in Node)."""

from __future__ import annotations

import ast
import base64
import copy
import hashlib
import html
import json
import random
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, XmlElement, XmlFragment, XmlText

from server.content import (
    FRAGMENT,
    PMNode,
    doc_to_html,
    doc_to_json,
    doc_to_markdown,
    doc_to_text,
    html_to_json,
    json_to_html,
    json_to_html_document,
    json_to_markdown,
    json_to_text,
    markdown_to_json,
    normalize_json,
    safe_href,
    validate_json,
    write_json,
)
from tests.node_scripts import run_node_script

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# -- builders for documents in the canonical shape (the one editor.getJSON() has) -------------

LINK_DEFAULTS = {"target": "_blank", "rel": "noopener noreferrer nofollow", "class": None}


def t(text: str, *marks: str | PMNode) -> PMNode:
    node: PMNode = {"type": "text", "text": text}
    if marks:
        node["marks"] = [{"type": m} if isinstance(m, str) else m for m in marks]
    return node


def link(href: str, title: str | None = None) -> PMNode:
    return {"type": "link", "attrs": {"href": href, **LINK_DEFAULTS, "title": title}}


def p(*content: PMNode) -> PMNode:
    return {"type": "paragraph", "content": list(content)} if content else {"type": "paragraph"}


def h(level: int, *content: PMNode) -> PMNode:
    return {"type": "heading", "attrs": {"level": level}, "content": list(content)}


BR: PMNode = {"type": "hardBreak"}
HR: PMNode = {"type": "horizontalRule"}


def ul(*items: PMNode) -> PMNode:
    return {"type": "bulletList", "content": list(items)}


def ol(*items: PMNode, start: int = 1) -> PMNode:
    return {"type": "orderedList", "attrs": {"start": start, "type": None}, "content": list(items)}


def li(*blocks: PMNode) -> PMNode:
    return {"type": "listItem", "content": list(blocks)}


def tasks(*items: PMNode) -> PMNode:
    return {"type": "taskList", "content": list(items)}


def task(checked: bool, *blocks: PMNode) -> PMNode:
    return {"type": "taskItem", "attrs": {"checked": checked}, "content": list(blocks)}


def quote(*blocks: PMNode) -> PMNode:
    return {"type": "blockquote", "content": list(blocks)}


def code(text: str, language: str | None = None) -> PMNode:
    node: PMNode = {"type": "codeBlock", "attrs": {"language": language}}
    if text:
        node["content"] = [t(text)]
    return node


def doc(*blocks: PMNode) -> PMNode:
    return {"type": "doc", "content": list(blocks)}


def img(src: str, alt: str | None = None, title: str | None = None) -> PMNode:
    attrs = {"src": src, "alt": alt, "title": title, "width": None, "height": None}
    return {"type": "image", "attrs": attrs}


def table(*rows: PMNode) -> PMNode:
    return {"type": "table", "content": list(rows)}


def row(*cells: PMNode) -> PMNode:
    return {"type": "tableRow", "content": list(cells)}


def _cell(
    kind: str, blocks: tuple[PMNode, ...], colspan: int, rowspan: int, align: str | None
) -> PMNode:
    attrs = {"colspan": colspan, "rowspan": rowspan, "colwidth": None, "align": align}
    return {"type": kind, "attrs": attrs, "content": list(blocks)}


def th(*blocks: PMNode, colspan: int = 1, rowspan: int = 1, align: str | None = None) -> PMNode:
    return _cell("tableHeader", blocks, colspan, rowspan, align)


def td(*blocks: PMNode, colspan: int = 1, rowspan: int = 1, align: str | None = None) -> PMNode:
    return _cell("tableCell", blocks, colspan, rowspan, align)


EMPTY = doc(p())

FULL = doc(
    h(1, t("Project "), t("Coedit", "bold")),
    h(2, t("Second level")),
    h(3, t("Third level")),
    p(
        t("Plain, "),
        t("bold", "bold"),
        t(", "),
        t("italic", "italic"),
        t(", "),
        t("underline", "underline"),
        t(", "),
        t("strike", "strike"),
        t(", "),
        t("x = y * 2", "code"),
        t(", "),
        t("bold italic", "bold", "italic"),
        t(", "),
        t(
            "everything",
            link("https://example.com/a?b=1&c=2"),
            "bold",
            "italic",
            "strike",
            "underline",
        ),
        t(" and "),
        t("a link", link("https://example.com/path_(with)_parens", "A title")),
        t("."),
        BR,
        t("After a hard break"),
        BR,
        t("and another."),
    ),
    ul(
        li(p(t("one"))),
        li(
            p(t("two")),
            ul(li(p(t("two.one"))), li(p(t("two.two")), ol(li(p(t("deep"))), start=7))),
        ),
        li(p(t("three")), p(t("second paragraph of three"))),
    ),
    ol(li(p(t("first"))), li(p(t("second")), ul(li(p(t("nested bullet"))))), start=5),
    ol(li(p(t("a separate ordered list")))),
    tasks(
        task(True, p(t("done"))),
        task(False, p(t("todo"))),
        task(False, p(t("parent")), tasks(task(True, p(t("nested done"))))),
    ),
    tasks(task(True, p(t("a separate task list")))),
    ul(li(p(t("a bullet list right after a task list")))),
    quote(p(t("Quoted "), t("text", "italic")), ul(li(p(t("quoted item")))), code("q = 1", "js")),
    code('def f(x):\n    return "<b>" + x\n\n\nprint(f("```"))', "python"),
    code("no language\n  indented"),
    HR,
    p(t("Unicode: 🎉 👩‍👩‍👧 中文 עברית مرحبا e\u0301")),
)


def roundtrip_via_doc(node: PMNode) -> PMNode:
    ydoc: Doc[Any] = Doc()
    write_json(ydoc, node)
    return doc_to_json(ydoc)


def without_hardbreak_marks(node: PMNode) -> PMNode:
    """editor.getJSON() can put marks on a hardBreak, but y-tiptap stores no marks for non-text
    nodes, so the browser itself loses them on reload."""
    node = copy.deepcopy(node)

    def strip(n: PMNode) -> None:
        if n["type"] == "hardBreak":
            n.pop("marks", None)
        for child in n.get("content", []):
            strip(child)

    strip(node)
    return node


def load_fixture() -> Doc[Any]:
    ydoc: Doc[Any] = Doc()
    ydoc.apply_update((FIXTURES / "editor_doc.bin").read_bytes())
    return ydoc


def sorted_marks(node: PMNode) -> PMNode:
    """The order of a Yjs text's formatting attributes is the order yrs or yjs happened to insert
    the format items; ProseMirror sorts marks by rank anyway, so it carries no meaning."""
    node = copy.deepcopy(node)

    def walk(n: PMNode) -> None:
        if "marks" in n:
            n["marks"].sort(key=lambda m: m["type"])
        for child in n.get("content", []):
            walk(child)

    walk(node)
    return node


def run_node_check(ydoc: Doc[Any], expected: PMNode) -> dict[str, Any]:
    payload = {"update": base64.b64encode(ydoc.get_update()).decode(), "json": expected}
    result: dict[str, Any] = run_node_script(
        "check_ydoc.mjs", payload, needs="@tiptap/y-tiptap", runs="the editor's y-tiptap"
    )
    return result


# -- the real editor's bytes ------------------------------------------------------------------

FIXTURE_MARKDOWN = """\
# Meeting notes

Plain, **bold**, _italic_, <u>underlined</u>, ~~struck~~, `x = 1` and a [link](https://example.com/a?b=1&c=2).\\
Second line with \\*stars\\* & \\<tags>

## Lists

- one
- two
  - nested

3. first
4. second

### Tasks

- [x] done
- [ ] todo

> Quoted — עברית 中文 🎉

```python
def f():
    return "<b>"
```

---

The end: **bold _and italic_** _then italic_ then[ **bold\\
link**](/docs/other?x=\\(1\\)) 1. not a list
"""

FIXTURE_HTML = (
    "<h1>Meeting notes</h1>\n"
    "<p>Plain, <strong>bold</strong>, <em>italic</em>, <u>underlined</u>, <s>struck</s>, "
    '<code>x = 1</code> and a <a href="https://example.com/a?b=1&amp;c=2" target="_blank" '
    'rel="noopener noreferrer nofollow">link</a>.<br>Second line with *stars* &amp; '
    "&lt;tags&gt;</p>\n"
    "<h2>Lists</h2>\n"
    "<ul><li><p>one</p></li><li><p>two</p><ul><li><p>nested</p></li></ul></li></ul>\n"
    '<ol start="3"><li><p>first</p></li><li><p>second</p></li></ol>\n'
    "<h3>Tasks</h3>\n"
    '<ul data-type="taskList"><li data-type="taskItem" data-checked="true"><label>'
    '<input type="checkbox" disabled checked></label><div><p>done</p></div></li>'
    '<li data-type="taskItem" data-checked="false"><label><input type="checkbox" disabled>'
    "</label><div><p>todo</p></div></li></ul>\n"
    "<blockquote><p>Quoted — עברית 中文 🎉</p></blockquote>\n"
    '<pre><code class="language-python">def f():\n    return &quot;&lt;b&gt;&quot;</code></pre>\n'
    "<hr>\n"
    "<p>The end: <strong>bold <em>and italic</em></strong><em> then italic</em> then"
    '<a href="/docs/other?x=(1)" target="_blank" rel="noopener noreferrer nofollow"> '
    "<strong>bold<br>link</strong></a> 1. not a list</p>\n"
)

FIXTURE_TEXT = """\
Meeting notes

Plain, bold, italic, underlined, struck, x = 1 and a link.
Second line with *stars* & <tags>

Lists

- one
- two
  - nested

3. first
4. second

Tasks

- [x] done
- [ ] todo

> Quoted — עברית 中文 🎉

def f():
    return "<b>"

---

The end: bold and italic then italic then bold
link 1. not a list
"""


def test_editor_bytes_read_as_the_editor_json() -> None:
    expected = json.loads((FIXTURES / "editor_doc.json").read_text())
    assert doc_to_json(load_fixture()) == without_hardbreak_marks(expected)


def test_editor_bytes_convert_to_expected_markdown_html_text() -> None:
    ydoc = load_fixture()
    assert doc_to_markdown(ydoc) == FIXTURE_MARKDOWN
    assert doc_to_html(ydoc) == FIXTURE_HTML
    assert doc_to_text(ydoc) == FIXTURE_TEXT


def test_editor_fixture_html_and_markdown_read_back() -> None:
    expected = doc_to_json(load_fixture())
    assert html_to_json(FIXTURE_HTML) == expected
    # Markdown cannot put emphasis on the space at its edge: that one space loses its italic.
    again = markdown_to_json(FIXTURE_MARKDOWN)
    last = expected["content"][-1]["content"]
    assert last[3] == t(" then italic", "italic")
    last[3:4] = [t(" "), t("then italic", "italic")]
    assert again == expected


def test_written_doc_is_what_y_tiptap_builds_and_reads() -> None:
    ydoc: Doc[Any] = Doc()
    write_json(ydoc, FULL)
    result = run_node_check(ydoc, FULL)
    stored, built = sorted_marks(result["raw"]), sorted_marks(result["expected"])
    assert stored == built, "the stored tree differs from the one y-tiptap builds"
    assert result["rendered"] == FULL
    assert result["changed"] is False, "y-tiptap's sync would rewrite what the server wrote"


def test_replacing_real_editor_content_is_read_by_y_tiptap() -> None:
    ydoc = load_fixture()
    write_json(ydoc, FULL)
    assert doc_to_json(ydoc) == FULL
    result = run_node_check(ydoc, FULL)
    assert result["rendered"] == FULL
    assert sorted_marks(result["raw"]) == sorted_marks(result["expected"])
    assert result["changed"] is False


# -- round trips ------------------------------------------------------------------------------


def test_full_document_is_canonical_and_survives_yjs() -> None:
    assert normalize_json(FULL) == FULL
    assert roundtrip_via_doc(FULL) == FULL


def test_markdown_round_trip() -> None:
    markdown = json_to_markdown(FULL)
    assert roundtrip_via_doc(markdown_to_json(markdown)) == FULL
    assert json_to_markdown(markdown_to_json(markdown)) == markdown


def test_html_round_trip() -> None:
    assert roundtrip_via_doc(html_to_json(json_to_html(FULL))) == FULL
    assert roundtrip_via_doc(html_to_json(json_to_html_document(FULL, "Title"))) == FULL


def test_markdown_shape() -> None:
    markdown = json_to_markdown(FULL)
    for expected in [
        "# Project **Coedit**\n",
        "## Second level\n",
        "### Third level\n",
        "_italic_",
        "<u>underline</u>",
        "~~strike~~",
        "`x = y * 2`",
        '[a link](https://example.com/path_\\(with\\)_parens "A title")',
        "and another.\n",
        # an ordered list not starting at 1 cannot interrupt a paragraph: it needs a blank line
        "- one\n- two\n  - two.one\n  - two.two\n\n    7. deep\n",
        "5. first\n6. second\n   - nested bullet\n",
        "- [x] done\n- [ ] todo\n- [ ] parent\n  - [x] nested done\n",
        "> Quoted _text_\n>\n> - quoted item\n>\n> ```js\n> q = 1\n> ```\n",
        "````python\n",
        "\n---\n",
    ]:
        assert expected in markdown
    # lists of one kind in a row need different markers, or Markdown merges them
    assert "\n\n1) a separate ordered list\n" in markdown
    assert "\n\n* [x] a separate task list\n\n- a bullet list right after" in markdown


def test_text_shape() -> None:
    text = json_to_text(FULL)
    assert text.startswith("Project Coedit\n\nSecond level\n\nThird level\n\nPlain, bold, ")
    assert "a link.\nAfter a hard break\nand another.\n\n- one\n- two\n  - two.one\n" in text
    assert "    7. deep\n- three\n\n  second paragraph of three\n\n5. first\n" in text
    assert "- [x] done\n- [ ] todo\n- [ ] parent\n      - [x] nested done\n" in text
    assert "> Quoted text\n>\n> - quoted item\n>\n> q = 1\n" in text
    assert text.endswith("---\n\nUnicode: 🎉 👩‍👩‍👧 中文 עברית مرحبا e\u0301\n")


SPECIAL_TEXTS = [
    "*not bold*",
    "**not bold either**",
    "_not italic_ and snake_case_name",
    "# not a heading",
    "## also not",
    "Ends with hashes ##",
    "1. not a list",
    "2) not a list either",
    "- not a bullet",
    "+ not a bullet",
    "* not a bullet",
    "> not a quote",
    "`not code`",
    "``double``",
    "[not a link](https://example.com)",
    "![not an image](x.png)",
    "[ ] not a task",
    "<div>not html</div>",
    "<u>not underlined</u>",
    "a <br> b",
    "&amp; &#42; &copy; stay literal",
    "back\\slash \\* \\",
    "~~not struck~~",
    "| not | a | table |",
    "---",
    "===",
    "***",
    "```",
    "~~~",
    "<https://not.autolink.example>",
    "foo@bar.example",
    "100 * 3 = 300 and 2*3*4",
    "emoji 🎉 *stars* 中文",
    "{braces} (parens) $dollars$ !bang ?q",
]


@pytest.mark.parametrize("text", SPECIAL_TEXTS)
def test_markdown_specials_stay_literal(text: str) -> None:
    for node in [
        doc(p(t(text))),
        doc(p(t("first line"), BR, t(text))),
        doc(h(2, t(text))),
        doc(ul(li(p(t(text)))), ol(li(p(t(text))))),
        doc(tasks(task(True, p(t(text))))),
        doc(quote(p(t(text)))),
        doc(p(t("plain "), t(text, link("https://example.com/")), t(" plain"))),
        # emphasis cannot start or end with whitespace in Markdown
        doc(p(t(text.strip() or "x", "bold"), t(" plain "), t(text.strip() or "x", "italic"))),
    ]:
        canonical = normalize_json(node)
        markdown = json_to_markdown(canonical)
        assert markdown_to_json(markdown) == canonical, markdown


EDGE_WHITESPACE = ["    four leading spaces", "\ttab first", "trailing spaces   ", "  both\t ", " "]


@pytest.mark.parametrize("text", EDGE_WHITESPACE)
def test_markdown_leaves_out_whitespace_where_a_line_starts_or_ends(text: str) -> None:
    """CommonMark strips spaces and tabs at the start and end of a line (four spaces make a code
    block, two at the end a line break) and a rendered page never shows them: the export leaves
    them out rather than writing `&#32;`. Inside a line they are kept exactly."""
    bare = text.strip(" \t")
    words = [t(bare)] if bare else []
    # followed by bold text, its end is not the end of the line
    leading = [t(text.lstrip(" \t"))] if bare else []
    for node, expected in [
        (doc(p(t(text))), doc(p(*words)) if bare else EMPTY),
        (doc(p(t("a"), BR, t(text), BR, t("b"))), doc(p(t("a"), BR, *words, BR, t("b")))),
        (doc(h(2, t(text))), doc(h(2, *words))),
        (doc(ul(li(p(t(text))))), doc(ul(li(p(*words))))),
        (
            doc(p(t(text), t("bold", "bold"))),
            doc(p(*leading, t("bold", "bold"))),
        ),
        (doc(p(t("x" + text + "y"))), doc(p(t("x" + text + "y")))),
    ]:
        markdown = json_to_markdown(normalize_json(node))
        assert "&#" not in markdown, markdown
        assert markdown_to_json(markdown) == normalize_json(expected), markdown
    assert json_to_markdown(doc(p(t(text)))) == (bare + "\n" if bare else "")


def test_markdown_links_keep_their_exact_href() -> None:
    hrefs = [
        "https://example.com/a b",
        "https://example.com/ünïcödé?q=中文",
        "https://example.com/(paren",
        "https://example.com/a)b",
        "https://example.com/<angle>",
        "https://example.com/a\\b",
        "https://example.com/?a=1&amp;b=2",
        "/relative/path#frag",
        "#anchor",
        "mailto:someone@example.com",
        "tel:+1-555-0100",
    ]
    for href in hrefs:
        node = doc(p(t("x", link(href, 'Title "quoted" \\ &amp;'))))
        assert markdown_to_json(json_to_markdown(node)) == node, href
        assert html_to_json(json_to_html(node)) == node, href


def test_random_inline_marks_round_trip() -> None:
    rng = random.Random(20240601)
    words = ["alpha", "beta", "gamma", "δέλτα", "中文", "x", "42", "end."]
    mark_choices: list[str | PMNode] = [
        "bold",
        "italic",
        "strike",
        "underline",
        link("https://example.com/a"),
        link("https://example.com/b"),
    ]
    for _ in range(300):
        content: list[PMNode] = []
        for _ in range(rng.randint(1, 8)):
            if rng.random() < 0.1:
                content.append(BR)
                continue
            text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 3)))
            if rng.random() < 0.15:
                content.append(t(text, "code"))
                continue
            chosen = rng.sample(mark_choices, rng.randint(0, 3))
            if sum(1 for m in chosen if isinstance(m, dict)) > 1:
                chosen = [m for m in chosen if isinstance(m, str)]
            if content and content[-1]["type"] == "text":
                text = " " + text  # emphasis cannot be written around a word's middle
            content.append(t(text, *chosen))
        while content and content[-1] == BR:
            content.pop()
        node = normalize_json(doc(p(*content)))
        html_back = html_to_json(json_to_html(node))
        assert html_back == node, json_to_html(node)
        markdown = json_to_markdown(node)
        back = markdown_to_json(markdown)
        # Only marks on edge whitespace may move; the visible text and structure must not.
        assert json_to_text(back) == json_to_text(node), markdown
        assert strip_space_marks(back) == strip_space_marks(node), markdown


def strip_space_marks(node: PMNode) -> list[tuple[str, list[str]]]:
    """(character, marks) pairs, ignoring the marks of whitespace outside code: where whitespace
    meets an emphasis delimiter it moves out of the emphasis (and out of a link inside it)."""
    out: list[tuple[str, list[str]]] = []
    for child in node["content"][0].get("content", []):
        if child["type"] == "hardBreak":
            out.append(("\n", []))
            continue
        marks = [json.dumps(m, sort_keys=True) for m in child.get("marks", [])]
        for char in child["text"]:
            if char.isspace():
                out.append((char, [m for m in marks if '"code"' in m]))
            else:
                out.append((char, marks))
    return out


# -- Markdown input ---------------------------------------------------------------------------


def test_markdown_input_mapping() -> None:
    source = """\
Setext heading
==============

#### Level four becomes three

A *soft*
break, a hard<two spaces>
break, and <u>underline</u><br>after a br.

![alt text](https://example.com/img.png "pic") and ![](/only-src.png)

<https://auto.example/link> and <me@example.com>

| a | b |
|---|---|
| 1 | **2** |

<div onclick="x()">raw *html* block</div>

Inline <span onmouseover="x()">html</span> and <u>unclosed underline.

    indented code

- [ ] task
- plain
- [X] done

10. ten
11. eleven

> > nested quote

* item

  ```
  fenced in item
  ```
""".replace("<two spaces>", "  ")
    got = markdown_to_json(source)
    assert got == doc(
        h(1, t("Setext heading")),
        h(3, t("Level four becomes three")),
        p(
            t("A "),
            t("soft", "italic"),
            t(" break, a hard"),
            BR,
            t("break, and "),
            t("underline", "underline"),
            BR,
            t("after a br."),
        ),
        img("https://example.com/img.png", "alt text", "pic"),
        p(t(" and ")),
        img("/only-src.png"),
        p(
            t("https://auto.example/link", link("https://auto.example/link")),
            t(" and "),
            t("me@example.com", link("mailto:me@example.com")),
        ),
        table(row(th(p(t("a"))), th(p(t("b")))), row(td(p(t("1"))), td(p(t("2", "bold"))))),
        p(t('<div onclick="x()">raw *html* block</div>')),
        p(t('Inline <span onmouseover="x()">html</span> and <u>unclosed underline.')),
        code("indented code"),
        tasks(task(False, p(t("task")))),
        ul(li(p(t("plain")))),
        tasks(task(True, p(t("done")))),
        ol(li(p(t("ten"))), li(p(t("eleven"))), start=10),
        quote(quote(p(t("nested quote")))),
        ul(li(p(t("item")), code("fenced in item"))),
    )
    validate_json(got)


def test_markdown_empty_and_blank() -> None:
    assert markdown_to_json("") == EMPTY
    assert markdown_to_json("\n\n   \n") == EMPTY
    assert markdown_to_json(">") == doc(quote(p()))
    assert markdown_to_json("-") == doc(ul(li(p())))
    assert markdown_to_json("- [ ] ") == doc(tasks(task(False, p())))


def test_markdown_empty_items_round_trip() -> None:
    node = doc(
        ul(li(p()), li(p(), ul(li(p(t("under an empty item")))))),
        tasks(task(False, p()), task(True, p(), code("x"))),
    )
    assert markdown_to_json(json_to_markdown(node)) == node


def test_markdown_unsafe_links_stay_text() -> None:
    for source in [
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](vbscript:msgbox(1))",
        "[x](data:text/html;base64,PHNjcmlwdD4=)",
        "![x](javascript:alert(1))",
        "<javascript:alert(1)>",
        "[x](java%0ascript:alert(1))",
    ]:
        got = markdown_to_json(source)
        assert "link" not in json.dumps(got), source
        assert json_to_text(got).strip() == source, source


# -- HTML input -------------------------------------------------------------------------------


def test_html_input_mapping() -> None:
    source = """<html><head><title>T</title><style>p{color:red}</style>
<script>alert(1)</script></head><body>
<h5>Deep   heading</h5>
<p>  Collapsed
   whitespace <b>bold</b><i>italic</i><del>gone</del><span style="font-weight:700">heavy</span>
<span style="text-decoration: underline line-through">both</span><a href="javascript:alert(1)">bad
</a> <a href="https://ok.example" title="T" class="c">ok</a><!-- comment --><![CDATA[x]]></p>
<b style="font-weight:normal" id="docs-internal-guid-1"><p>not bold</p></b>
<p>first<p>second
<div>loose <em>inline</em><div>nested div</div>tail</div>
<ul><li>one<li>two<ul><li>two.one</li></ul></li><ul><li>stray list</li></ul></ul>
<ol start="4" type="a"><li>four</li></ol>
<ul class="contains-task-list"><li class="task-list-item">
<input type="checkbox" checked disabled> gh done</li>
<li><input type="checkbox"> gh todo</li><li>plain</li></ul>
<pre class="language-rust">
fn main() {<br>}</pre>
<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td><i>2</i></td></tr></table>
<img src="https://example.com/p.png" alt="a picture"><img src="javascript:alert(1)" alt="bad">
<blockquote>quoted<br>text</blockquote><hr>
<textarea></textarea><script>alert(1)</script><noscript>ns</noscript><svg><text>svg</text></svg>
</body></html>"""
    got = html_to_json(source)
    assert got == doc(
        h(3, t("Deep heading")),
        p(
            t("Collapsed whitespace "),
            t("bold", "bold"),
            t("italic", "italic"),
            t("gone", "strike"),
            t("heavy", "bold"),
            t(" "),
            t("both", "strike", "underline"),
            t("bad "),
            t(
                "ok",
                {
                    "type": "link",
                    "attrs": {**link("https://ok.example", "T")["attrs"], "class": "c"},
                },
            ),
        ),
        p(t("not bold")),
        p(t("first")),
        p(t("second")),
        p(t("loose "), t("inline", "italic")),
        p(t("nested div")),
        p(t("tail")),
        ul(li(p(t("one"))), li(p(t("two")), ul(li(p(t("two.one")))), ul(li(p(t("stray list")))))),
        {"type": "orderedList", "attrs": {"start": 4, "type": "a"}, "content": [li(p(t("four")))]},
        tasks(task(True, p(t("gh done"))), task(False, p(t("gh todo")))),
        ul(li(p(t("plain")))),
        code("fn main() {\n}", "rust"),
        table(row(th(p(t("a"))), th(p(t("b")))), row(td(p(t("1"))), td(p(t("2", "italic"))))),
        img("https://example.com/p.png", "a picture"),
        p(t("bad")),
        quote(p(t("quoted"), BR, t("text"))),
        HR,
    )
    validate_json(got)


def test_html_input_empty_and_junk() -> None:
    assert html_to_json("") == EMPTY
    assert html_to_json("<script>alert(1)</script><style>x</style>") == EMPTY
    assert html_to_json("just text") == doc(p(t("just text")))
    assert html_to_json("<p></p>") == EMPTY
    assert html_to_json("</p></div><li>x") == doc(ul(li(p(t("x")))))
    assert html_to_json("<ul></ul><blockquote></blockquote>") == doc(quote(p()))


def test_tiptap_clipboard_html() -> None:
    # what Tiptap puts on the clipboard for a task list and a code block
    source = (
        '<ul data-type="taskList"><li data-checked="true" data-type="taskItem"><label>'
        '<input type="checkbox" checked="checked"><span></span></label><div><p>done</p></div>'
        '</li><li data-checked="false" data-type="taskItem"><label><input type="checkbox">'
        '<span></span></label><div><p>todo</p><ul data-type="taskList"><li data-checked="false" '
        'data-type="taskItem"><label><input type="checkbox"><span></span></label><div><p>sub</p>'
        "</div></li></ul></div></li></ul>"
        '<pre><code class="language-ts">let a = 1\n</code></pre>'
    )
    assert html_to_json(source) == doc(
        tasks(
            task(True, p(t("done"))),
            task(False, p(t("todo")), tasks(task(False, p(t("sub"))))),
        ),
        code("let a = 1\n", "ts"),
    )


# -- XSS --------------------------------------------------------------------------------------

PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
    "'><svg/onload=alert(1)>",
    "javascript:alert(1)",
    " JaVaScRiPt:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "\x01javascript:alert(1)",
    "vbscript:msgbox(1)",
    "data:text/html,<script>alert(1)</script>",
    "</textarea><script>alert(1)</script>",
    "</title><script>alert(1)</script>",
    "</style><script>alert(1)</script>",
    "<!--",
    "--><script>alert(1)</script>",
    "<![CDATA[<script>alert(1)</script>]]>",
    '" onmouseover="alert(1)',
    "' onfocus='alert(1)' autofocus='",
    'x" style="background:url(javascript:alert(1))',
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&#106;avascript:alert(1)",
    "<a href=javascript:alert(1)>x</a>",
    "<iframe src=javascript:alert(1)>",
    "<math><mi xlink:href=javascript:alert(1)>x</mi></math>",
    'https://ok.example/"><script>alert(1)</script>',
]


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend((name, value or "") for name, value in attrs)


ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "article", "p", "h1", "h2", "h3", "strong",
    "em", "u", "s", "code", "a", "br", "ul", "ol", "li", "label", "input", "div", "blockquote",
    "pre", "hr", "table", "tbody", "tr", "th", "td", "img",
}  # fmt: skip
ALLOWED_ATTRS = {
    "charset", "http-equiv", "content", "name", "href", "target", "rel", "class", "title",
    "start", "type", "data-type", "data-checked", "disabled", "checked", "src", "alt",
    "colspan", "rowspan", "width", "height", "align",
}  # fmt: skip


def assert_inert(document: str) -> None:
    collector = _Collector()
    collector.feed(document)
    collector.close()
    assert "script" not in collector.tags
    assert set(collector.tags) <= ALLOWED_TAGS, set(collector.tags) - ALLOWED_TAGS
    for name, value in collector.attrs:
        assert not name.startswith("on"), name
        assert name in ALLOWED_ATTRS, name
        if name in ("href", "src"):
            assert safe_href(value) == value
            squashed = "".join(value.split()).lower()
            assert not squashed.lstrip("\x00\x01").startswith(("javascript:", "vbscript:", "data:"))
        if name == "type":
            assert value in {"checkbox", "1", "a", "A", "i", "I"}
    lowered = document.lower()
    for needle in ("<script", "<svg", "<iframe", "<math", "<!--", "<![cdata", "</textarea"):
        assert needle not in lowered, needle
    head, _, body = document.partition("<body>")
    assert "<style>" in head
    assert "<style" not in body and "</title" not in body


@pytest.mark.parametrize("payload", PAYLOADS)
def test_html_export_is_inert(payload: str) -> None:
    node = doc(
        h(1, t(payload)),
        p(
            t(payload),
            t(payload, "bold", link(payload, payload)),
            t(
                "x",
                {
                    "type": "link",
                    "attrs": {
                        "href": "https://ok.example",
                        "target": payload,
                        "rel": payload,
                        "class": payload,
                        "title": payload,
                    },
                },
            ),
        ),
        ul(li(p(t(payload, "code")))),
        {"type": "orderedList", "attrs": {"start": 1, "type": payload}, "content": [li(p(t("x")))]},
        code(payload, payload),
        tasks(task(True, p(t(payload, link(payload))))),
    )
    document = json_to_html_document(node, title=payload)
    assert_inert(document)
    assert html.escape(payload) in document  # shown as text, not lost
    # and what came in through Markdown or HTML import is just as inert
    assert_inert(json_to_html_document(markdown_to_json(payload), title="t"))
    assert_inert(json_to_html_document(html_to_json(payload), title="t"))
    md = f"[x]({payload}) ![y]({payload}) <{payload}>\n\n```{payload}\ncode\n```\n\n{payload}"
    assert_inert(json_to_html_document(markdown_to_json(md), title="t"))


def test_html_document_has_charset_and_csp() -> None:
    document = json_to_html_document(FULL, "Notes & <plans>")
    assert document.startswith('<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n')
    assert "<title>Notes &amp; &lt;plans&gt;</title>" in document
    csp = document.split('http-equiv="Content-Security-Policy" content="', 1)[1].split('"', 1)[0]
    assert "default-src 'none'" in csp
    assert "script-src" not in csp  # falls back to default-src 'none'
    assert "'unsafe-inline'" not in csp
    style = document.split("<style>", 1)[1].split("</style>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in csp


@pytest.mark.parametrize(
    ("href", "safe"),
    [
        ("https://example.com", True),
        ("HTTP://EXAMPLE.COM", True),
        ("mailto:a@b.example", True),
        ("/path?x=1", True),
        ("relative/path", True),
        ("#frag", True),
        ("//example.com/x", True),
        ("?q=a:b", True),
        ("./a:b", True),
        ("javascript:alert(1)", False),
        (" javascript:alert(1)", False),
        ("\x00javascript:alert(1)", False),
        ("java\tscript:alert(1)", False),
        ("java\r\nscript:alert(1)", False),
        ("JAVASCRIPT:alert(1)", False),
        ("vbscript:x", False),
        ("data:text/html,x", False),
        ("file:///etc/passwd", False),
        ("ftp://example.com", False),
        ("javascript&colon;alert(1)", False),
        ("a:b", False),
        ("", False),
        ("   ", False),
    ],
)
def test_safe_href(href: str, safe: bool) -> None:
    assert (safe_href(href) is not None) == safe


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("node", "message"),
    [
        ({"type": "paragraph"}, "root must be"),
        ([], "root must be"),
        (doc(), "at least one child"),
        (doc({"type": "video"}), "unknown node type 'video'"),
        (doc(p(t("x", "superscript"))), "unknown mark type 'superscript'"),
        (doc(h(4, t("x"))), "level must be an integer from 1 to 3"),
        (doc({"type": "heading", "attrs": {"level": "2"}}), "level must be"),
        (doc(t("loose")), "text is only allowed inside a paragraph or heading"),
        (doc(ul(t("x"))), "text is only allowed inside"),
        (doc(ul(p(t("x")))), "may only contain listItem nodes"),
        (doc(tasks(li(p()))), "may only contain taskItem nodes"),
        (doc(ul()), "at least one child"),
        (doc(ul(li(h(1, t("x"))))), "must start with a paragraph"),
        (doc(p(p())), "may only contain text and hardBreak nodes"),
        (doc(p(t(""))), "non-empty string"),
        (doc(p({"type": "text"})), "non-empty string"),
        (doc(p(t("x", "code", "bold"))), "code mark cannot be combined"),
        (doc(p(t("x", "bold", "bold"))), "appears twice"),
        (doc(code("x") | {"content": [t("x", "bold")]}), "cannot have marks"),
        (doc(code("x") | {"content": [BR]}), "hardBreak is only allowed"),
        (doc(p(t("x", {"type": "link", "attrs": {}}))), "link needs a string attrs.href"),
        (
            doc(p(t("x", {"type": "link", "attrs": {"href": "x", "onclick": "y"}}))),
            "no attribute 'onclick'",
        ),
        (doc({"type": "paragraph", "attrs": {"align": "left"}}), "no attribute 'align'"),
        (doc(task(True, p())), "may only contain block nodes"),
        (
            doc(
                {
                    "type": "taskList",
                    "content": [
                        {"type": "taskItem", "attrs": {"checked": "yes"}, "content": [p()]}
                    ],
                }
            ),
            "checked must be true or false",
        ),
        (doc({"type": "orderedList", "attrs": {"start": -1}, "content": [li(p())]}), "start must"),
        (doc(HR | {"content": [p()]}), "has no content"),
        (doc(p() | {"style": "x"}), "unexpected key(s) 'style'"),
        (doc(p() | {"marks": [{"type": "bold"}]}), "paragraph nodes cannot have marks"),
        (doc({"type": "paragraph", "content": "text"}), "'content' must be a list"),
    ],
)
def test_validate_rejects(node: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate_json(node)
    with pytest.raises(ValueError):
        write_json(Doc(), node)


def test_validate_names_the_path() -> None:
    bad = doc(p(t("ok")), ul(li(p(t("a"))), li(p(t("b", "blink")))))
    with pytest.raises(
        ValueError, match=r"doc\.content\[1\]\.content\[1\]\.content\[0\]\.content\[0\]"
    ):
        validate_json(bad)


def test_normalize_fills_defaults_and_merges() -> None:
    loose = {
        "type": "doc",
        "content": [
            {
                "type": "heading",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            },
            {"type": "orderedList", "attrs": {"start": 3.0}, "content": [li(p())]},
            {"type": "codeBlock"},
            {"type": "taskList", "content": [{"type": "taskItem", "content": [p()]}]},
            p(
                t("x", "italic", {"type": "link", "attrs": {"href": "/a"}}),
                {"type": "hardBreak", "marks": [{"type": "bold"}]},
            ),
        ],
    }
    assert normalize_json(loose) == doc(
        h(1, t("ab")),
        ol(li(p()), start=3),
        code(""),
        tasks(task(False, p())),
        p(t("x", link("/a"), "italic"), BR),
    )


# -- Yjs --------------------------------------------------------------------------------------


def test_empty_doc() -> None:
    ydoc: Doc[Any] = Doc()
    assert doc_to_json(ydoc) == EMPTY
    assert doc_to_markdown(ydoc) == ""
    assert doc_to_text(ydoc) == ""
    assert doc_to_html(ydoc) == "<p></p>\n"
    write_json(ydoc, EMPTY)
    assert doc_to_json(ydoc) == EMPTY
    assert len(ydoc.get(FRAGMENT, type=XmlFragment).children) == 1


def test_write_replaces_in_one_transaction() -> None:
    ydoc = load_fixture()
    seen: list[bytes] = []
    ydoc.observe(lambda event: seen.append(event.update))
    write_json(ydoc, doc(p(t("replaced"))))
    assert len(seen) == 1
    assert doc_to_json(ydoc) == doc(p(t("replaced")))
    other: Doc[Any] = Doc()
    other.apply_update(ydoc.get_update())
    assert doc_to_json(other) == doc(p(t("replaced")))


def test_invalid_json_leaves_doc_untouched() -> None:
    ydoc = load_fixture()
    before = doc_to_json(ydoc)
    with pytest.raises(ValueError):
        write_json(ydoc, doc(p(), {"type": "video"}))
    assert doc_to_json(ydoc) == before


def stored_attrs(element: XmlElement) -> dict[str, Any]:
    return dict(element.attributes.__iter__())


def test_stored_encoding() -> None:
    ydoc: Doc[Any] = Doc()
    write_json(ydoc, FULL)
    fragment = ydoc.get(FRAGMENT, type=XmlFragment)
    heading = fragment.children[0]
    assert isinstance(heading, XmlElement)
    assert heading.tag == "heading" and stored_attrs(heading) == {"level": 1.0}
    text = fragment.children[3].children[0]
    assert isinstance(text, XmlText)
    diff = text.diff()
    assert diff[1] == ("bold", {"bold": {}})
    assert diff[13][1] == {
        "link": {"href": "https://example.com/a?b=1&c=2", **LINK_DEFAULTS, "title": None},
        "bold": {},
        "italic": {},
        "strike": {},
        "underline": {},
    }
    ordered = fragment.children[5]
    assert isinstance(ordered, XmlElement)
    assert stored_attrs(ordered) == {"start": 5.0}  # null attrs ("type") are not stored
    code_block = fragment.children[11]
    assert isinstance(code_block, XmlElement) and code_block.tag == "codeBlock"
    assert stored_attrs(code_block) == {"language": "python"}
    plain_code = fragment.children[12]
    assert isinstance(plain_code, XmlElement) and stored_attrs(plain_code) == {}
    task_item = fragment.children[7].children[1]
    assert isinstance(task_item, XmlElement) and stored_attrs(task_item) == {"checked": False}


def test_lenient_reading_of_odd_documents() -> None:
    ydoc: Doc[Any] = Doc()
    fragment = ydoc.get(FRAGMENT, type=XmlFragment)
    with ydoc.transaction():
        heading = fragment.children.append(XmlElement("heading"))
        heading.attributes["level"] = "2"  # older clients stored strings
        heading.children.append(XmlText("title"))
        fragment.children.append(XmlElement("video"))  # not in the schema: the browser drops it
        stray = fragment.children.append(XmlText())
        stray.insert(
            0, "stray text", {"bold--abcd1234": {}, "sparkle": {}, "ychange": {"user": "x"}}
        )
        lst = fragment.children.append(XmlElement("bulletList"))
        item = lst.children.append(XmlElement("listItem"))
        item.children.append(XmlElement("bulletList")).children.append(XmlElement("listItem"))
        fragment.children.append(XmlElement("orderedList"))  # empty: nothing to show
        para = fragment.children.append(XmlElement("paragraph"))
        a = para.children.append(XmlText())
        a.insert(0, "a", {"code": {}, "bold": {}})
        para.children.append(XmlText("b"))
        task_item = fragment.children.append(XmlElement("taskList")).children.append(
            XmlElement("taskItem")
        )
        task_item.attributes["checked"] = "true"
    got = doc_to_json(ydoc)
    assert got == doc(
        h(2, t("title")),
        p(t("stray text", "bold")),
        ul(li(p(), ul(li(p())))),
        p(t("a", "code"), t("b")),
        tasks(task(True, p())),
    )
    validate_json(got)


def test_unicode_offsets_with_marks() -> None:
    node = doc(
        p(
            t("🎉", "bold"),
            t("中文", "italic"),
            t("👩‍👩‍👧", "underline"),
            t("עברית", "strike"),
            t("e\u0301x"),
        ),
        h(2, t("مرحبا 🎉")),
        code("# 中文 🎉\n"),
    )
    assert roundtrip_via_doc(node) == node
    assert markdown_to_json(json_to_markdown(node)) == node
    assert html_to_json(json_to_html(node)) == node
    assert json_to_text(node) == "🎉中文👩‍👩‍👧עבריתe\u0301x\n\nمرحبا 🎉\n\n# 中文 🎉\n\n"  # noqa: RUF001


def test_large_document_timing() -> None:
    blocks = [
        p(t(f"Paragraph {i} with "), t("bold", "bold"), t(" and "), t("a link", link(f"/p/{i}")))
        for i in range(10_000)
    ]
    node = doc(*blocks)
    timings: dict[str, float] = {}

    def timed(name: str, fn: Any, *args: Any) -> Any:
        start = time.perf_counter()
        result = fn(*args)
        timings[name] = time.perf_counter() - start
        return result

    ydoc: Doc[Any] = Doc()
    timed("write_json", write_json, ydoc, node)
    read = timed("doc_to_json", doc_to_json, ydoc)
    markdown = timed("json_to_markdown", json_to_markdown, read)
    html_out = timed("json_to_html", json_to_html, read)
    timed("json_to_text", json_to_text, read)
    from_md = timed("markdown_to_json", markdown_to_json, markdown)
    from_html = timed("html_to_json", html_to_json, html_out)
    print("\n10k paragraphs: " + ", ".join(f"{k} {v:.2f}s" for k, v in timings.items()))
    assert read == node
    assert from_md == node
    assert from_html == node


def test_hostile_nesting_is_bounded() -> None:
    deep: PMNode = p(t("core"))
    for _ in range(150):
        deep = quote(deep)
    with pytest.raises(ValueError, match="nested more than 100 levels"):
        validate_json(doc(deep))

    ydoc: Doc[Any] = Doc()
    with ydoc.transaction():
        parent: XmlFragment | XmlElement = ydoc.get(FRAGMENT, type=XmlFragment)
        for _ in range(2000):
            parent = parent.children.append(XmlElement("blockquote"))
    validate_json(doc_to_json(ydoc))

    nested_html = "<div><span><b>" * 3000 + "deep" + "</b></span></div>" * 3000
    assert json_to_text(html_to_json(nested_html)) == "deep\n"
    validate_json(markdown_to_json(">" * 3000 + " deep"))
    validate_json(markdown_to_json("".join("  " * i + "- item\n" for i in range(500))))


def test_html_skipped_elements_end_where_they_should() -> None:
    assert html_to_json("<noscript><p>hidden</noscript><p>after</p>") == doc(p(t("after")))
    assert html_to_json("<head><title>t</title><meta charset=utf-8><body>text") == doc(p(t("text")))
    assert html_to_json("<svg><svg><text>a</text></svg><text>b</text></svg>c") == doc(p(t("c")))
    assert html_to_json("<pre>a\r\nb\rc</pre>") == doc(code("a\nb\nc"))


def test_html_blocks_inside_textblocks() -> None:
    assert html_to_json("<h1>a<div>b</div>c<ul><li>d</li></ul></h1><p>e</p>") == doc(
        h(1, t("a"), BR, t("b"), BR, t("c")), ul(li(p(t("d")))), p(t("e"))
    )
    assert html_to_json('<ul data-type="taskList">stray<li>x</li></ul>') == doc(
        tasks(task(False, p(t("stray"))), task(False, p(t("x"))))
    )


@pytest.mark.parametrize("kind", ["ul", "ol", "blockquote", "div", "table"])
def test_deep_html_structures_still_validate(kind: str) -> None:
    opening = {"ul": "<ul><li>x", "ol": "<ol><li>x", "table": "<table><tr><td>x"}.get(
        kind, f"<{kind}>x"
    )
    validate_json(html_to_json(opening * 400))


@pytest.mark.parametrize("prefix", ["> ", "- ", "1. ", "- [ ] ", "* > "])
def test_deep_markdown_structures_still_validate(prefix: str) -> None:
    source = "".join("   " * i + prefix + "x\n" for i in range(300)) + prefix * 300 + "y\n"
    validate_json(markdown_to_json(source))


CONTENT_MODULES = sorted((ROOT / "server" / "content").glob("*.py"))


@pytest.mark.parametrize("module", CONTENT_MODULES, ids=lambda p: p.name)
def test_module_stays_pure(module: Path) -> None:
    tree = ast.parse(module.read_text())
    imported = {
        name.split(".")[0]
        for node in ast.walk(tree)
        for name in (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
    }
    assert not imported & {"starlette", "aiosqlite", "asyncio"}

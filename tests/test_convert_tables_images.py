"""Tables and images through every conversion: Markdown, HTML, plain text, the Y.Doc (checked
with the real editor's y-tiptap and schema in Node), and hostile content staying inert."""

from __future__ import annotations

from typing import Any

import pytest
from pycrdt import Doc

from server.content import (
    doc_to_json,
    html_to_json,
    json_to_html,
    json_to_html_document,
    json_to_markdown,
    json_to_text,
    markdown_to_json,
    normalize_json,
    write_json,
)
from tests.test_convert import PAYLOADS as CONVERT_PAYLOADS
from tests.test_convert import (
    assert_inert,
    code,
    doc,
    h,
    img,
    li,
    link,
    ol,
    p,
    row,
    run_node_check,
    sorted_marks,
    t,
    table,
    td,
    th,
    ul,
)

# A document as a real one moved from another editor looks: every kind of block around tables
# and images.
RICH = doc(
    h(1, t("Quarterly "), t("report", "bold")),
    p(t("See "), t("the site", link("https://example.com/a?b=1")), t(" and "), t("x = 1", "code")),
    table(
        row(th(p(t("Name"))), th(p(t("Score")), align="right"), th(p(t("Notes")))),
        row(
            td(p(t("Ada"))), td(p(t("10")), align="right"), td(p(t("first "), t("place", "italic")))
        ),
        row(
            td(p(t("Bob | pipe"))),
            td(p(), align="right"),
            td(p(t("line"), {"type": "hardBreak"}, t("two"))),
        ),
    ),
    img("/api/docs/report/files/0123abcd", "A chart, with *stars*", "Chart"),
    ul(li(p(t("one"))), li(p(t("two")), ol(li(p(t("nested")))))),
    code("print('hi')\n\nprint('bye')", "python"),
    h(2, t("Details")),
    # a cell with a list (and a code block with a blank line) cannot be GFM: written as HTML
    table(
        row(th(p(t("Step"))), th(p(t("What")))),
        row(td(p(t("1"))), td(ul(li(p(t("buy"))), li(p(t("cook")))), code("a\n\nb"))),
        row(td(p(t("merged")), colspan=2)),
    ),
    table(row(td(p(t("no header")))), row(td(p(t("row two"))))),
    img("https://other.example/pic.png", "remote"),
    p(t("end")),
)


def test_markdown_round_trip_keeps_tables_and_images() -> None:
    markdown = json_to_markdown(RICH)
    assert markdown_to_json(markdown) == RICH, markdown
    assert json_to_markdown(markdown_to_json(markdown)) == markdown
    # the simple table is GFM, the one GFM cannot hold is HTML, the image is Markdown
    assert "| Name | Score | Notes |\n|---|--:|---|\n| Ada | 10 | first _place_ |" in markdown
    assert "| Bob \\| pipe |  | line<br>two |" in markdown
    assert "<table><tbody><tr><th><p>Step</p></th>" in markdown
    assert '![A chart, with \\*stars\\*](/api/docs/report/files/0123abcd "Chart")' in markdown


def test_html_round_trip_keeps_tables_and_images() -> None:
    html = json_to_html(RICH)
    assert html_to_json(html) == RICH, html
    assert json_to_html(html_to_json(html)) == html
    assert '<td colspan="2"><p>merged</p></td>' in html
    assert '<img src="https://other.example/pic.png" alt="remote">' in html


def test_exports_make_image_addresses_absolute() -> None:
    base = "https://coedit.example/"
    markdown = json_to_markdown(RICH, base=base)
    assert "](https://coedit.example/api/docs/report/files/0123abcd " in markdown
    assert "](https://other.example/pic.png)" in markdown  # other hosts' addresses stay
    html = json_to_html_document(RICH, "r", base=base)
    assert 'src="https://coedit.example/api/docs/report/files/0123abcd"' in html


def test_text_export_writes_a_row_a_line_with_tabs() -> None:
    text = json_to_text(RICH)
    assert "Name\tScore\tNotes\nAda\t10\tfirst place\nBob | pipe\t\tline two\n" in text
    assert "Step\tWhat\n1\t- buy - cook a b\nmerged\n" in text


def test_pasted_spreadsheet_html_keeps_cells() -> None:
    # the shape of what Google Sheets and Excel put on the clipboard
    pasted = (
        '<meta charset="utf-8"><google-sheets-html-origin><style>td{}</style>'
        '<table xmlns="http://www.w3.org/1999/xhtml" cellspacing="0" border="0"><colgroup>'
        '<col width="100"></colgroup><tbody><tr style="height:21px;">'
        '<td style="font-weight:bold;">c1</td><td>c2</td></tr>'
        "<tr><td>c3</td><td>c4</td></tr></tbody></table>"
    )
    got = html_to_json(pasted)
    assert got == doc(
        table(
            row(td(p(t("c1", "bold"))), td(p(t("c2")))),
            row(td(p(t("c3"))), td(p(t("c4")))),
        )
    )


def test_gfm_tables_import_as_tables() -> None:
    got = markdown_to_json("| a | b |\n|:--|--:|\n| 1 |\n| x | y | z |\n")
    # GFM fills short rows and drops cells past the header's count; columns keep their alignment
    assert got == doc(
        table(
            row(th(p(t("a")), align="left"), th(p(t("b")), align="right")),
            row(td(p(t("1")), align="left"), td(p(), align="right")),
            row(td(p(t("x")), align="left"), td(p(t("y")), align="right")),
        )
    )
    assert json_to_markdown(got) == "| a | b |\n|:--|--:|\n| 1 |  |\n| x | y |\n"


def test_loose_table_pieces_are_repaired() -> None:
    # rows and cells outside a table, and a table holding a bare paragraph, lose nothing
    loose: dict[str, Any] = doc(
        {"type": "table", "content": [p(t("bare")), row(th(p(t("h"))))]},
    )
    ydoc: Doc[Any] = Doc()
    write_json(ydoc, normalize_json(doc(table(row(th(p(t("h"))))))))
    assert doc_to_json(ydoc) == doc(table(row(th(p(t("h"))))))
    with pytest.raises(ValueError, match="tableRow"):
        normalize_json(loose)
    assert html_to_json("<tr><td>lone</td></tr>") == doc(p(t("lone")))


def test_yjs_tables_and_images_read_by_the_editor() -> None:
    node = normalize_json(
        doc(
            table(
                row(th(p(t("h1"))), th(p(t("h2")))),
                row(td(ul(li(p(t("in a cell")))), colspan=2)),
            ),
            img("/api/docs/d/files/ab", "alt"),
            p(t("after")),
        )
    )
    node["content"][0]["content"][0]["content"][0]["attrs"]["colwidth"] = [120]
    ydoc: Doc[Any] = Doc()
    write_json(ydoc, node)
    assert doc_to_json(ydoc) == node
    result = run_node_check(ydoc, node)
    assert result["rendered"] == node
    assert sorted_marks(result["raw"]) == sorted_marks(result["expected"])
    assert result["changed"] is False


# an image address is one more place for a payload to hide
PAYLOADS = [*CONVERT_PAYLOADS, 'x" onerror="alert(1)', "data:image/svg+xml,<svg onload=alert(1)>"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_hostile_alt_urls_and_cells_stay_inert(payload: str) -> None:
    node = doc(
        table(row(th(p(t(payload))), td(p(t(payload, link(payload)))))),
        img(payload, payload, payload),
        img("/ok.png", payload, payload),
    )
    for document in (
        json_to_html_document(node, payload),
        json_to_html_document(markdown_to_json(json_to_markdown(node)), "t"),
        json_to_html_document(html_to_json(json_to_html(node)), "t"),
        json_to_html_document(
            html_to_json(
                f'<table><tr><td>{payload}</td></tr></table><img src="{payload}" alt="{payload}">'
            ),
            "t",
        ),
        json_to_html_document(
            markdown_to_json(f"| {payload} |\n|---|\n\n![{payload}]({payload})"), "t"
        ),
    ):
        assert_inert(document)
    # nothing executable survives as an image address anywhere
    for converted in (markdown_to_json(f"![x]({payload})"), html_to_json(f'<img src="{payload}">')):
        for block in converted["content"]:
            if block["type"] == "image":
                assert not block["attrs"]["src"].lower().startswith(("javascript:", "data:"))

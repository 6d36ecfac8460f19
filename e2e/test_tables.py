"""Tables in the browser: pasted from another program, inserted from the toolbar, edited live
and offline, each person in their own browser context (so only the server can carry edits)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from e2e.helpers import SEE_MS, People, Person, fetch_server_doc
from e2e.test_phone import PHONE, assert_no_sideways_scroll
from e2e.ui import save_named_version
from server.content import doc_to_json

pytestmark = pytest.mark.timeout(120)

# a cell's text, without the name label of a collaborator's caret in it
CELLS_JS = """() => Array.from(document.querySelectorAll('.ProseMirror table tr'),
  (tr) => Array.from(tr.querySelectorAll('td, th'), (c) => {
    const copy = c.cloneNode(true);
    copy.querySelectorAll('.collaboration-carets__caret').forEach((caret) => caret.remove());
    return copy.textContent;
  }))"""


def cells(page: Page) -> Any:
    return page.evaluate(CELLS_JS)


def wait_cells(person: Person, expected: list[list[str]]) -> None:
    try:
        person.page.wait_for_function(
            f"(want) => JSON.stringify(({CELLS_JS})()) === JSON.stringify(want)",
            arg=expected,
            timeout=SEE_MS,
        )
    except PlaywrightTimeoutError:
        raise AssertionError(f"{person.name} sees {cells(person.page)}, not {expected}") from None


def paste_html(person: Person, html: str) -> None:
    """What a browser does when someone pastes from a spreadsheet: a paste event carrying the
    clipboard's HTML (and its plain text)."""
    person.page.evaluate(
        """(html) => {
          const data = new DataTransfer();
          data.setData('text/html', html);
          data.setData('text/plain', 'c1\\tc2\\nc3\\tc4');
          const event = new ClipboardEvent('paste', { clipboardData: data, bubbles: true,
            cancelable: true });
          document.querySelector('.ProseMirror').dispatchEvent(event);
        }""",
        html,
    )


def walk(node: Any) -> Iterator[Any]:
    yield node
    for child in node.get("content", []):
        yield from walk(child)


def server_tables(people: People, doc: str) -> list[Any]:
    node = doc_to_json(fetch_server_doc(people.base, doc))
    return [block for block in node["content"] if block["type"] == "table"]


def test_pasted_spreadsheet_table_keeps_its_cells_for_everyone(
    people: People, doc_name: str
) -> None:
    alice, bob = people.pair(doc_name)
    alice.click_end()
    alice.type("Figures:")
    paste_html(
        alice,
        '<meta charset="utf-8"><google-sheets-html-origin><table><tbody>'
        "<tr><td>c1</td><td>c2</td></tr><tr><td>c3</td><td>c4</td></tr></tbody></table>",
    )
    wait_cells(alice, [["c1", "c2"], ["c3", "c4"]])
    wait_cells(bob, [["c1", "c2"], ["c3", "c4"]])
    # the row and column buttons show only while the caret is in a table
    bob.page.locator(".ProseMirror p", has_text="Figures:").click()
    expect(bob.page.get_by_role("button", name="Add row below")).to_be_hidden()
    bob.page.locator(".ProseMirror td", has_text="c4").click()
    expect(bob.page.get_by_role("button", name="Add row below")).to_be_visible()
    alice.wait_saved()
    (table,) = server_tables(people, doc_name)
    assert [
        [c["content"][0]["content"][0]["text"] for c in r["content"]] for r in table["content"]
    ] == [
        ["c1", "c2"],
        ["c3", "c4"],
    ]


def test_toolbar_table_tab_between_cells_and_a_row_added_offline_merges(
    people: People, doc_name: str
) -> None:
    alice, bob = people.pair(doc_name)
    alice.click_end()
    alice.page.get_by_role("button", name="Insert table").first.click()
    form = alice.page.locator("#table-form")
    expect(form).to_be_visible()
    form.locator("#table-rows").fill("2")
    form.locator("#table-cols").fill("2")
    form.locator("#table-insert").click()
    # the caret lands in the first cell; Tab moves on, Shift+Tab back
    alice.type("Name")
    alice.page.keyboard.press("Tab")
    alice.type("Qty")
    alice.page.keyboard.press("Tab")
    alice.type("pens")
    alice.page.keyboard.press("Shift+Tab")
    alice.page.keyboard.press("Shift+Tab")
    alice.page.keyboard.press("End")  # moving to a cell selects its text
    alice.type("!")
    wait_cells(bob, [["Name!", "Qty"], ["pens", ""]])
    expect(bob.page.locator(".ProseMirror th")).to_have_count(2)  # the header row
    alice.wait_saved()

    alice.go_offline()
    expect(alice.page.locator("#sync-label")).to_have_text("Offline")
    # Alice adds a row at the end (caret in the last row), and fills it
    alice.page.locator(".ProseMirror td").nth(0).click()
    add_row = alice.page.get_by_role("button", name="Add row below")
    expect(add_row).to_be_visible()
    add_row.click()
    alice.page.keyboard.press("ArrowDown")
    alice.type("ink")
    wait_cells(alice, [["Name!", "Qty"], ["pens", ""], ["ink", ""]])
    alice.wait_saved_on_device()
    # meanwhile Bob fills a cell online
    bob.page.locator(".ProseMirror td").nth(1).click()
    bob.type("12")
    bob.wait_saved()
    assert len(cells(bob.page)) == 2

    alice.go_online()
    expected = [["Name!", "Qty"], ["pens", "12"], ["ink", ""]]
    wait_cells(alice, expected)
    wait_cells(bob, expected)
    alice.wait_saved()
    (table,) = server_tables(people, doc_name)
    assert len(table["content"]) == 3


PNG_JS = """() => {
  // a 2x2 PNG drawn on a canvas: a real image file, as a screenshot tool puts on the clipboard
  const canvas = document.createElement('canvas');
  canvas.width = 2; canvas.height = 2;
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#c03'; ctx.fillRect(0, 0, 2, 2);
  return new Promise((resolve) => canvas.toBlob((blob) => resolve(blob), 'image/png'));
}"""


def paste_image(person: Person) -> None:
    person.page.evaluate(
        f"""async () => {{
          const blob = await ({PNG_JS})();
          const data = new DataTransfer();
          data.items.add(new File([blob], 'image.png', {{ type: 'image/png' }}));
          // what browsers add beside a copied image: an <img> with a local address
          data.setData('text/html', '<img src="data:image/png;base64,AAAA">');
          const event = new ClipboardEvent('paste', {{ clipboardData: data, bubbles: true,
            cancelable: true }});
          document.querySelector('.ProseMirror').dispatchEvent(event);
        }}"""
    )


def test_pasted_table_and_image_reach_a_second_person(people: People, doc_name: str) -> None:
    alice, bob = people.pair(doc_name)
    alice.click_end()
    alice.type("Report")
    paste_html(alice, "<table><tr><th>k</th><th>v</th></tr><tr><td>a</td><td>1</td></tr></table>")
    wait_cells(bob, [["k", "v"], ["a", "1"]])
    paste_image(alice)
    # Bob's browser loads the image from the server (naturalWidth is 0 until it has the bytes)
    image = bob.page.locator(".ProseMirror img")
    expect(image).to_have_count(1, timeout=SEE_MS)
    bob.page.wait_for_function(
        "() => { const img = document.querySelector('.ProseMirror img');"
        " return img && img.complete && img.naturalWidth === 2; }",
        timeout=SEE_MS,
    )
    src = image.get_attribute("src")
    assert src is not None and src.startswith("/api/docs/") and "/files/" in src, src

    # Alice describes it; Bob gets the alt text
    alice.page.locator(".ProseMirror img").click()
    alice.page.get_by_role("button", name="Image description (alt text)").click()
    alice.page.locator("#alt-input").fill("a red square")
    alice.page.locator("#alt-form button[type=submit]").click()
    expect(image).to_have_attribute("alt", "a red square", timeout=SEE_MS)
    alice.wait_saved()

    node = doc_to_json(fetch_server_doc(people.base, doc_name))
    (stored,) = [n for n in walk(node) if n["type"] == "image"]
    assert stored["attrs"]["src"] == src and stored["attrs"]["alt"] == "a red square"
    assert not any("data:" in str(block) for block in node["content"])
    assert len(server_tables(people, doc_name)) == 1


def test_an_image_removed_since_a_version_shows_in_its_preview_and_comes_back_on_restore(
    people: People, doc_name: str
) -> None:
    alice, bob = people.pair(doc_name)
    alice.click_end()
    alice.type("Before the photo")
    paste_image(alice)
    loaded = (
        "(sel) => { const img = document.querySelector(sel);"
        " return img !== null && img.complete && img.naturalWidth === 2; }"
    )
    bob.page.wait_for_function(loaded, arg=".ProseMirror img", timeout=SEE_MS)
    alice.wait_saved()
    entry = save_named_version(alice.page, "with photo")

    # the image goes (the history panel is open beside the text: deleted through the editor)
    alice.page.evaluate(
        """() => { const ed = document.querySelector('.ProseMirror').editor; let at = -1;
          ed.state.doc.descendants((n, pos) => { if (n.type.name === 'image') at = pos; });
          ed.chain().setNodeSelection(at).deleteSelection().run(); }"""
    )
    expect(bob.page.locator(".ProseMirror img")).to_have_count(0, timeout=SEE_MS)
    alice.wait_saved()

    entry.get_by_role("button").click()
    preview = alice.page.locator("#preview")
    expect(preview).to_have_attribute("data-ready", "true")
    alice.page.wait_for_function(loaded, arg="#preview-doc img", timeout=SEE_MS)
    alice.page.get_by_role("button", name="Restore this version").click()
    bob.page.wait_for_function(loaded, arg=".ProseMirror img", timeout=SEE_MS)


def test_a_wide_table_scrolls_inside_its_box_on_a_phone(people: People, doc_name: str) -> None:
    alice = people.add("Alice", doc=doc_name)
    alice.wait_synced()
    alice.page.set_viewport_size(PHONE)
    alice.click_end()
    wide = "".join(f"<td>column number {i} with some words</td>" for i in range(8))
    paste_html(alice, f"<table><tr>{wide}</tr><tr>{wide}</tr></table>")
    expect(alice.page.locator(".ProseMirror td")).to_have_count(16)
    # the page itself never scrolls sideways; the table's wrapper does
    assert_no_sideways_scroll(alice.page, "a wide table")
    scrolls = alice.page.evaluate(
        "() => { const w = document.querySelector('.ProseMirror .tableWrapper');"
        " return w.scrollWidth > w.clientWidth && getComputedStyle(w).overflowX === 'auto'; }"
    )
    assert scrolls

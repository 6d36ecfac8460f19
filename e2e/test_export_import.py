"""Export (Markdown, HTML, text) from the document header and import on the home page.

The HTML export is user content rendered as a web page: hostile text typed into the document
must stay text when the export is opened in a browser, checked in a real browser.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, Route, expect

from e2e.helpers import People, doc_url

pytestmark = pytest.mark.timeout(90)

PAYLOADS = [
    "<script>window.__xss=1</script>",
    '<img src=x onerror="window.__xss=1">',
    '"><svg onload=window.__xss=1>',
    "<iframe src=javascript:window.__xss=1></iframe>",
]
HOSTILE_HREF = "javascript:window.__xss=1"

# Writes a link with a javascript: address straight into the shared document, as a hostile
# client could (the link form refuses such addresses).
HOSTILE_LINK_JS = """
(href) => {
  const { Y, ydoc } = window.coedit;
  ydoc.transact(() => {
    const paragraph = new Y.XmlElement('paragraph');
    const text = new Y.XmlText();
    paragraph.insert(0, [text]);
    ydoc.getXmlFragment('default').push([paragraph]);
    text.insert(0, 'hostile link', { link: { href } });
  });
}
"""

# What an opened export page contains that could run code.
ACTIVE_CONTENT_JS = """
() => ({
  xss: typeof window.__xss,
  scripts: document.querySelectorAll('script').length,
  frames: document.querySelectorAll('iframe, frame, object, embed').length,
  images: document.querySelectorAll('img, svg').length,
  handlers: Array.from(document.querySelectorAll('*')).flatMap((el) =>
    Array.from(el.attributes).filter((a) => a.name.startsWith('on')).map((a) => a.name)),
  jsLinks: Array.from(document.querySelectorAll('[href], [src]')).filter((el) =>
    /^\\s*javascript:/i.test(el.getAttribute('href') || el.getAttribute('src') || '')).length,
  text: document.body ? document.body.innerText : '',
})
"""


def assert_inert(page: Page) -> None:
    # Give anything that would run (an image's onerror, an svg's onload) a moment to do so.
    page.wait_for_load_state("load")
    page.evaluate("() => new Promise((resolve) => setTimeout(resolve, 200))")
    found = page.evaluate(ACTIVE_CONTENT_JS)
    assert found["xss"] == "undefined", found
    assert found["scripts"] == 0, found
    assert found["frames"] == 0, found
    assert found["images"] == 0, found
    assert found["handlers"] == [], found
    assert found["jsLinks"] == 0, found
    for payload in PAYLOADS:
        assert payload in found["text"], (payload, found["text"])
    assert "hostile link" in found["text"]


def test_hostile_text_stays_inert_in_the_html_export_opened_in_a_browser(
    people: People, doc_name: str, tmp_path: Path
) -> None:
    alice = people.add("Alice", doc=doc_name)
    alice.wait_synced()
    alice.page.locator("#title").fill(PAYLOADS[0])
    alice.click_end()
    for i, payload in enumerate(PAYLOADS):
        if i:
            alice.page.keyboard.press("Enter")
        alice.type(payload)

    # The link form refuses a javascript: address: no link is made.
    alice.page.keyboard.press("Enter")
    alice.type("click me")
    alice.page.keyboard.press("Shift+Home")
    alice.page.get_by_role("button", name="Link").click()
    alice.page.locator("#link-input").fill(HOSTILE_HREF)
    alice.page.locator("#link-input").press("Enter")
    expect(alice.editor.locator("a")).to_have_count(0)
    # A hostile client is not limited by the form.
    alice.page.evaluate(HOSTILE_LINK_JS, HOSTILE_HREF)
    alice.wait_contains("hostile link")
    alice.wait_saved()
    # The editor itself never renders the address as a live link either.
    hrefs = alice.page.eval_on_selector_all(".ProseMirror a", "as => as.map(a => a.href)")
    assert not any(h.lower().startswith("javascript:") for h in hrefs), hrefs

    # Download through the Export menu, then open the file as a person would.
    page = alice.page
    page.get_by_role("button", name="Export").click()
    with page.expect_download() as info:
        page.get_by_role("menuitem", name="Web page (.html)").click()
    download = info.value
    assert download.suggested_filename.endswith(".html"), download.suggested_filename
    saved = tmp_path / "export.html"
    download.save_as(saved)
    html = saved.read_text(encoding="utf-8")
    assert "<script" not in html.lower().replace("&lt;script", "")

    viewer = people.add("Reader")
    viewer.page.goto(saved.as_uri())
    assert_inert(viewer.page)

    # And the export address opened straight in a tab (with the server's own headers; only
    # "download this" is dropped so that the browser renders it).
    url = page.locator("#export-menu a[data-format=html]").get_attribute("href")
    assert url is not None and url.startswith("/api/docs/")

    def render_inline(route: Route) -> None:
        response = route.fetch()
        headers = {k: v for k, v in response.headers.items() if k != "content-disposition"}
        route.fulfill(response=response, headers=headers)

    tab = viewer.new_tab()
    tab.page.route(re.compile(r".*/export\?format=html.*"), render_inline)
    tab.page.goto(people.base + url)
    assert_inert(tab.page)

    # The other formats download too, named after the title.
    for fmt, label in (("md", "Markdown (.md)"), ("txt", "Plain text (.txt)")):
        page.get_by_role("button", name="Export").click()
        with page.expect_download() as info:
            page.get_by_role("menuitem", name=label).click()
        assert info.value.suggested_filename.endswith(f".{fmt}")
        text = Path(info.value.path()).read_text(encoding="utf-8")
        assert PAYLOADS[1] in text.replace("\\", "")


def test_importing_a_markdown_file_opens_a_document_showing_it(
    people: People, tmp_path: Path
) -> None:
    source = tmp_path / "Trip plan.md"
    source.write_text(
        "# Packing list\n\n- Tent\n- Stove\n\nSee [the map](https://example.com/map).\n",
        encoding="utf-8",
    )
    alice = people.add("Alice")
    alice.page.goto(people.base + "/")
    alice.page.locator("#import-file").set_input_files(source)
    expect(alice.page).to_have_url(re.compile(r"/d/[^/?#]+$"), timeout=10_000)
    alice.wait_synced()
    expect(alice.page.locator("#title")).to_have_value("Trip plan")
    alice.wait_texts("h1", ["Packing list"])
    alice.wait_texts("li", ["Tent", "Stove"])
    link = alice.editor.locator("a")
    expect(link).to_have_text("the map")
    expect(link).to_have_attribute("href", "https://example.com/map")

    # The new document is a normal one: someone else can open it from its address.
    name = alice.page.url.split("/d/", 1)[1]
    bob = people.add("Bob")
    bob.page.goto(doc_url(people.base, "x").rsplit("/", 1)[0] + "/" + name)
    bob.wait_synced()
    bob.wait_texts("h1", ["Packing list"])

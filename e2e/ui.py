"""Page-level helpers the browser tests share: hit testing, making a link, saving a version."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect

from e2e.helpers import Person

# True when a tap at the element's centre lands on the element (nothing covers it).
TAPPABLE_JS = """(el) => {
  const r = el.getBoundingClientRect();
  if (r.width === 0 || r.height === 0) return false;
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  return hit !== null && (hit === el || el.contains(hit));
}"""


def add_link(person: Person, text: str, href: str) -> None:
    """Type `text`, select it and make it a link to `href` with the link form."""
    person.type(text)
    person.wait_contains(text)
    # Select what was just typed (keys pressed right after typing can race the editor's focus
    # handling; the selection itself is not what is tested here).
    person.page.evaluate(
        """(n) => { const ed = document.querySelector('.ProseMirror').editor;
           const to = ed.state.selection.head;
           ed.commands.setTextSelection({ from: to - n, to }); }""",
        len(text),
    )
    person.page.keyboard.press("Control+k")
    expect(person.page.locator("#link-form")).to_be_visible()
    person.page.locator("#link-input").fill(href)
    person.page.locator("#link-input").press("Enter")
    expect(person.editor.locator("a", has_text=text)).to_have_attribute("href", href)


def save_named_version(page: Page, label: str) -> Locator:
    """Open the history panel, save the document as a version named `label`; its list entry."""
    page.get_by_role("button", name="History").click()
    page.get_by_role("button", name="Save version…").click()
    page.get_by_label("Name this version").fill(label)
    page.get_by_label("Name this version").press("Enter")
    entry = page.locator("#versions li[data-kind=named]", has_text=label)
    expect(entry).to_have_count(1)
    return entry

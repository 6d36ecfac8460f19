"""Finding and managing documents from the home page (issue 16): search as you type, delete with
"Undo", the trash, rename, copy, sort; a mistyped address asks before creating; a phone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from e2e.helpers import People, Person
from e2e.test_phone import PHONE, assert_no_sideways_scroll, assert_tappable

pytestmark = pytest.mark.timeout(120)


def write(person: Person, title: str, text: str) -> None:
    person.wait_synced()
    person.page.locator("#title").fill(title)
    person.click_end()
    person.type(text)
    person.wait_saved()


def home(page: Page, base: str) -> None:
    page.goto(base + "/")
    expect(page.locator("#docs-status")).to_be_hidden()


def row(page: Page, name: str) -> object:
    return page.locator(f"#docs li[data-name={name!r}]")


def test_search_from_the_home_page_and_open_a_result(people: People, doc_name: str) -> None:
    alice = people.add("Alice", doc=doc_name)
    write(alice, "Garden plans", "We will plant résumé tomatoes near the collaborative fence.")
    other = people.add("Alice", doc=doc_name + "-other")
    write(other, "Shopping", "Milk and eggs.")
    page = alice.page
    home(page, people.base)
    box = page.get_by_role("searchbox", name="Search documents")
    # Prefix, accents and case ignored; results as you type (indexing takes up to seconds).
    box.fill("COLLAB resume")
    results = page.locator("#results li")
    expect(results).to_have_count(1, timeout=10_000)
    expect(results.first).to_contain_text("Garden plans")
    expect(results.first.locator("mark").first).to_be_visible()
    expect(page.locator("#docs")).to_be_hidden()
    box.fill("zzzz")
    expect(page.locator("#results-status")).to_have_text("No documents match “zzzz”.")
    box.fill("milk")
    expect(results).to_have_count(1, timeout=10_000)
    results.first.get_by_role("link").click()
    alice.wait_synced()
    alice.wait_text_equals("Milk and eggs.")


def test_delete_with_undo_then_restore_from_the_trash(people: People, doc_name: str) -> None:
    alice = people.add("Alice", doc=doc_name)
    write(alice, "Precious", "Do not lose me.")
    page = alice.page
    home(page, people.base)
    entry = page.locator(f"#docs li[data-name={doc_name!r}]")
    expect(entry).to_have_count(1)

    entry.get_by_role("button", name=re.compile("^Actions for")).click()
    page.get_by_role("menuitem", name="Delete").click()
    expect(entry).to_have_count(0)
    toast = page.locator("#toast")
    expect(toast).to_contain_text("Moved “Precious” to the trash.")
    toast.get_by_role("button", name="Undo").click()
    expect(entry).to_have_count(1)

    # Deleted again, and brought back from the Trash view instead.
    entry.get_by_role("button", name=re.compile("^Actions for")).click()
    page.get_by_role("menuitem", name="Delete").click()
    expect(entry).to_have_count(0)
    page.get_by_role("button", name="Trash").click()
    trashed = page.locator(f"#trash-list li[data-name={doc_name!r}]")
    expect(trashed).to_contain_text("Precious")
    trashed.get_by_role("button", name="Restore").click()
    expect(trashed).to_have_count(0)
    page.get_by_role("button", name="Back to documents").click()
    expect(entry).to_have_count(1)
    entry.get_by_role("link").click()
    alice.wait_synced()
    alice.wait_text_equals("Do not lose me.")


def test_rename_inline_copy_and_sort(people: People, doc_name: str) -> None:
    alice = people.add("Alice", doc=doc_name)
    write(alice, "Beta notes", "Text of beta.")
    untitled = people.add("Alice", doc=doc_name + "-untitled")
    untitled.wait_synced()
    untitled.click_end()
    untitled.type("Alpha is the first line")
    untitled.wait_saved()
    page = alice.page
    home(page, people.base)
    entry = page.locator(f"#docs li[data-name={doc_name!r}]")
    entry.get_by_role("button", name=re.compile("^Actions for")).click()
    page.get_by_role("menuitem", name="Rename").click()
    field = entry.get_by_role("textbox", name="New title")
    field.fill("Zeta notes")
    field.press("Enter")
    expect(entry.get_by_role("link")).to_have_text("Zeta notes")
    # A document without a title shows its first line, once indexed (seconds after an edit).
    page.wait_for_function(
        """(name) => {
          const poll = (window.__previewPoll ??= { found: false, busy: false });
          if (!poll.busy) {
            poll.busy = true;
            fetch('/api/docs?limit=200').then((r) => r.json())
              .then((p) => { poll.found = p.docs.some((d) => d.name === name && d.preview); })
              .catch(() => {}).finally(() => { poll.busy = false; });
          }
          return poll.found;
        }""",
        arg=doc_name + "-untitled",
        polling=250,
        timeout=15_000,
    )
    home(page, people.base)
    expect(entry.get_by_role("link")).to_have_text("Zeta notes")
    plain = page.locator(f"#docs li[data-name={doc_name + '-untitled'!r}] a")
    expect(plain).to_have_text("Alpha is the first line")

    entry.get_by_role("button", name=re.compile("^Actions for")).click()
    page.get_by_role("menuitem", name="Make a copy").click()
    copy = page.locator("#docs li", has_text="Copy of Zeta notes")
    expect(copy).to_have_count(1)

    page.get_by_label("Sort documents").select_option("title")
    page.wait_for_function(
        """() => {
          const t = [...document.querySelectorAll('#docs li .doc-title')]
            .map((e) => e.textContent.toLowerCase());
          return t.length >= 3 && t.every((x, i) => i === 0 || t[i - 1].localeCompare(x) <= 0);
        }"""
    )


def test_a_mistyped_address_asks_before_creating(people: People, doc_name: str) -> None:
    visitor = people.add("Vera")
    page = visitor.page
    page.goto(f"{people.base}/d/fresh-ridge-597-{doc_name[-6:]}")
    banner = page.locator("#access-banner")
    expect(banner).to_contain_text("There is no document named")
    expect(visitor.editor).to_be_hidden()
    listed = page.request.get(f"{people.base}/api/docs").json()["docs"]
    assert not any(d["name"].startswith("fresh-ridge-597") for d in listed)
    banner.get_by_role("link", name="Create document").click()
    visitor.wait_synced()
    expect(page).to_have_url(re.compile(r"/d/fresh-ridge-597-[^?]+$"))
    # An invalid name says so, not "you don't have access".
    page.goto(f"{people.base}/d/bad%01name")
    expect(banner).to_contain_text("is not a valid document name")


def test_the_home_page_on_a_phone(people: People, doc_name: str) -> None:
    alice = people.add("Alice", doc=doc_name)
    write(alice, "A document with a long title that has to fit on a small screen", "Body.")
    page = alice.page
    page.set_viewport_size(PHONE)
    home(page, people.base)
    assert_no_sideways_scroll(page, "the home page")
    entry = page.locator(f"#docs li[data-name={doc_name!r}]")
    title = entry.get_by_role("link")
    box = title.bounding_box()
    assert box is not None and box["width"] > PHONE["width"] * 0.6, box  # titles get the space
    menu = entry.get_by_role("button", name=re.compile("^Actions for"))
    assert_tappable(menu, "the row's actions")
    menu.click()
    for item in ("Rename", "Make a copy", "Delete"):
        assert_tappable(page.get_by_role("menuitem", name=item), item)
    page.keyboard.press("Escape")
    for control in ("#search", "#new-doc", "#trash-toggle"):
        assert_tappable(page.locator(control), control)

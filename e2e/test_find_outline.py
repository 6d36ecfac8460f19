"""The everyday tools of issue 15: find and replace, the word count, the outline; two people in
their own browsers, and a phone-sized screen."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from e2e.helpers import SEE_MS, People
from e2e.test_phone import PHONE, assert_no_sideways_scroll, assert_tappable, header_action

pytestmark = pytest.mark.timeout(120)


def mod(page: Page, key: str) -> None:
    page.keyboard.press(f"Control+{key}")


def test_find_and_replace_all_reaches_the_other_person_and_undoes_in_one_step(
    people: People, doc_name: str
) -> None:
    alice, bob = people.pair(doc_name)
    page = alice.page
    original = "The cat sat. A cat ran. Cat naps on the mat."
    alice.click_end()
    alice.type(original)
    bob.wait_contains(original)

    mod(page, "f")
    bar = page.locator("#find-bar")
    expect(bar).to_be_visible()
    expect(page.locator("#find-input")).to_be_focused()
    page.keyboard.type("cat")
    count = page.locator("#find-count")
    expect(count).to_have_text(re.compile(r"^\d of 3$"))
    # Every match highlighted, one of them as the current one; only for Alice.
    expect(alice.editor.locator(".find-match")).to_have_count(3)
    expect(alice.editor.locator(".find-current")).to_have_count(1)
    expect(bob.editor.locator(".find-match")).to_have_count(0)

    # Next and previous move through them, around the end.
    expect(count).to_have_text("1 of 3")
    page.keyboard.press("Enter")
    expect(count).to_have_text("2 of 3")
    page.keyboard.press("Shift+Enter")
    page.keyboard.press("Shift+Enter")
    expect(count).to_have_text("3 of 3")
    page.locator("#find-next").click()
    expect(count).to_have_text("1 of 3")

    # Match case leaves out "Cat".
    page.locator("#find-case").check()
    expect(count).to_have_text(re.compile(r"of 2$"))

    # Ctrl+H opens the replace row; replace all is one change, seen by Bob.
    mod(page, "h")
    replace = page.locator("#replace-input")
    expect(replace).to_be_visible()
    replace.fill("dog")
    page.locator("#replace-all").click()
    expected = "The dog sat. A dog ran. Cat naps on the mat."
    alice.wait_text_equals(expected)
    bob.wait_text_equals(expected)
    expect(count).to_have_text("Replaced 2")

    # Replace one: the current match only, then the next one is current.
    page.locator("#find-case").uncheck()
    page.locator("#find-input").fill("dog")
    expect(count).to_have_text(re.compile(r"of 2$"))
    replace.fill("fox")
    page.locator("#replace-one").click()
    expect(count).to_have_text("1 of 1")
    assert alice.text().count("fox") == 1 and alice.text().count("dog") == 1

    # Escape closes the bar (and the highlights) and gives the text the keyboard back; one
    # undo takes back the single replacement, the next the whole "replace all".
    page.keyboard.press("Escape")
    expect(bar).to_be_hidden()
    expect(alice.editor.locator(".find-match")).to_have_count(0)
    mod(page, "z")
    alice.wait_text_equals(expected)
    mod(page, "z")
    alice.wait_text_equals(original)
    bob.wait_text_equals(original)


def test_words_and_characters_of_the_document_and_of_the_selection(
    people: People, doc_name: str
) -> None:
    alice, bob = people.pair(doc_name)
    page = alice.page
    alice.click_end()
    alice.type("one two three")
    page.keyboard.press("Enter")
    alice.type("four")
    words, chars = page.locator("#word-count"), page.locator("#char-count")
    expect(words).to_have_text("4 words")
    expect(chars).to_have_text("17 characters")
    # The other person's count follows the shared text.
    expect(bob.page.locator("#word-count")).to_have_text("4 words")
    page.keyboard.press("Shift+Home")
    expect(words).to_have_text("1 of 4 words")
    expect(chars).to_have_text("4 of 17 characters")
    page.keyboard.press("End")
    expect(words).to_have_text("4 words")


def test_the_outline_follows_a_new_heading_and_takes_you_there(
    people: People, doc_name: str
) -> None:
    alice, bob = people.pair(doc_name)
    page = alice.page
    page.locator("#outline-button").click()
    panel = page.locator("#outline-panel")
    expect(panel).to_be_visible()
    expect(page.locator("#outline-empty")).to_be_visible()

    # Bob writes a long document with two headings; Alice's outline follows.
    bob.click_end()
    bob.page.get_by_role("button", name="Heading 1").click()
    bob.type("Introduction")
    bob.page.keyboard.press("Enter")
    for i in range(40):
        bob.type(f"Paragraph {i} of the introduction.")
        bob.page.keyboard.press("Enter")
    bob.page.get_by_role("button", name="Heading 2").click()
    bob.type("Findings")
    entries = page.locator("#outline-list button")
    expect(entries).to_have_text(["Introduction", "Findings"], timeout=SEE_MS)
    expect(page.locator("#outline-empty")).to_be_hidden()
    expect(page.locator("#outline-list li.outline-h2")).to_have_count(1)

    # A click brings the heading into view and puts the caret there.
    heading = alice.editor.locator("h2", has_text="Findings")
    page.evaluate("() => window.scrollTo(0, 0)")
    entries.nth(1).click()
    expect(heading).to_be_in_viewport()
    alice.type("Key ")
    bob.wait_contains("Key Findings")
    # A renamed heading shows renamed.
    expect(entries.nth(1)).to_have_text("Key Findings")


def test_find_and_outline_on_a_phone(people: People, doc_name: str) -> None:
    alice = people.add("Alice", doc=doc_name)
    page = alice.page
    alice.wait_synced()
    page.set_viewport_size(PHONE)
    alice.click_end()
    page.get_by_role("button", name="Heading 1").click()
    alice.type("Top")
    page.keyboard.press("Enter")
    alice.type("some words here")

    header_action(page, "Find and replace").click()
    bar = page.locator("#find-bar")
    expect(bar).to_be_visible()
    page.locator("#find-input").fill("words")
    expect(page.locator("#find-count")).to_have_text("1 of 1")
    for target in ("#find-next", "#find-close", "#find-toggle-replace"):
        assert_tappable(page.locator(target), target)
    page.locator("#find-toggle-replace").click()
    assert_tappable(page.locator("#replace-all"), "Replace all")
    assert_no_sideways_scroll(page, "the find bar")
    page.locator("#find-close").click()
    expect(bar).to_be_hidden()

    header_action(page, "Outline").click()
    entry = page.locator("#outline-list button", has_text="Top")
    assert_tappable(entry, "the outline's entry")
    assert_no_sideways_scroll(page, "the outline")
    entry.click()
    # On a phone the outline gives way to the text it points at.
    expect(page.locator("#outline-panel")).to_be_hidden()
    expect(alice.editor.locator("h1", has_text="Top")).to_be_in_viewport()

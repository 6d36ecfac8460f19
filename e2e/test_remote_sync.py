"""The editor's cheap path for remote edits (editor/remotesync.ts) keeps everything right:
remote text edits, then remote structural ones, land where they belong while the local person
types elsewhere; remote carets and the presence list still follow the others."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from e2e.helpers import People, fetch_server_doc, fragment_text

pytestmark = pytest.mark.timeout(120)


def test_remote_text_and_structure_edits_merge_while_typing_elsewhere(
    people: People, doc_name: str
) -> None:
    alice, bob = people.pair(doc_name)
    alice.click_end()
    alice.type("First.")
    alice.page.keyboard.press("Enter")
    alice.type("Second.")
    alice.page.keyboard.press("Enter")
    alice.type("Third.")
    bob.wait_text_equals("First.\nSecond.\nThird.")

    # Bob edits the first paragraph's text, key by key, while Alice types at the end.
    bob.click_start()
    for word in ("one ", "two ", "three "):
        bob.type(word)
        alice.type(" " + word.strip())
    expected = "one two three First.\nSecond.\nThird. one two three"
    alice.wait_text_equals(expected)
    bob.wait_text_equals(expected)
    # Alice's caret stayed at the end of her paragraph through every remote edit.
    alice.type("!")
    alice.wait_text_equals(expected + "!")

    # Bob's caret is drawn on Alice's screen, and the presence list names him.
    caret = alice.page.locator(".collaboration-carets__caret", has_text="Bob")
    expect(caret).to_have_count(1)
    expect(alice.page.locator("#presence li[data-name=Bob]")).to_have_count(1)
    first = caret.bounding_box()
    assert first is not None
    # Bob's caret moves (an awareness change of his): Alice's screen follows.
    bob.page.keyboard.press("End")
    alice.page.wait_for_function(
        "(x) => { const c = Array.from(document.querySelectorAll("
        "'.collaboration-carets__caret')).find((e) => e.textContent.includes('Bob'));"
        " return c && Math.abs(c.getBoundingClientRect().x - x) > 20; }",
        arg=first["x"],
    )

    # A structural change: Bob splits his paragraph and adds one, then edits text again.
    bob.page.keyboard.press("Enter")
    bob.type("Inserted by Bob.")
    alice.type("?")
    expected = "one two three First.\nInserted by Bob.\nSecond.\nThird. one two three!?"
    alice.wait_text_equals(expected)
    bob.wait_text_equals(expected)
    bob.type(" More.")
    alice.type(".")
    expected = "one two three First.\nInserted by Bob. More.\nSecond.\nThird. one two three!?."
    alice.wait_text_equals(expected)
    bob.wait_text_equals(expected)
    alice.wait_saved()
    bob.wait_saved()
    assert fragment_text(fetch_server_doc(people.base, doc_name)) == expected

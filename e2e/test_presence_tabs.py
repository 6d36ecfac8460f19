"""Presence that tells the truth: a person's other tabs show as theirs, others by their name."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from e2e.helpers import SEE_MS, People

pytestmark = pytest.mark.timeout(120)

OTHER_TAB = "You (other tab)"


def test_a_second_tab_shows_as_you_and_another_person_by_name(
    people: People, doc_name: str
) -> None:
    first = people.add("Alice", doc=doc_name)
    second = first.new_tab().open(people.base, doc_name)
    bob = people.add("Bob", doc=doc_name)
    for person in (first, second, bob):
        person.wait_synced()

    for tab in (first, second):
        own = tab.page.locator("#presence li[data-own='tab']")
        expect(own).to_have_count(1, timeout=SEE_MS)
        expect(own.locator(".person-name")).to_have_text(OTHER_TAB)
        # Bob is Bob, never "you"; and no stranger called Alice besides us.
        expect(tab.page.locator("#presence li[data-name='Bob']")).to_have_count(1)
        expect(tab.page.locator("#presence li[data-name='Bob'] .person-name")).to_have_text("Bob")
        expect(tab.page.locator("#presence li")).to_have_count(3)  # me, my other tab, Bob

    # Bob, in his own browser, sees Alice by name (her two tabs are one person to him).
    expect(bob.page.locator("#presence li[data-own]")).to_have_count(0)
    expect(bob.page.locator("#presence li[data-name='Alice'] .person-name")).to_have_text("Alice")
    expect(bob.page.locator("#presence li")).to_have_count(2)

    # Carets say the same: the second tab's caret is "you" in the first, "Alice" for Bob.
    first.click_end()
    first.type("Some text to stand in.")
    second.wait_contains("Some text to stand in.")
    bob.wait_contains("Some text to stand in.")
    second.click_end()
    expect(first.page.locator(".collaboration-carets__label")).to_have_text(
        [OTHER_TAB], timeout=SEE_MS
    )
    # (Both of Alice's tabs hold a selection: headless tabs all keep focus.)
    expect(bob.page.locator(".collaboration-carets__label")).to_have_text(
        ["Alice", "Alice"], timeout=SEE_MS
    )
    bob.click_end()
    labels = first.page.locator(".collaboration-carets__label")
    expect(labels).to_have_count(2, timeout=SEE_MS)
    assert sorted(labels.all_text_contents()) == ["Bob", OTHER_TAB]

    # The other tab closes: its entry goes, and Bob stays.
    second.close_tab()
    expect(first.page.locator("#presence li[data-own='tab']")).to_have_count(0, timeout=SEE_MS)
    expect(first.page.locator("#presence li")).to_have_count(2)

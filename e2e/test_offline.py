"""Working offline: edits stay on the device, reach the server on reconnect, merge exactly once."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from e2e.helpers import People, fetch_server_doc, fragment_text

pytestmark = pytest.mark.timeout(120)


def test_going_offline_editing_on_both_sides_and_reconnecting_merges_everything_once(
    people: People, doc_name: str
) -> None:
    alice, bob = people.pair(doc_name)
    alice.click_end()
    alice.type("The plan:")
    bob.wait_text_equals("The plan:")
    alice.wait_saved()

    alice.go_offline()
    expect(alice.page.locator("#sync-label")).to_have_text("Offline")
    # Offline, Alice sees only herself.
    expect(alice.page.locator("#presence li")).to_have_count(1)

    # Both edit the same paragraph: Alice at its end, Bob at its start.
    alice.click_end()
    alice.type(" alpha from Alice")
    alice.wait_saved_on_device()
    expect(alice.body).to_have_attribute("data-saved", "false")
    expect(alice.page.locator("#saved-label")).to_contain_text("kept on this device")
    bob.click_start()
    bob.type("Bob says: ")
    bob.wait_saved()  # the server has Bob's edit now

    # The server did not get Alice's offline edit: neither Bob nor a fresh reader sees it.
    reader = people.add("Reader", doc=doc_name)
    reader.wait_synced()
    reader.wait_text_equals("Bob says: The plan:")
    assert " alpha from Alice" not in bob.text()
    assert fragment_text(fetch_server_doc(people.base, doc_name)) == "Bob says: The plan:"

    alice.go_online()
    expected = "Bob says: The plan: alpha from Alice"
    for person in (alice, bob, reader):
        person.wait_text_equals(expected)
    alice.wait_saved()
    assert fragment_text(fetch_server_doc(people.base, doc_name)) == expected


def test_offline_edits_survive_closing_the_tab_and_are_sent_when_reopened_online(
    people: People, doc_name: str
) -> None:
    alice = people.add("Alice", doc=doc_name)
    alice.wait_synced()
    alice.click_end()
    alice.type("Written online.")
    alice.wait_saved()

    alice.go_offline()
    alice.page.keyboard.press("Enter")
    alice.type("Written offline, then the tab was closed.")
    alice.wait_saved_on_device()
    alice.close_tab()

    # Meanwhile the server only has the online part.
    bob = people.add("Bob", doc=doc_name)
    bob.wait_synced()
    bob.wait_text_equals("Written online.")

    # Later, Alice is online again and reopens the document in the same browser.
    alice.context.set_offline(False)
    again = alice.new_tab().open(people.base, doc_name)
    again.wait_synced()
    expected = "Written online.\nWritten offline, then the tab was closed."
    again.wait_text_equals(expected)
    again.wait_saved()
    bob.wait_text_equals(expected)
    assert fragment_text(fetch_server_doc(people.base, doc_name)) == expected


def test_tabs_of_one_browser_keep_in_sync_while_offline_and_both_sync_later(
    people: People, doc_name: str
) -> None:
    alice = people.add("Alice", doc=doc_name)
    alice.wait_synced()
    alice.click_end()
    alice.type("first visit")
    alice.wait_saved()
    alice.wait_saved_on_device()

    second = alice.new_tab().open(people.base, doc_name)
    second.wait_synced()
    alice.go_offline()
    expect(second.body).to_have_attribute("data-sync", "offline")
    second.click_end()
    second.type(" + offline tab")
    alice.wait_contains("first visit + offline tab")  # tabs of one browser sync without a network
    alice.context.set_offline(False)
    alice.wait_synced()
    second.wait_synced()
    second.wait_saved()
    assert fragment_text(fetch_server_doc(people.base, doc_name)) == "first visit + offline tab"

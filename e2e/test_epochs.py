"""Epochs: a document deleted and created again under the same name is a new document. A copy
kept on a device (IndexedDB) from before the deletion never comes back, neither on that device
nor on the server."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import BrowserContext, expect

from e2e.helpers import People, Person, fetch_server_doc, fragment_text

pytestmark = pytest.mark.timeout(90)

# Notes whether a text ever showed on the page, from the first byte on.
WATCH_JS = """
window.__seen = false;
new MutationObserver(() => {
  if (!window.__seen && document.body && document.body.textContent.includes(%r)) {
    window.__seen = true;
  }
}).observe(document, { subtree: true, childList: true, characterData: true });
"""

# This device's IndexedDB databases that hold a copy of the document (its text, and its
# comments: "<text copy>~comments"), sorted.
LOCAL_COPIES_JS = """
async (name) => (await indexedDB.databases())
  .map((db) => db.name)
  .filter((n) => n.startsWith('coedit:' + encodeURIComponent(name) + ':'))
  .sort()
"""


def copies_of(name: str, epoch: str) -> list[str]:
    """The names of one epoch's local copies: the text's and the comments'."""
    text = f"coedit:{quote(name, safe='')}:{epoch}"
    return [text, f"{text}~comments"]


def api_url(base: str, name: str) -> str:
    return f"{base}/api/docs/{quote(name, safe='')}"


def delete_and_recreate(context: BrowserContext, base: str, name: str) -> str:
    """DELETE the document (to the trash), empty it from the trash, then PUT it back; returns
    the new epoch."""
    gone = context.request.delete(api_url(base, name))
    assert gone.status == 204, gone.text()
    purged = context.request.delete(f"{base}/api/trash/{quote(name, safe='')}")
    assert purged.status == 204, purged.text()
    again = context.request.put(api_url(base, name) + "?create=1")
    assert again.ok, again.text()
    epoch = again.json()["epoch"]
    assert isinstance(epoch, str) and epoch
    return epoch


def write_and_save(person: Person, text: str) -> None:
    person.wait_synced()
    person.click_end()
    person.type(text)
    person.wait_saved()
    person.wait_saved_on_device()


def local_copies(person: Person, name: str) -> list[str]:
    value: Any = person.page.evaluate(LOCAL_COPIES_JS, name)
    assert isinstance(value, list)
    return [str(v) for v in value]


def test_reopening_after_the_document_was_recreated_shows_only_the_new_content(
    people: People, doc_name: str
) -> None:
    alice = people.add("Alice", doc=doc_name)
    write_and_save(alice, "old content")
    old_epoch = alice.body.get_attribute("data-epoch")
    assert old_epoch
    assert local_copies(alice, doc_name) == copies_of(doc_name, old_epoch)
    alice.close_tab()  # the browser (and its IndexedDB) stays

    new_epoch = delete_and_recreate(alice.context, people.base, doc_name)
    assert new_epoch != old_epoch
    bob = people.add("Bob", doc=doc_name)
    write_and_save(bob, "new")

    again = alice.new_tab()
    again.page.add_init_script(WATCH_JS % "old content")
    again.open(people.base, doc_name)
    again.wait_synced()
    again.wait_text_equals("new")
    again.wait_saved()
    expect(again.body).to_have_attribute("data-epoch", new_epoch)
    assert again.page.evaluate("() => window.__seen") is False, "the old content showed"
    # The old copy is gone from the device; only the new epoch's is kept.
    expect_copies = copies_of(doc_name, new_epoch)
    again.page.wait_for_function(
        f"async ([name, expected]) => JSON.stringify(await ({LOCAL_COPIES_JS})(name)) "
        "=== JSON.stringify(expected)",
        arg=[doc_name, expect_copies],
    )

    # The server never got the old content: a fresh browser sees only the new.
    carol = people.add("Carol", doc=doc_name)
    carol.wait_synced()
    carol.wait_text_equals("new")
    bob.wait_text_equals("new")
    assert fragment_text(fetch_server_doc(people.base, doc_name)) == "new"


def test_a_stale_copy_reconnecting_is_refused_discarded_and_the_page_reloads(
    people: People, doc_name: str
) -> None:
    alice = people.add("Alice", doc=doc_name)
    write_and_save(alice, "old content")
    # A network blip: the socket goes away without the browser noticing it was offline.
    alice.page.evaluate("() => window.coedit.provider.disconnect()")
    expect(alice.body).not_to_have_attribute("data-sync", "synced")

    new_epoch = delete_and_recreate(alice.context, people.base, doc_name)
    bob = people.add("Bob", doc=doc_name)
    write_and_save(bob, "new")

    # Back: the server refuses the old epoch (4410); the page drops its copy and reloads.
    alice.page.evaluate(
        "() => window.coedit.provider.on('closed', (e) =>"
        " sessionStorage.setItem('e2e:closed', String(e.code)))"
    )
    with alice.page.expect_navigation():
        alice.page.evaluate("() => window.coedit.provider.connect()")
    alice.wait_synced()
    alice.wait_text_equals("new")
    expect(alice.body).to_have_attribute("data-epoch", new_epoch)
    assert alice.page.evaluate("() => sessionStorage.getItem('e2e:closed')") == "4410"
    assert local_copies(alice, doc_name) == copies_of(doc_name, new_epoch)
    bob.wait_text_equals("new")
    assert fragment_text(fetch_server_doc(people.base, doc_name)) == "new"


def test_an_open_document_moved_to_the_trash_says_so_and_keeps_its_copy(
    people: People, doc_name: str
) -> None:
    alice = people.add("Alice", doc=doc_name)
    write_and_save(alice, "soon gone")
    gone = alice.context.request.delete(api_url(people.base, doc_name))
    assert gone.status == 204

    expect(alice.body).to_have_attribute("data-access", "deleted")
    expect(alice.body).to_have_attribute("data-sync", "closed")
    expect(alice.page.locator("#access-banner")).to_contain_text("moved to the trash")
    expect(alice.editor).to_have_attribute("contenteditable", "false")
    # The page does not reconnect; it keeps this device's copy, which merges again if the
    # document is restored (same epoch), and is refused (4410) if it is made anew.
    state = alice.page.evaluate(
        "() => ({ should: window.coedit.provider.shouldConnect, ws: window.coedit.provider.ws })"
    )
    assert state == {"should": False, "ws": None}, state
    epoch = alice.body.get_attribute("data-epoch")
    assert epoch and local_copies(alice, doc_name) == copies_of(doc_name, epoch)
    assert alice.context.request.get(api_url(people.base, doc_name)).status == 404


def test_the_page_opens_from_the_remembered_epoch_while_the_server_cannot_answer(
    people: People, doc_name: str
) -> None:
    alice = people.add("Alice", doc=doc_name)
    write_and_save(alice, "Kept here.")
    alice.close_tab()

    # The page loads, but the server does not answer the PUT (down for a moment, say).
    again = alice.new_tab()
    again.page.route(
        "**/api/docs/**",
        lambda route: route.abort() if route.request.method == "PUT" else route.continue_(),
    )
    again.open(people.base, doc_name)
    expect(again.body).to_have_attribute("data-sync", "offline")
    again.wait_text_equals("Kept here.")
    again.click_end()
    again.type(" Written meanwhile.")
    again.wait_saved_on_device()
    expect(again.body).to_have_attribute("data-saved", "false")

    # The server answers again: the page checks the epoch first, then connects and sends.
    again.page.unroute("**/api/docs/**")
    again.wait_synced()
    again.wait_saved()
    assert fragment_text(fetch_server_doc(people.base, doc_name)) == "Kept here. Written meanwhile."

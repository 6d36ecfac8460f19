"""The home page: the list of documents and the "New document" button."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from e2e.helpers import People, doc_url

pytestmark = pytest.mark.timeout(90)


@pytest.mark.api_docs
def test_the_home_page_lists_a_document_with_its_title_after_it_was_edited(
    people: People, doc_name: str
) -> None:
    alice = people.add("Alice", doc=doc_name)
    alice.wait_synced()
    alice.page.locator("#title").fill("Quarterly plan")
    alice.click_end()
    alice.type("Numbers go here.")
    alice.wait_saved()

    visitor = people.add("Vera")
    visitor.page.goto(people.base + "/")
    # The server copies the title into its list shortly after the document goes idle: poll the
    # list from the page (a fetch at most every 250 ms) until it has it, then show the page again.
    visitor.page.wait_for_function(
        """([name, title]) => {
          const poll = (window.__listPoll ??= { found: false, busy: false });
          if (!poll.busy) {
            poll.busy = true;
            fetch('/api/docs?limit=200')
              .then((res) => res.json())
              .then((page) => {
                poll.found = page.docs.some((d) => d.name === name && d.title === title);
              })
              .catch(() => {})
              .finally(() => { poll.busy = false; });
          }
          return poll.found;
        }""",
        arg=[doc_name, "Quarterly plan"],
        polling=250,
        timeout=15_000,
    )
    visitor.page.reload()
    entry = visitor.page.locator(f"#docs li[data-name={doc_name!r}]")
    expect(entry).to_have_count(1)
    link = entry.get_by_role("link")
    expect(link).to_have_text("Quarterly plan")
    expect(entry).to_contain_text("edited")
    assert link.get_attribute("href") == doc_url("", doc_name)

    link.click()
    visitor.wait_synced()
    visitor.wait_text_equals("Numbers go here.")
    expect(visitor.page.locator("#title")).to_have_value("Quarterly plan")

    # The title is live: Alice renames, Vera's header follows.
    alice.page.locator("#title").fill("Quarterly plan (draft)")
    expect(visitor.page.locator("#title")).to_have_value("Quarterly plan (draft)")
    expect(visitor.page).to_have_title(re.compile(r"^Quarterly plan \(draft\)"))


def test_new_document_opens_an_empty_editor_at_a_shareable_address(people: People) -> None:
    alice = people.add("Alice")
    alice.page.goto(people.base + "/")
    alice.page.get_by_role("button", name="New document").click()
    expect(alice.page).to_have_url(re.compile(r"/d/[a-z]+-[a-z]+-\d{4}$"))
    alice.wait_synced()
    alice.wait_saved()
    name = alice.page.url.split("/d/", 1)[1]

    # The link works for someone else before anything was written.
    bob = people.add("Bob", doc=name)
    bob.wait_synced()
    bob.click_end()
    bob.type("First words")
    alice.wait_text_equals("First words")

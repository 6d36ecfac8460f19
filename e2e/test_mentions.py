"""@mentions in accounts mode: typing "@" suggests the people who can read the document; the
mentioned person finds it in their mentions on the home page (with an unread count) and opens
the thread from there."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from e2e.helpers import SEE_MS, People
from e2e.test_comment_link import owner_of_a_new_document
from e2e.test_comments import select_last, thread
from e2e.test_sharing import sign_up

pytestmark = [pytest.mark.timeout(150), pytest.mark.server_args("--auth", "accounts")]


def test_a_mention_reaches_the_mentioned_persons_list(people: People) -> None:
    carl = people.add("Carl")
    sign_up(carl, people.base, "carl")
    olivia, name = owner_of_a_new_document(people, "olivia")
    shared = olivia.context.request.put(
        f"{people.base}/api/docs/{name}/shares/carl", data={"role": "commenter"}
    )
    assert shared.ok, shared.text()
    olivia.page.reload()
    olivia.wait_synced()
    olivia.click_end()
    olivia.type("Budget for next year.")
    olivia.wait_saved()

    # "@ca" suggests Carl; Enter completes the name.
    select_last(olivia, len("next year."))
    olivia.page.locator("#add-comment").click()
    box = olivia.page.locator("#new-thread-body")
    box.fill("")
    box.type("Please check @ca")
    suggestion = olivia.page.locator("#new-thread .mention-suggestions li")
    expect(suggestion).to_have_text(["@carl"])
    box.press("Enter")
    expect(box).to_have_value("Please check @carl ")
    olivia.page.locator("#new-thread").get_by_role("button", name="Comment").click()
    expect(thread(olivia, "Please check @carl")).to_be_visible()

    # Carl's home page: one unread mention, which opens the thread.
    carl.page.goto(people.base + "/")
    count = carl.page.locator("#mentions-count")
    expect(count).to_have_text("1", timeout=SEE_MS)
    carl.page.locator("#mentions-button").click()
    item = carl.page.locator("#mention-list li.unread")
    expect(item).to_contain_text("Please check @carl")
    expect(item).to_contain_text("next year.")
    item.get_by_role("link").click()
    expect(carl.page).to_have_url(re.compile(r"#thread="))
    carl.wait_synced()
    expect(carl.page.locator("#comments-panel")).to_be_visible()
    expect(carl.page.locator("#threads .thread.active")).to_contain_text("Please check @carl")

    # Opened: read now.
    carl.page.goto(people.base + "/")
    expect(carl.page.locator("#mentions-button")).to_be_visible()
    expect(count).to_have_text("")

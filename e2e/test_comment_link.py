"""Accounts mode: a comment link's holder reads live, comments and replies, but typing changes
nothing in the text; the owner sees the comment live."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from e2e.helpers import SEE_MS, People, Person
from e2e.test_comments import comment_on_selection, highlight, open_panel, thread
from e2e.test_sharing import close_dialog, copy_link, sign_up, stored_text

pytestmark = [pytest.mark.timeout(150), pytest.mark.server_args("--auth", "accounts")]


def owner_of_a_new_document(people: People, username: str) -> tuple[Person, str]:
    """Someone signed up who has just made a document (synced): them and its name."""
    owner = people.add(username.title())
    sign_up(owner, people.base, username)
    owner.page.get_by_role("button", name="New document").click()
    expect(owner.page).to_have_url(re.compile(r"/d/[a-z]+-[a-z]+-\d{4}$"))
    owner.wait_synced()
    return owner, owner.page.url.split("/d/", 1)[1]


def test_a_comment_link_holder_comments_but_cannot_change_the_text(people: People) -> None:
    olivia, name = owner_of_a_new_document(people, "olivia")
    olivia.click_end()
    olivia.type("Draft for review.")
    olivia.wait_saved()
    open_panel(olivia)

    url = copy_link(olivia, "Copy comment link", "commenter")
    close_dialog(olivia)
    carol = people.add("Carol")
    carol.page.goto(url)
    carol.wait_synced()
    carol.wait_text_equals("Draft for review.")
    expect(carol.page.locator("#role")).to_have_text("Can comment")
    expect(carol.editor).to_have_attribute("contenteditable", "false")

    # Typing changes nothing, for anyone.
    carol.editor.click()
    carol.page.keyboard.type("vandalism")
    olivia.click_end()
    olivia.type(" Owner continues.")
    carol.wait_text_equals("Draft for review. Owner continues.")
    olivia.wait_saved()
    assert stored_text(olivia, people.base, name) == "Draft for review. Owner continues."

    # Commenting works: select the paragraph and comment.
    carol.editor.locator("p").first.click(click_count=3)
    comment_on_selection(carol, "Please expand this.", shortcut=True)
    expect(thread(olivia, "Please expand this.")).to_be_visible(timeout=SEE_MS)
    expect(highlight(olivia)).to_have_text("Draft for review. Owner continues.")
    expect(thread(olivia, "Please expand this.").locator(".comment-author")).to_have_text("Carol")

    # The owner replies; Carol resolves (commenters may resolve).
    reply = thread(olivia, "Please expand this.")
    reply.get_by_placeholder("Reply").fill("Will do.")
    reply.get_by_role("button", name="Reply").click()
    expect(thread(carol, "Please expand this.")).to_contain_text("Will do.", timeout=SEE_MS)
    thread(carol, "Please expand this.").get_by_role("button", name="Resolve").click()
    expect(thread(olivia, "Please expand this.")).to_be_hidden(timeout=SEE_MS)
    # Carol may not delete the owner's reply: no button offered (the server refuses it anyway).
    carol.page.locator("#show-resolved").check()
    owner_reply = thread(carol, "Please expand this.").locator(".comment", has_text="Will do.")
    expect(owner_reply.get_by_role("button", name="Delete")).to_have_count(0)
    assert stored_text(olivia, people.base, name) == "Draft for review. Owner continues."

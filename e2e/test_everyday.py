"""Small things a person meets within a week: what a page shows once access is gone or the
document deleted, typing after a link, fast typing across new lines, Back while previewing a
version, avatars' initials."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from e2e.helpers import People
from e2e.test_epochs import api_url, write_and_save
from e2e.test_sharing import copy_link, sign_up
from e2e.ui import TAPPABLE_JS, add_link, save_named_version

pytestmark = pytest.mark.timeout(120)


@pytest.mark.server_args("--auth", "accounts")
def test_after_a_revoked_link_only_the_access_lost_message_shows(people: People) -> None:
    olivia = people.add("Olivia")
    sign_up(olivia, people.base, "olivia")
    olivia.page.get_by_role("button", name="New document").click()
    olivia.wait_synced()
    edit_url = copy_link(olivia, "Copy edit link", "editor")
    olivia.page.get_by_role("dialog", name="Share").get_by_role("button", name="Close").click()

    # Someone new (never asked for a name) opens the link: the page asks for their name.
    guest = people.add(None)
    guest.page.goto(edit_url)
    guest.wait_synced()
    prompt = guest.page.locator("#name-prompt")
    expect(prompt).to_be_visible()

    olivia.page.get_by_role("button", name="Share").click()
    dialog = olivia.page.get_by_role("dialog", name="Share")
    dialog.locator("#share-links li[data-role=editor]").get_by_role("button", name="Revoke").click()
    expect(guest.body).to_have_attribute("data-access", "lost")
    banner = guest.page.locator("#access-banner")
    expect(banner).to_contain_text("no longer have access")
    expect(prompt).to_be_hidden()
    assert banner.evaluate(TAPPABLE_JS), "something covers the access-lost message"
    # A name no longer matters: the name button does not bring the prompt back.
    expect(guest.page.locator("#me")).to_be_disabled()


def test_a_deleted_document_leaves_the_screen_and_offers_nothing_for_it(
    people: People, doc_name: str
) -> None:
    alice = people.add("Alice", doc=doc_name)
    write_and_save(alice, "soon gone")
    page = alice.page
    page.get_by_role("button", name="History").click()
    expect(page.locator("#history-panel")).to_be_visible()
    gone = alice.context.request.delete(api_url(people.base, doc_name))
    assert gone.status == 204

    expect(alice.body).to_have_attribute("data-access", "deleted")
    expect(page.locator("#access-banner")).to_contain_text("moved to the trash")
    expect(page.get_by_role("link", name="All documents")).to_be_visible()
    for gone_part in [
        "#editor",
        "#toolbar",
        "#history-panel",
        "#history-button",
        "#export-button",
        "#more",
        "#title",
    ]:
        expect(page.locator(gone_part)).to_be_hidden()


def test_text_typed_right_after_a_link_is_not_part_of_it(people: People, doc_name: str) -> None:
    alice, bob = people.pair(doc_name)
    alice.click_end()
    alice.type("Read ")
    add_link(alice, "the guide", "https://example.com/guide")
    # The link form leaves the caret right after the link.
    alice.type(" today")
    bob.wait_contains("Read the guide today")
    for person in (alice, bob):
        links = person.editor.locator("a")
        expect(links).to_have_count(1)
        expect(links).to_have_text("the guide")
    # Typing at the end of a link that ends the paragraph does not extend it either.
    alice.click_end()
    alice.type(" See ")
    add_link(alice, "more", "https://example.com/more")
    alice.type("!")
    bob.wait_contains("today See more!")
    expect(bob.editor.locator("a")).to_have_text(["the guide", "more"])
    # An address typed as text still becomes a link once it is complete.
    alice.type(" Or example.org then")
    bob.wait_contains("Or example.org then")
    expect(bob.editor.locator("a")).to_have_text(["the guide", "more", "example.org"])
    expect(bob.editor.locator("a").nth(2)).to_have_attribute("href", "https://example.org")


def test_letters_typed_right_after_enter_stay_in_order(people: People, doc_name: str) -> None:
    # Chrome sometimes left its caret in front of a letter typed a few ms after Enter, and the
    # rest of the line went before it ("aragraph 3.P"): about one line in 40 at machine speed.
    alice, bob = people.pair(doc_name)
    alice.click_end()
    lines = [f"Paragraph {i} of the introduction." for i in range(80)]
    for line in lines:
        alice.type(line)
        alice.page.keyboard.press("Enter")
    want = "\n".join([*lines, ""])
    alice.wait_text("(text, want) => text === want", want)
    bob.wait_text("(text, want) => text === want", want)


def test_back_while_previewing_a_version_closes_the_preview(people: People, doc_name: str) -> None:
    alice = people.add("Alice", doc=doc_name)
    write_and_save(alice, "First words.")
    page = alice.page
    entry = save_named_version(page, "One")
    url = page.url

    for _ in range(2):  # the second time shows the first left nothing behind in the history
        entry.get_by_role("button").click()
        expect(page.locator("#preview")).to_be_visible()
        expect(page.locator("#editor")).to_be_hidden()
        page.go_back()
        expect(page.locator("#preview")).to_be_hidden()
        expect(page.locator("#editor")).to_be_visible()
        assert page.url == url

    # Closed with its own button, the preview leaves no entry behind: Back leaves the page.
    entry.get_by_role("button").click()
    expect(page.locator("#preview")).to_be_visible()
    page.get_by_role("button", name="Back to the document").click()
    expect(page.locator("#preview")).to_be_hidden()
    page.go_back()
    expect(page).to_have_url("about:blank")


def test_avatars_show_initials_from_the_letters_of_the_name(people: People, doc_name: str) -> None:
    shown = {
        "Carol (link)": "CA",
        "Dana Scully (link)": "DS",
        "élodie [guest]": "ÉL",
        "O'Brien": "OB",
        "🎉": "🎉",
    }
    alice = people.add("Alice", doc=doc_name)
    for name in shown:
        people.add(name, doc=doc_name, trace=False)
    for name, initials in shown.items():
        avatar = alice.page.locator(f"#presence li[data-name={name!r}] .avatar")
        expect(avatar).to_have_text(initials)
    expect(alice.page.locator("#presence")).to_have_attribute(
        "aria-label", re.compile(re.escape("Carol (link)"))
    )

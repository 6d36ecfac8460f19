"""A phone-sized screen (390 x 844): every action of the document page can be reached and
tapped, nothing scrolls sideways, the text keeps the screen's width; the home and sign-in pages
fit too."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, ViewportSize, expect

from e2e.helpers import People, Person
from e2e.test_sharing import sign_up
from e2e.ui import TAPPABLE_JS

pytestmark = pytest.mark.timeout(120)

PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}


def assert_no_sideways_scroll(page: Page, where: str) -> None:
    width = page.evaluate("() => document.scrollingElement.scrollWidth")
    assert width <= PHONE["width"], f"{where}: the page is {width}px wide"


def assert_tappable(target: Locator, what: str) -> None:
    expect(target).to_be_visible()
    box = target.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 0.5, (
        f"{what} is (partly) off the screen: {box}"
    )
    assert target.evaluate(TAPPABLE_JS), f"{what} is covered by something else"


def open_more(page: Page) -> Locator:
    more = page.get_by_role("button", name="More", exact=True)
    assert_tappable(more, "the More button")
    if more.get_attribute("aria-expanded") != "true":
        more.click()
    menu = page.locator("#more-menu")
    expect(menu).to_be_visible()
    return menu


def header_action(page: Page, name: str) -> Locator:
    """The header action `name`: its own button when it fits, else its item under More."""
    inline = page.locator("#actions").get_by_role("button", name=name, exact=True)
    if inline.is_visible():
        return inline
    return open_more(page).get_by_role("menuitem", name=name, exact=True)


def export_items(page: Page) -> Locator:
    button = page.locator("#export-button")
    if button.is_visible():
        button.click()
        return page.locator("#export-menu [role=menuitem]")
    return open_more(page).locator("a[role=menuitem]")


def check_history_and_export(person: Person, text: str, *, can_edit: bool = True) -> None:
    page = person.page
    history = header_action(page, "History")
    assert_tappable(history, "History")
    history.click()
    expect(page.locator("#history-panel")).to_be_visible()
    assert_no_sideways_scroll(page, "history open")
    # A version's preview takes the panel's place, and gives it back.
    if can_edit:
        page.get_by_role("button", name="Save version…").click()
        page.get_by_label("Name this version").fill("On the go")
        page.get_by_label("Name this version").press("Enter")
    entry = page.locator("#versions li", has_text="On the go").get_by_role("button")
    assert_tappable(entry, "the saved version")
    entry.click()
    expect(page.locator("#preview")).to_have_attribute("data-ready", "true")
    expect(page.locator("#history-panel")).to_be_hidden()
    if can_edit:
        assert_tappable(page.get_by_role("button", name="Restore this version"), "Restore")
    assert_tappable(page.locator("#preview-doc"), "the version's text")
    assert_no_sideways_scroll(page, "a version previewed")
    back = page.get_by_role("button", name="Back to the document")
    assert_tappable(back, "closing the preview")
    back.click()
    expect(page.locator("#history-panel")).to_be_visible()
    close = page.get_by_role("button", name="Close version history")
    assert_tappable(close, "closing the history")
    close.click()
    expect(page.locator("#history-panel")).to_be_hidden()

    items = export_items(page)
    expect(items).to_have_count(3)
    for i in range(3):
        assert_tappable(items.nth(i), f"export item {i}")
    assert_no_sideways_scroll(page, "export menu open")
    with page.expect_download() as download:
        items.filter(has_text="Markdown").click()
    path = download.value.path()
    assert text in path.read_text(encoding="utf-8")


def test_every_action_is_reachable_and_nothing_scrolls_sideways_on_a_phone(
    people: People, doc_name: str
) -> None:
    bob = people.add("Bob", doc=doc_name)
    carol = people.add("Carol Longname-Withsurname", doc=doc_name)
    alice = people.add("Alice Wonderland-Smith", doc=doc_name)
    page = alice.page
    alice.wait_synced()
    expect(page.locator("#presence li")).to_have_count(3)
    # A desktop has room for every action: no More button.
    expect(page.locator("#history-button")).to_be_visible()
    expect(page.locator("#export-button")).to_be_visible()
    expect(page.locator("#more")).to_be_hidden()

    page.set_viewport_size(PHONE)
    expect(page.locator("#more")).to_be_visible()
    assert_no_sideways_scroll(page, "the document page")
    for target, what in [
        (page.locator("#title"), "the title"),
        (page.locator("#me"), "the name button"),
        (page.locator("#status"), "the status"),
        (page.locator(".brand"), "the link to all documents"),
    ]:
        assert_tappable(target, what)
    # The others are shown (overlapping), and named for screen readers.
    expect(page.locator("#presence")).to_have_attribute("aria-label", re.compile("Bob.*Carol"))
    assert_tappable(page.locator("#presence li[data-name=Bob] .avatar"), "Bob's avatar")

    # The text keeps the screen's width.
    box = page.locator("#editor").bounding_box()
    assert box is not None and box["width"] >= PHONE["width"] - 24, box

    # Typing works and reaches the others.
    alice.click_end()
    alice.type("Written on a phone")
    bob.wait_contains("Written on a phone")

    # Every formatting button can be scrolled to and tapped, even the last one (the table and
    # image buttons shown only in a table or on an image are left out).
    buttons = page.locator("#toolbar button:visible")
    count = buttons.count()
    assert count >= 15
    for i in range(count):
        button = buttons.nth(i)
        button.scroll_into_view_if_needed()
        assert_tappable(button, f"toolbar button {button.get_attribute('aria-label')}")
    assert_no_sideways_scroll(page, "the toolbar scrolled")
    alice.click_end()
    buttons.last.scroll_into_view_if_needed()
    expect(buttons.last).to_have_attribute("aria-label", "Insert image")
    rule = page.locator("#toolbar button[aria-label='Horizontal rule']")
    rule.scroll_into_view_if_needed()
    rule.click()
    expect(alice.editor.locator("hr")).to_have_count(1)
    expect(bob.editor.locator("hr")).to_have_count(1)

    check_history_and_export(alice, "Written on a phone")

    # The name button opens the name prompt, which fits.
    page.locator("#me").click()
    expect(page.locator("#name-prompt")).to_be_visible()
    assert_no_sideways_scroll(page, "the name prompt")
    page.locator("#name-input").fill("Al")
    page.get_by_role("button", name="OK").click()
    expect(bob.page.locator("#presence li[data-name=Al]")).to_have_count(1)

    # Back on a wide screen, the actions are buttons again.
    page.set_viewport_size(DESKTOP)
    expect(page.locator("#more")).to_be_hidden()
    expect(page.locator("#export-button")).to_be_visible()
    expect(carol.page.locator("#presence li[data-name=Al]")).to_have_count(1)


def test_a_new_header_action_goes_under_more_when_it_does_not_fit(
    people: People, doc_name: str
) -> None:
    alice = people.add("Alice", doc=doc_name)
    page = alice.page
    alice.wait_synced()
    page.set_viewport_size(PHONE)
    # What another feature does to add an action: a button in #actions, its own handler.
    page.evaluate(
        """() => {
          const b = document.createElement('button');
          b.id = 'extra-action'; b.type = 'button'; b.className = 'header-button';
          b.textContent = 'A rather long action';
          b.addEventListener('click', () => { document.body.dataset.extra = 'clicked'; });
          document.getElementById('actions').append(b);
        }"""
    )
    item = open_more(page).get_by_role("menuitem", name="A rather long action")
    assert_tappable(item, "the new action's menu item")
    item.click()
    expect(alice.body).to_have_attribute("data-extra", "clicked")
    expect(page.locator("#more-menu")).to_be_hidden()
    assert_no_sideways_scroll(page, "with one more action")


@pytest.mark.server_args("--auth", "accounts")
def test_an_owner_on_a_phone_can_share_and_the_account_pages_fit(people: People) -> None:
    olivia = people.add("Olivia")
    page = olivia.page
    page.set_viewport_size(PHONE)
    page.goto(people.base + "/signin")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert_no_sideways_scroll(page, "the sign-in page")
    sign_up(olivia, people.base, "olivia-with-a-long-name")
    assert_no_sideways_scroll(page, "the home page")
    page.get_by_role("button", name="New document").click()
    expect(page).to_have_url(re.compile(r"/d/[a-z]+-[a-z]+-\d{4}$"))
    olivia.wait_synced()
    expect(page.locator("#role")).to_have_text("Owner")
    olivia.click_end()
    olivia.type("Owner's notes")
    olivia.wait_saved()
    page.goto(people.base + "/")
    expect(page.locator("#docs li")).to_have_count(1)
    assert_no_sideways_scroll(page, "the home page with a document")
    page.go_back()
    olivia.wait_synced()

    assert_no_sideways_scroll(page, "the owner's document page")
    assert_tappable(page.locator("#me"), "the name button")
    share = header_action(page, "Share")
    assert_tappable(share, "Share")
    share.click()
    dialog = page.get_by_role("dialog", name="Share")
    expect(dialog).to_be_visible()
    box = dialog.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    dialog.get_by_role("button", name="Copy view link").click()
    expect(page.locator("#share-status")).to_contain_text(re.compile(r"link (copied|ready)"))
    view_url = dialog.locator("#share-links li[data-role=viewer] input").input_value()
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    check_history_and_export(olivia, "Owner's notes")

    # Someone reading along with the view link (a role badge, an avatar, a name of their own).
    viewer = people.add(None)
    viewer.page.set_viewport_size(PHONE)
    viewer.page.goto(view_url)
    viewer.wait_synced()
    expect(viewer.page.locator("#role")).to_have_text("Viewing")
    expect(viewer.page.locator("#presence li")).to_have_count(2)
    assert_no_sideways_scroll(viewer.page, "the viewer's page")
    for target, what in [
        (viewer.page.locator("#me"), "the viewer's name button"),
        (viewer.page.locator("#role"), "the role badge"),
        (viewer.page.locator("#title"), "the title"),
    ]:
        assert_tappable(target, what)
    check_history_and_export(viewer, "Owner's notes", can_edit=False)

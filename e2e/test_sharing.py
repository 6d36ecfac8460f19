"""Accounts mode: signing up, sharing a document with view and edit links, what a viewer can and
cannot do, and revoking a link while it is in use."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from e2e.helpers import People, Person

pytestmark = [pytest.mark.timeout(120), pytest.mark.server_args("--auth", "accounts")]

PASSWORD = "correct horse battery"


def sign_up(person: Person, base: str, username: str) -> None:
    """Sign up through the pages: home sends a stranger to sign in, which links to sign up."""
    page = person.page
    page.goto(base + "/")
    expect(page).to_have_url(re.compile(r"/signin\?next=%2F$"))
    page.get_by_role("link", name="Create an account").click()
    expect(page).to_have_url(re.compile(r"/signup\?next=%2F$"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(base + "/")
    expect(page.locator("#account-name")).to_have_text(username)


def copy_link(owner: Person, button: str, role: str) -> str:
    page = owner.page
    page.get_by_role("button", name="Share").click()
    dialog = page.get_by_role("dialog", name="Share")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name=button).click()
    expect(page.locator("#share-status")).to_contain_text(re.compile(r"link (copied|ready)"))
    url = dialog.locator(f"#share-links li[data-role={role}] input").input_value()
    assert f"/d/{owner.page.url.split('/d/', 1)[1]}?share=" in url, url
    return url


def stored_text(owner: Person, base: str, name: str) -> str:
    """What the server stores, as plain text, read with the owner's session (blocks separated
    by blank lines)."""
    res = owner.context.request.get(f"{base}/api/docs/{name}/export?format=txt")
    assert res.ok, res.text()
    return res.text().rstrip("\n")


def close_dialog(owner: Person) -> None:
    owner.page.get_by_role("dialog", name="Share").get_by_role("button", name="Close").click()
    expect(owner.page.get_by_role("dialog", name="Share")).to_be_hidden()


def test_view_and_edit_links_give_their_role_and_revoking_drops_the_viewer_at_once(
    people: People,
) -> None:
    olivia = people.add("Olivia")
    sign_up(olivia, people.base, "olivia")
    olivia.page.get_by_role("button", name="New document").click()
    expect(olivia.page).to_have_url(re.compile(r"/d/[a-z]+-[a-z]+-\d{4}$"))
    name = olivia.page.url.split("/d/", 1)[1]
    olivia.wait_synced()
    expect(olivia.page.locator("#role")).to_have_text("Owner")
    olivia.click_end()
    olivia.type("Plan for the week.")
    olivia.wait_saved()

    # Someone without an account or a link is asked to sign in.
    erin = people.add("Erin")
    erin.page.goto(f"{people.base}/d/{name}")
    expect(erin.body).to_have_attribute("data-access", "signin")
    expect(erin.page.locator("#access-banner")).to_contain_text("Sign in")
    expect(erin.page.get_by_role("link", name="Sign in")).to_have_attribute(
        "href", f"/signin?next=%2Fd%2F{name}"
    )

    # A view link: Victor (signed in, not shared with) reads along but cannot change anything.
    view_url = copy_link(olivia, "Copy view link", "viewer")
    close_dialog(olivia)
    victor = people.add("Victor")
    sign_up(victor, people.base, "victor")
    victor.page.goto(view_url)
    victor.wait_synced()
    victor.wait_text_equals("Plan for the week.")
    expect(victor.page.locator("#role")).to_have_text("Viewing")
    expect(victor.editor).to_have_attribute("contenteditable", "false")
    expect(victor.page.locator("#toolbar")).to_be_hidden()
    expect(victor.page.locator("#title")).to_have_attribute("readonly", "")
    expect(victor.page.get_by_role("button", name="Share")).to_be_hidden()

    # Olivia sees Victor, marked as viewing (the server stamps his name and role).
    who = olivia.page.locator("#presence li[data-name=victor]")
    expect(who).to_have_attribute("data-role", "viewer")
    expect(who).to_contain_text("viewing")
    expect(olivia.page.locator("#presence li.self")).to_have_attribute("data-role", "editor")

    # Typing as a viewer changes nothing, for anyone.
    victor.editor.click()
    victor.page.keyboard.type("vandalism")
    victor.page.keyboard.press("Enter")
    olivia.click_end()
    olivia.type(" Monday: start.")
    victor.wait_text_equals("Plan for the week. Monday: start.")
    olivia.wait_saved()
    assert olivia.text() == "Plan for the week. Monday: start."
    assert stored_text(olivia, people.base, name) == olivia.text()

    # An edit link lets a third person (no account) edit.
    edit_url = copy_link(olivia, "Copy edit link", "editor")
    close_dialog(olivia)
    erin.page.goto(edit_url)
    erin.wait_synced()
    expect(erin.body).to_have_attribute("data-access", "ok")
    expect(erin.page.locator("#role")).to_have_text("Can edit")
    erin.click_end()
    erin.type(" Erin adds a note.")
    olivia.wait_text_equals("Plan for the week. Monday: start. Erin adds a note.")
    victor.wait_text_equals("Plan for the week. Monday: start. Erin adds a note.")
    expect(olivia.page.locator("#presence li[data-name=Erin]")).to_have_attribute(
        "data-role", "editor"
    )

    # Revoking the view link drops Victor within a second; Erin's edit link still works.
    olivia.page.get_by_role("button", name="Share").click()
    dialog = olivia.page.get_by_role("dialog", name="Share")
    started = time.monotonic()
    dialog.locator("#share-links li[data-role=viewer]").get_by_role("button", name="Revoke").click()
    expect(victor.body).to_have_attribute("data-access", "lost", timeout=1_000)
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"the viewer kept access for {elapsed:.2f}s"
    expect(victor.page.locator("#access-banner")).to_contain_text("no longer have access")
    expect(victor.body).to_have_attribute("data-sync", "closed")
    expect(dialog.locator("#share-links li[data-role=viewer]")).to_have_count(0)
    expect(olivia.page.locator("#presence li[data-name=victor]")).to_have_count(0)
    close_dialog(olivia)
    erin.click_end()
    erin.type(" Still here.")
    olivia.wait_contains("Erin adds a note. Still here.")
    # The revoked link opens nothing any more.
    again = victor.new_tab()
    again.page.goto(view_url)
    expect(again.body).to_have_attribute("data-access", "denied")


def test_sharing_with_a_user_by_name_and_changing_their_role_applies_at_once(
    people: People,
) -> None:
    olivia = people.add("Olivia")
    sign_up(olivia, people.base, "olivia")
    olivia.page.get_by_role("button", name="New document").click()
    olivia.wait_synced()  # created: the address no longer says `new=1`
    name = olivia.page.url.split("/d/", 1)[1]
    olivia.click_end()
    olivia.type("Budget draft.")
    olivia.wait_saved()

    sam = people.add("Sam")
    sign_up(sam, people.base, "sam")
    sam.page.goto(f"{people.base}/d/{name}")
    expect(sam.body).to_have_attribute("data-access", "denied")

    olivia.page.get_by_role("button", name="Share").click()
    dialog = olivia.page.get_by_role("dialog", name="Share")
    dialog.get_by_label("Username").fill("nobody-here")
    dialog.get_by_role("button", name="Add").click()
    expect(olivia.page.locator("#share-status")).to_contain_text("no user named")
    dialog.get_by_label("Username").fill("sam")
    dialog.get_by_label("Role", exact=True).select_option("viewer")
    dialog.get_by_role("button", name="Add").click()
    expect(dialog.locator("#share-users li[data-username=sam]")).to_have_attribute(
        "data-role", "viewer"
    )

    sam.page.reload()
    sam.wait_synced()
    sam.wait_text_equals("Budget draft.")
    expect(sam.page.locator("#role")).to_have_text("Viewing")
    expect(sam.editor).to_have_attribute("contenteditable", "false")
    # Sam's home page lists the document shared with him.
    listing = people.add_page(sam)
    listing.page.goto(people.base + "/")
    expect(listing.page.locator(f"#docs li[data-name={name!r}]")).to_have_count(1)
    listing.close_tab()

    # Promoted to editor while the page is open: the server closes (4403), the page asks again
    # and carries on as an editor without a reload.
    dialog.get_by_label("Role of sam").select_option("editor")
    expect(sam.page.locator("#role")).to_have_text("Can edit")
    expect(sam.editor).to_have_attribute("contenteditable", "true")
    sam.wait_synced()
    sam.click_end()
    sam.type(" Sam's numbers.")
    olivia.wait_text_equals("Budget draft. Sam's numbers.")

    # Removed: the page says so and stops.
    dialog.get_by_role("button", name="Remove sam").click()
    expect(sam.body).to_have_attribute("data-access", "lost")
    expect(sam.editor).to_have_attribute("contenteditable", "false")

    # Signing out ends the session: the home page sends Olivia to sign in again.
    home = people.add_page(olivia)
    home.page.goto(people.base + "/")
    home.page.get_by_role("button", name="Sign out").click()
    expect(home.page).to_have_url(re.compile(r"/signin$"))
    home.page.goto(people.base + "/")
    expect(home.page).to_have_url(re.compile(r"/signin\?next=%2F$"))

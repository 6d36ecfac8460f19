"""Accounts mode: an image reaches someone who reads the document through a view link (their
browser loads it from the server with the link's credentials; an <img> sends no headers)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from e2e.helpers import SEE_MS, People
from e2e.test_sharing import close_dialog, copy_link, sign_up
from e2e.test_tables import paste_image

pytestmark = [pytest.mark.timeout(120), pytest.mark.server_args("--auth", "accounts")]

LOADED_JS = (
    "() => { const img = document.querySelector('.ProseMirror img');"
    " return img !== null && img.complete && img.naturalWidth === 2; }"
)


def test_a_view_link_reader_sees_the_image_and_a_stranger_cannot_fetch_it(
    people: People,
) -> None:
    olivia = people.add("Olivia")
    sign_up(olivia, people.base, "olivia")
    olivia.page.get_by_role("button", name="New document").click()
    expect(olivia.page).to_have_url(re.compile(r"/d/[a-z]+-[a-z]+-\d{4}$"))
    olivia.wait_synced()
    olivia.click_end()
    olivia.type("Photo:")
    paste_image(olivia)
    olivia.page.wait_for_function(LOADED_JS, timeout=SEE_MS)
    olivia.wait_saved()
    src = olivia.page.locator(".ProseMirror img").get_attribute("src")
    assert src is not None and src.startswith("/api/docs/"), src

    view_url = copy_link(olivia, "Copy view link", "viewer")
    close_dialog(olivia)
    victor = people.add("Victor")
    sign_up(victor, people.base, "victor")
    # signed in but not shared with: the file is not his to fetch
    assert victor.context.request.get(people.base + src).status == 403
    victor.page.goto(view_url)
    victor.wait_synced()
    victor.page.wait_for_function(LOADED_JS, timeout=SEE_MS)

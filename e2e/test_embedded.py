"""Embedded (JWT) mode: another application opens /d/<name>?token=<jwt>; the page passes the token
to the API, the WebSocket and the export links, and shows the token's name and role."""

from __future__ import annotations

import time
from urllib.parse import quote

import jwt
import pytest
from playwright.sync_api import expect

from e2e.helpers import People

SECRET = "e2e-embedding-secret-0123456789abcdef"
pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.server_args("--auth", "jwt", env={"COEDIT_JWT_SECRET": SECRET}),
]


def token(doc: str, role: str, name: str, ttl: float = 600) -> str:
    claims = {"doc": doc, "role": role, "name": name, "exp": int(time.time() + ttl)}
    return jwt.encode(claims, SECRET, algorithm="HS256")


def test_tokens_carry_name_and_role_into_the_page_the_socket_and_the_exports(
    people: People, doc_name: str
) -> None:
    page_url = f"{people.base}/d/{quote(doc_name, safe='')}"
    # An editor token creates and edits the document, under the token's name.
    ed = people.add(None)
    ed.page.goto(f"{page_url}?token={token(doc_name, 'editor', 'Edith Embed')}")
    ed.wait_synced()
    expect(ed.page.locator("#role")).to_have_text("Can edit")
    expect(ed.page.locator("#me-name")).to_have_text("Edith Embed")
    expect(ed.page.locator("#name-prompt")).to_be_hidden()
    ed.click_end()
    ed.type("Embedded notes.")
    ed.wait_saved()

    # No token: the page explains instead of connecting.
    stranger = people.add(None)
    stranger.page.goto(page_url)
    expect(stranger.body).to_have_attribute("data-access", "signin")
    expect(stranger.page.locator("#access-banner")).to_contain_text("access token")

    # A viewer token reads along, read-only, and is shown as viewing.
    viewer_token = token(doc_name, "viewer", "Vic Viewer")
    vic = people.add(None)
    vic.page.goto(f"{page_url}?token={viewer_token}")
    vic.wait_synced()
    vic.wait_text_equals("Embedded notes.")
    expect(vic.page.locator("#role")).to_have_text("Viewing")
    expect(vic.editor).to_have_attribute("contenteditable", "false")
    who = ed.page.locator("#presence li[data-name='Vic Viewer']")
    expect(who).to_have_attribute("data-role", "viewer")
    expect(who).to_contain_text("viewing")
    # The version history is readable, not changeable, for a viewer.
    vic.page.get_by_role("button", name="History").click()
    expect(vic.page.locator("#history-panel")).to_be_visible()
    expect(vic.page.get_by_role("button", name="Save version…")).to_be_hidden()

    # Export links carry the token (a plain link cannot send a header).
    vic.page.get_by_role("button", name="Export").click()
    with vic.page.expect_download() as info:
        vic.page.get_by_role("menuitem", name="Plain text (.txt)").click()
    with open(info.value.path(), encoding="utf-8") as exported:
        assert exported.read() == "Embedded notes.\n"

    # A token for another document opens nothing here.
    other = people.add(None)
    other.page.goto(f"{page_url}?token={token('another doc', 'editor', 'Oscar')}")
    expect(other.body).to_have_attribute("data-access", "denied")

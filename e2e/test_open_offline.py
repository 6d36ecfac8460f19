"""Opening a document without a network: after a reload, and after the browser restarts.

The service worker serves the page, IndexedDB the document; edits made then reach the server,
and another person, when the network returns. The server is stopped while "offline", so the
page cannot come from it by any path (service workers' own fetches included).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Playwright, expect

from e2e.conftest import CHROMIUM, CHROMIUM_ARGS, WEB_DIST
from e2e.helpers import SYNC_MS, People, Person, doc_url, fetch_server_doc, fragment_text
from e2e.test_sharing import sign_up
from tests.live import ServerProcess

pytestmark = pytest.mark.timeout(180)


def stop_server(server: ServerProcess) -> None:
    """Stop it so that it can come back on the same port (the page's origin)."""
    port = server.url.rsplit(":", 1)[1]
    assert server.stop() == 0
    server.args = [*server.args, "--port", port]


def ready_for_offline(person: Person) -> None:
    """Everything is on the device: the edits in IndexedDB, the app in the service worker."""
    person.wait_saved()
    person.wait_saved_on_device()
    expect(person.body).to_have_attribute("data-offline", "ready", timeout=SYNC_MS)


def shows_offline(person: Person, text: str) -> None:
    expect(person.editor).to_be_visible()
    person.wait_text_equals(text)
    expect(person.body).to_have_attribute("data-sync", "offline")
    expect(person.page.locator("#sync-label")).to_have_text("Offline")


def test_reloading_offline_opens_the_document_and_its_offline_edits_reach_others(
    people: People, server: ServerProcess, doc_name: str
) -> None:
    alice = people.add("Alice", doc=doc_name)
    alice.wait_synced()
    alice.click_end()
    alice.type("Written online.")
    ready_for_offline(alice)

    alice.go_offline()
    stop_server(server)
    alice.page.reload()
    shows_offline(alice, "Written online.")

    alice.click_end()
    alice.type(" Written offline.")
    alice.wait_saved_on_device()
    expect(alice.body).to_have_attribute("data-saved", "false")

    server.start()
    alice.go_online()
    alice.wait_saved()
    bob = people.add("Bob", doc=doc_name)
    bob.wait_text_equals("Written online. Written offline.")
    assert fragment_text(fetch_server_doc(people.base, doc_name)) == (
        "Written online. Written offline."
    )


@pytest.fixture
def profile() -> Iterator[list[BrowserContext]]:
    """The persistent browsers a test starts (one profile directory, started again and
    again), closed at the end whatever happened."""
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        context.close()


def start_browser(
    playwright_instance: Playwright, profile: list[BrowserContext], user_data: Path, offline: bool
) -> BrowserContext:
    context = playwright_instance.chromium.launch_persistent_context(
        str(user_data),
        executable_path=str(CHROMIUM) if CHROMIUM.exists() else None,
        headless=True,
        args=CHROMIUM_ARGS,
        offline=offline,
        viewport={"width": 1280, "height": 800},
    )
    context.set_default_timeout(15_000)
    profile.append(context)
    return context


def test_after_a_browser_restart_without_network_the_document_opens(
    playwright_instance: Playwright,
    profile: list[BrowserContext],
    people: People,
    server: ServerProcess,
    doc_name: str,
    tmp_path: Path,
) -> None:
    user_data = tmp_path / "chromium-profile"
    url = doc_url(server.url, doc_name)
    first = start_browser(playwright_instance, profile, user_data, offline=False)
    alice = Person(name="Alice", context=first, page=first.new_page(), people=people)
    alice.page.goto(url + "?new=1")
    alice.wait_synced()
    alice.click_end()
    alice.type("Before the restart.")
    ready_for_offline(alice)
    first.close()
    profile.remove(first)

    stop_server(server)
    again = start_browser(playwright_instance, profile, user_data, offline=True)
    alice = Person(name="Alice", context=again, page=again.new_page(), people=people)
    alice.page.goto(url)
    shows_offline(alice, "Before the restart.")
    alice.click_end()
    alice.type(" After it.")
    alice.wait_saved_on_device()

    server.start()
    again.set_offline(False)
    alice.wait_synced()
    alice.wait_saved()
    bob = people.add("Bob", doc=doc_name)
    bob.wait_text_equals("Before the restart. After it.")


@pytest.mark.server_args("--auth", "accounts")
def test_a_signed_in_person_reopening_offline_is_still_themselves(
    people: People, server: ServerProcess
) -> None:
    olivia = people.add(None)  # never asked for a name: the account's is hers
    sign_up(olivia, people.base, "olivia")
    olivia.page.get_by_role("button", name="New document").click()
    expect(olivia.page).to_have_url(re.compile(r"/d/[a-z]+-[a-z]+-\d{4}$"))
    olivia.wait_synced()
    olivia.click_end()
    olivia.type("Signed-in notes.")
    ready_for_offline(olivia)

    olivia.go_offline()
    stop_server(server)
    olivia.page.reload()
    shows_offline(olivia, "Signed-in notes.")
    expect(olivia.page.locator("#me-name")).to_have_text("olivia")
    expect(olivia.page.locator("#name-prompt")).to_be_hidden()


@pytest.mark.server_args("--auth", "accounts")
def test_after_signing_out_this_browser_no_longer_opens_the_document_offline(
    people: People, server: ServerProcess
) -> None:
    olivia = people.add("Olivia")
    sign_up(olivia, people.base, "olivia")
    olivia.page.get_by_role("button", name="New document").click()
    expect(olivia.page).to_have_url(re.compile(r"/d/[a-z]+-[a-z]+-\d{4}$"))
    url = olivia.page.url
    olivia.wait_synced()
    olivia.click_end()
    olivia.type("Private notes.")
    ready_for_offline(olivia)

    olivia.page.goto(people.base + "/")
    olivia.page.get_by_role("button", name="Sign out").click()
    expect(olivia.page).to_have_url(re.compile(r"/signin"))

    # The next person at this browser, without a network: the page, but not Olivia's notes.
    olivia.context.set_offline(True)
    stop_server(server)
    olivia.page.goto(url)
    expect(olivia.page.locator("#access-text")).to_contain_text("Can't reach the server")
    expect(olivia.body).to_have_class(re.compile(r"\bno-document\b"))
    assert "Private notes." not in olivia.page.content()
    assert "olivia" not in olivia.page.evaluate("() => JSON.stringify(localStorage)")


CACHES_JS = "async () => (await caches.keys()).filter((k) => k.startsWith('coedit-shell-'))"


def test_a_new_build_takes_over_without_breaking_the_open_tab_and_old_caches_go(
    people: People, server: ServerProcess, doc_name: str, tmp_path: Path
) -> None:
    # The server serves a copy of the build, which the test then changes as a deploy would.
    dist = tmp_path / "dist"
    shutil.copytree(WEB_DIST, dist)
    stop_server(server)
    server.args = [*server.args, "--web-dist", str(dist)]
    server.start()

    alice = people.add("Alice", doc=doc_name)
    alice.wait_synced()
    alice.click_end()
    alice.type("Under the first build.")
    ready_for_offline(alice)
    [old] = alice.page.evaluate(CACHES_JS)
    version = old.removeprefix("coedit-shell-")
    new_version = version[::-1] if version[::-1] != version else version + "0"
    sw = dist / "sw.js"
    assert version in sw.read_text()
    sw.write_text(sw.read_text().replace(version, new_version))

    # Online, the browser finds the new worker (it checks on navigations; asked here at once).
    alice.page.evaluate("async () => (await navigator.serviceWorker.getRegistration()).update()")
    # (wait_for_function takes a promise for true: each poll reads the last look's answer.)
    alice.page.wait_for_function(
        f"(want) => {{ ({CACHES_JS})().then((k) => {{ window.shellCaches = JSON.stringify(k); }});"
        " return window.shellCaches === want; }",
        arg=f'["coedit-shell-{new_version}"]',
        timeout=SYNC_MS,
    )
    # The tab opened under the old worker goes on working.
    alice.click_end()
    alice.type(" Still editing.")
    alice.wait_saved()
    bob = people.add("Bob", doc=doc_name)
    bob.wait_text_equals("Under the first build. Still editing.")

    # And the new build's cache alone opens the document offline.
    alice.go_offline()
    stop_server(server)
    alice.page.reload()
    shows_offline(alice, "Under the first build. Still editing.")


def test_the_service_worker_is_served_at_the_root_and_never_cached_long(
    people: People, server: ServerProcess
) -> None:
    person = people.add("Alice")
    response = person.page.request.get(f"{server.url}/sw.js")
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "no-cache" in response.headers["cache-control"]
    body = response.text()
    assert "coedit-shell-" in body and "/assets/" in body

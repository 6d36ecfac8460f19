"""Presence that tells the truth: a person's other tabs show as theirs, others by their name;
an idle browser stays connected while the server pings it."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from e2e.helpers import SEE_MS, People
from tests.live import ServerProcess
from tests.netproxy import Proxy

pytestmark = pytest.mark.timeout(120)

OTHER_TAB = "You (other tab)"


def test_a_second_tab_shows_as_you_and_another_person_by_name(
    people: People, doc_name: str
) -> None:
    first = people.add("Alice", doc=doc_name)
    second = first.new_tab().open(people.base, doc_name)
    bob = people.add("Bob", doc=doc_name)
    for person in (first, second, bob):
        person.wait_synced()

    for tab in (first, second):
        own = tab.page.locator("#presence li[data-own='tab']")
        expect(own).to_have_count(1, timeout=SEE_MS)
        expect(own.locator(".person-name")).to_have_text(OTHER_TAB)
        # Bob is Bob, never "you"; and no stranger called Alice besides us.
        expect(tab.page.locator("#presence li[data-name='Bob']")).to_have_count(1)
        expect(tab.page.locator("#presence li[data-name='Bob'] .person-name")).to_have_text("Bob")
        expect(tab.page.locator("#presence li")).to_have_count(3)  # me, my other tab, Bob

    # Bob, in his own browser, sees Alice by name (her two tabs are one person to him).
    expect(bob.page.locator("#presence li[data-own]")).to_have_count(0)
    expect(bob.page.locator("#presence li[data-name='Alice'] .person-name")).to_have_text("Alice")
    expect(bob.page.locator("#presence li")).to_have_count(2)

    # Carets say the same: the second tab's caret is "you" in the first, "Alice" for Bob.
    first.click_end()
    first.type("Some text to stand in.")
    second.wait_contains("Some text to stand in.")
    bob.wait_contains("Some text to stand in.")
    second.click_end()
    expect(first.page.locator(".collaboration-carets__label")).to_have_text(
        [OTHER_TAB], timeout=SEE_MS
    )
    # (Both of Alice's tabs hold a selection: headless tabs all keep focus.)
    expect(bob.page.locator(".collaboration-carets__label")).to_have_text(
        ["Alice", "Alice"], timeout=SEE_MS
    )
    bob.click_end()
    labels = first.page.locator(".collaboration-carets__label")
    expect(labels).to_have_count(2, timeout=SEE_MS)
    assert sorted(labels.all_text_contents()) == ["Bob", OTHER_TAB]

    # A new name in one tab: still "you" in the other.
    first.page.locator("#me").click()
    first.page.locator("#name-input").fill("Alicia")
    first.page.locator("#name-input").press("Enter")
    expect(bob.page.locator("#presence li[data-name='Alicia']")).to_have_count(1, timeout=SEE_MS)
    expect(second.page.locator("#presence li[data-own='tab']")).to_have_attribute(
        "data-name", "Alicia"
    )
    expect(second.page.locator("#presence li[data-name='Alicia']:not([data-own])")).to_have_count(0)

    # The other tab closes: its entry goes, and Bob stays.
    second.close_tab()
    expect(first.page.locator("#presence li[data-own='tab']")).to_have_count(0, timeout=SEE_MS)
    expect(first.page.locator("#presence li")).to_have_count(2)


BROWSER_TAG_JS = "() => window.coedit.provider.awareness.getLocalState().user.browser"


def test_the_browser_is_recognisable_within_a_document_only(people: People, doc_name: str) -> None:
    """Tabs on one document share a tag; on another document the same browser's differs, so
    people there cannot link the two."""
    first = people.add("Alice", doc=doc_name)
    same = first.new_tab().open(people.base, doc_name)
    other = first.new_tab().open(people.base, doc_name + " (another)")
    tags = [tab.page.evaluate(BROWSER_TAG_JS) for tab in (first, same, other)]
    assert all(isinstance(tag, str) and tag for tag in tags)
    assert tags[0] == tags[1] != tags[2]
    secret = first.page.evaluate("() => localStorage.getItem('coedit:browser')")
    assert secret and all(secret not in tag for tag in tags)


@contextlib.contextmanager
def proxy_in_thread(server: ServerProcess) -> Iterator[tuple[Proxy, asyncio.AbstractEventLoop]]:
    """tests.netproxy's proxy in front of `server`, run by a loop of its own in a thread."""
    loop = asyncio.new_event_loop()
    ready: concurrent.futures.Future[Proxy] = concurrent.futures.Future()
    stop = asyncio.Event()

    async def run() -> None:
        async with Proxy(int(server.url.rsplit(":", 1)[1])).running() as proxy:
            ready.set_result(proxy)
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    try:
        yield ready.result(timeout=10), loop
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        loop.close()


@pytest.mark.server_args(
    env={"COEDIT_PING_INTERVAL_SECONDS": "0.2", "COEDIT_PING_TIMEOUT_SECONDS": "2"}
)
def test_an_idle_browser_answers_pings_and_stays_connected(
    people: People, server: ServerProcess, doc_name: str
) -> None:
    """50 pings at 0.2 s with a 2 s timeout, the browser idle: still its first connections.
    (A browser idle for 10 minutes at the default 5 s is 120 such rounds.)"""
    with proxy_in_thread(server) as (proxy, loop):
        alice = people.add("Alice")
        alice.open(f"http://127.0.0.1:{proxy.port}", doc_name)
        alice.wait_synced()
        asyncio.run_coroutine_threadsafe(proxy.wait_for_pings(50, 60), loop).result(timeout=70)
        assert proxy.websockets == 2  # the text's and the comments', never reopened
        assert not proxy.upstream_closed.is_set()
        expect(alice.body).to_have_attribute("data-sync", "synced")
        alice.click_end()
        alice.type("still connected")
        alice.wait_saved()
        assert proxy.websockets == 2  # the text's and the comments', never reopened

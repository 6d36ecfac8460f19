"""The "Saved" mark: it asks the server (sync step 1 -> step 2) and shows once the server has
every local change, without flooding the server while someone types."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from e2e.helpers import People, fetch_server_doc, fragment_text

pytestmark = pytest.mark.timeout(90)

# Counts the sync step 1 frames ([0, 0, ...]) this tab sends on its WebSocket.
COUNT_STEP1_JS = """
() => {
  const ws = window.coedit.provider.ws;
  const send = ws.send.bind(ws);
  window.__step1 = [];
  ws.send = (data) => {
    const bytes = new Uint8Array(data instanceof ArrayBuffer ? data : data.buffer);
    if (bytes[0] === 0 && bytes[1] === 0) window.__step1.push(performance.now());
    send(data);
  };
}
"""


def test_saved_shows_soon_after_typing_stops_and_typing_does_not_flood_the_server(
    people: People, doc_name: str
) -> None:
    alice = people.add("Alice", doc=doc_name)
    alice.wait_synced()
    alice.wait_saved()
    expect(alice.page.locator("#saved-label")).to_have_text("· Saved")
    alice.page.evaluate(COUNT_STEP1_JS)

    alice.click_end()
    started = alice.page.evaluate("() => performance.now()")
    alice.page.keyboard.type("steady typing for a few seconds " * 3, delay=25)  # a fast typist
    expect(alice.body).to_have_attribute("data-saved", "false")
    stopped = alice.page.evaluate("() => performance.now()")
    expect(alice.body).to_have_attribute("data-saved", "true", timeout=2_000)
    expect(alice.page.locator("#saved-label")).to_have_text("· Saved")

    asks = alice.page.evaluate("() => window.__step1")
    typing_s = (stopped - started) / 1000
    assert typing_s > 2, typing_s
    assert 1 <= len(asks) <= 2 * typing_s + 2, (len(asks), typing_s)
    busiest = max(sum(1 for t in asks if s <= t < s + 1000) for s in asks)
    assert busiest <= 3, f"{busiest} step-1 requests within one second"

    # The mark was honest: the server has all of it.
    assert fragment_text(fetch_server_doc(people.base, doc_name)) == alice.text()

"""Client ids belong to writers: the editor presents its browser's key, so nobody else can
take the next clocks of an editor's client id (server/sync/writers.py)."""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from e2e.helpers import People, fetch_server_doc, fragment_text
from server.sync.protocol import encode_update
from tests.updates import crafted, string_item

pytestmark = pytest.mark.timeout(90)

CLOCK_JS = """
() => {
  const { Y, ydoc } = window.coedit;
  return [ydoc.clientID, Y.getState(ydoc.store, ydoc.clientID)];
}
"""


def forge(base: str, name: str, update: bytes, timeout: float = 10.0) -> int | None:
    """Send `update` on a connection without a key; the close code the server answers with."""
    url = base.replace("http://", "ws://", 1) + "/ws/" + quote(name, safe="")
    deadline = time.monotonic() + timeout
    with ws_connect(url, open_timeout=timeout, max_size=None) as ws:
        ws.send(encode_update(update))
        try:
            while time.monotonic() < deadline:
                ws.recv(timeout=deadline - time.monotonic())  # step 1, presence: not the answer
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd is not None else None
    raise TimeoutError(f"the server did not close the forger's connection within {timeout}s")


def test_nobody_else_can_take_the_next_clocks_of_an_editor(people: People, doc_name: str) -> None:
    alice, bob = people.pair(doc_name)
    alice.click_end()
    alice.type("Hello")
    bob.wait_contains("Hello")
    alice.wait_saved()
    client, clock = alice.page.evaluate(CLOCK_JS)
    # Exactly Alice's next clock: before client ids were bound, this took it, and the first
    # letters Alice typed next never reached Bob or the server.
    claim = crafted(string_item(client, clock, "gapp", None))
    assert forge(people.base, doc_name, claim) == 1008
    alice.type(" world")
    bob.wait_contains("Hello world")
    alice.wait_saved()
    assert fragment_text(fetch_server_doc(people.base, doc_name)) == alice.text() == bob.text()

"""An older editor build meets content from a newer one (a `callout`, which this build's
schema does not have): it must stop and reload, never delete what it does not understand
(y-prosemirror would, and the deletion would sync to everyone)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import expect
from pycrdt import Doc, XmlElement, XmlFragment, XmlText
from websockets.sync.client import connect as ws_connect

from e2e.helpers import People, fetch_server_doc, fragment_text

pytestmark = pytest.mark.timeout(120)


def var_uint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def write_a_newer_node(base: str, name: str) -> None:
    """What a newer page does: add a node type this build lacks (a y-websocket update)."""
    doc: Doc[Any] = fetch_server_doc(base, name)
    before = doc.get_state()
    node = XmlElement("callout", {}, [XmlElement("paragraph", {}, [XmlText("cell text")])])
    doc.get("default", type=XmlFragment).children.append(node)
    update = doc.get_update(before)
    url = base.replace("http://", "ws://", 1) + "/ws/" + quote(name, safe="")
    with ws_connect(url, open_timeout=10) as ws:
        # [messageSync=0][update=2][varUint8Array(update)]
        ws.send(bytes([0, 2]) + var_uint(len(update)) + update)
    # the server stored it before answering anyone else: wait until a fresh read shows it
    for _ in range(100):
        if has_newer_node(fetch_server_doc(base, name)):
            return
    raise AssertionError("the callout never reached the server")


def has_newer_node(doc: Doc[Any]) -> bool:
    fragment = doc.get("default", type=XmlFragment)
    return any(isinstance(c, XmlElement) and c.tag == "callout" for c in fragment.children)


def test_an_older_page_meeting_a_newer_node_reloads_instead_of_deleting_it(
    people: People, doc_name: str
) -> None:
    alice = people.add("Alice", doc=doc_name)
    alice.wait_synced()
    alice.click_end()
    alice.type("written by the older page")
    alice.wait_saved()
    alice.wait_saved_on_device()

    write_a_newer_node(people.base, doc_name)

    # The page unbinds, reloads, meets the callout again in its copy and stops reloading after
    # the second time: it says so, and stays read-only.
    expect(alice.page.locator("#access-banner")).to_contain_text("newer editor", timeout=60_000)
    expect(alice.editor).to_have_attribute("contenteditable", "false")
    # Nothing was deleted: the callout is on the server, next to what the older page wrote.
    stored = fetch_server_doc(people.base, doc_name)
    assert has_newer_node(stored)
    assert "written by the older page" in fragment_text(stored)
    assert "cell text" in fragment_text(stored)

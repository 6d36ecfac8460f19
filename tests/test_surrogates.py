"""Edits that split a UTF-16 surrogate pair: a known limit of pycrdt/yrs, documented here.

Yjs counts text in UTF-16 code units, so a Yjs client may insert between, or delete one of, the
two units of an emoji. Yjs then replaces both halves with U+FFFD. Yrs stores UTF-8 and rounds
the split up to the end of the character while the item's clock range is still split where Yjs
split it: a Doc then disagrees with every browser and with its own encoding
(docs/upstream/yrs-split-surrogates.md has the full mechanism). So the server refuses such an
edit (1007, `Integrator`). The strict xfails below pass the day pycrdt fixes it; then the
refusal and the limit in README.md and ARCHITECTURE.md can go. The normal tests pin how narrow
the limit is: whole-character edits, and everything the editor's own y-tiptap sync emits, come
through intact.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text, XmlFragment, XmlText

from tests.live import ROOT, ServerProcess
from tests.test_node_client import node_client

FIXTURE = Path(__file__).parent / "fixtures" / "split_surrogates.mjs"

# What Yjs 13.6.33 emits (client 1): `insert(0, "a😀b")`, then one edit inside the emoji, and the
# text Yjs then shows. test_fixture_is_what_yjs_emits keeps these equal to Yjs's own output.
FIRST = bytes.fromhex("01010100040101740661f09f98806200")
EDITS: dict[str, tuple[bytes, str]] = {
    "insert": (bytes.fromhex("01010104c401010102015800"), "a\ufffdX\ufffdb"),
    "delete": (bytes.fromhex("000101010201"), "a\ufffdb"),
    "delete_first": (bytes.fromhex("000101010101"), "a\ufffdb"),
}
# The same edits for a Node client of the server: (command, text Yjs then shows).
NODE_EDITS: dict[str, tuple[dict[str, Any], str]] = {
    "insert": ({"cmd": "insert", "index": 2, "text": "X"}, "a\ufffdX\ufffdb"),
    "delete": ({"cmd": "delete", "index": 2, "length": 1}, "a\ufffdb"),
}
UPSTREAM = "pycrdt/yrs splits a surrogate pair unlike Yjs (docs/upstream/yrs-split-surrogates.md)"


async def _run_fixture() -> dict[str, Any]:
    if shutil.which("node") is None or not (ROOT / "node_modules" / "yjs").is_dir():
        pytest.fail("these tests need Node 20 and `npm ci`: run them through `make test`")
    proc = await asyncio.create_subprocess_exec(
        "node", str(FIXTURE), cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    try:
        async with asyncio.timeout(30):
            out, _ = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0
    result: dict[str, Any] = json.loads(out)
    return result


async def test_fixture_is_what_yjs_emits() -> None:
    out = await _run_fixture()
    assert base64.b64decode(out["yjs"]["first"]) == FIRST
    for name, (update, text) in EDITS.items():
        edit = out["yjs"]["edits"][name]
        assert (base64.b64decode(edit["update"]), edit["text"]) == (update, text)


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=UPSTREAM)
@pytest.mark.parametrize("edit", sorted(EDITS))
def test_pycrdt_splits_a_pair_as_yjs_does(edit: str) -> None:
    update, expected = EDITS[edit]
    doc: Doc[Any] = Doc()
    doc.apply_update(FIRST)
    doc.apply_update(update)
    assert str(doc.get("t", type=Text)) == expected


@pytest.mark.parametrize("edit", sorted(NODE_EDITS))
async def test_an_edit_inside_a_character_is_refused_and_the_document_stays_whole(
    server: ServerProcess, edit: str
) -> None:
    """Through the real server. pycrdt would keep the character whole on one side of the cut
    while the clocks split there, so its Doc, its own encoding and every Yjs peer disagree
    (deleting the low half of 'a😀b' left the live Doc 'a😀' and a reload 'a😀b'; the soak
    saw the live Doc lose clocks its clients held). The server refuses such an edit (1007)
    before pycrdt sees it: the other clients, a fresh one and the document after a restart
    keep 'a😀b'. Only the client that made it shows its own text until it reloads."""
    command, expected = NODE_EDITS[edit]
    name = f"split-{edit}"
    whole = "a\U0001f600b"
    async with node_client(server, name) as editor, node_client(server, name) as watcher:
        await editor.send(cmd="insert", index=0, text=whole)
        await watcher.send(cmd="wait_text", contains=whole)
        await watcher.expect("event", "text")
        since = len(server.log)
        await editor.send(**command)
        await editor.expect("ok", command["cmd"])
        async with asyncio.timeout(10):
            # The server's log signals nothing: polled, within the deadline.
            while not any("split a character" in line for line in server.log[since:]):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        assert (await editor.dump())["text"] == expected
        assert (await watcher.dump())["text"] == whole
        async with node_client(server, name) as fresh:
            assert (await fresh.dump())["text"] == whole
    server.restart()
    async with node_client(server, name) as fresh:
        assert (await fresh.dump())["text"] == whole


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ({"cmd": "insert", "index": 1, "text": "X"}, "aX\U0001f600b"),
        ({"cmd": "insert", "index": 3, "text": "X"}, "a\U0001f600Xb"),
        ({"cmd": "insert", "index": 3, "text": "\U0001f601"}, "a\U0001f600\U0001f601b"),
        ({"cmd": "delete", "index": 1, "length": 2}, "ab"),
    ],
    ids=["before", "after", "another-emoji", "delete-whole"],
)
async def test_whole_character_edits_reach_a_fresh_client(
    server: ServerProcess, command: dict[str, Any], expected: str
) -> None:
    """The limit needs a split inside the pair: edits at character boundaries are exact."""
    texts = await _edit_then_read(server, "whole", command, expected[-2:])
    assert texts == {"editor": expected, "live": expected, "restarted": expected}


async def _edit_then_read(
    server: ServerProcess, name: str, command: dict[str, Any], settled: str
) -> dict[str, str]:
    """A Node client types 'a😀b', then `command`; the text it shows, the text a fresh client
    is served by the running server, and the text after a restart.

    A second client watches until the edit reaches it (`settled` in its text): updates are
    relayed only once committed, so the fresh client after that is served the edit."""
    async with node_client(server, name) as editor, node_client(server, name) as watcher:
        await editor.send(cmd="insert", index=0, text="a\U0001f600b")
        await watcher.send(cmd="wait_text", contains="\U0001f600b")
        await watcher.expect("event", "text")
        await editor.send(**command)
        await editor.expect("ok", command["cmd"])
        await watcher.send(cmd="wait_text", contains=settled)
        await watcher.expect("event", "text")
        texts = {"editor": (await editor.dump())["text"]}
        async with node_client(server, name) as fresh:
            texts["live"] = (await fresh.dump())["text"]
    server.restart()
    async with node_client(server, name) as fresh:
        texts["restarted"] = (await fresh.dump())["text"]
    return texts


async def test_editor_sync_never_splits_a_pair() -> None:
    """y-tiptap turns ProseMirror's text into Y.XmlText edits with lib0's simpleDiff, which
    backs off a surrogate half at both ends of the changed span. So even replacing an emoji by
    one sharing its high surrogate (😀 -> 😁, skin tones) edits whole characters, and pycrdt
    ends with what Yjs shows."""
    out = await _run_fixture()
    for case in out["tiptap"]:
        doc: Doc[Any] = Doc()
        for update in case["updates"]:
            doc.apply_update(base64.b64decode(update))
        paragraph = doc.get("default", type=XmlFragment).children[0]
        text = next(iter(paragraph.children))
        assert isinstance(text, XmlText)
        assert (str(text), case["text"]) == (case["after"], case["after"]), case["before"]

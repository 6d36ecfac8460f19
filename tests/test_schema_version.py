"""The editor schema's version: the browser's node and mark list, the server's, and
tests/fixtures/editor_schema.json must agree, so a change to the list cannot ship without a new
version; and the server turns away (close code 4426, before syncing) a page whose editor is
older, since y-prosemirror would drop the nodes it does not know and write that loss back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import websockets

from server.closecodes import Close
from server.content.schema import MARK_TYPES, NODE_TYPES, SCHEMA_VERSION
from tests.live import ServerProcess
from tests.node_scripts import run_node_script

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "editor_schema.json"
BUMP = (
    "the node/mark list changed: bump SCHEMA_VERSION in web/src/editor/schema.ts and "
    "server/content/schema.py, and update tests/fixtures/editor_schema.json"
)


@pytest.fixture
async def live_http(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as client:
        yield client


def fixture() -> dict[str, object]:
    data: dict[str, object] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return data


def test_the_browsers_schema_is_the_fixtures_list_and_version() -> None:
    browser = run_node_script(
        "check_editor_schema.mjs", needs="esbuild", runs="web/src/editor/schema.ts"
    )
    expected = fixture()
    assert browser["version"] == expected["version"], "browser and fixture versions differ"
    assert (browser["nodes"], browser["marks"]) == (expected["nodes"], expected["marks"]), BUMP


def test_the_servers_schema_is_the_fixtures_list_and_version() -> None:
    expected = fixture()
    assert SCHEMA_VERSION == expected["version"]
    assert (sorted(NODE_TYPES), sorted(MARK_TYPES)) == (expected["nodes"], expected["marks"]), BUMP


def test_the_guard_unbinds_the_editor_before_it_sees_an_unknown_node() -> None:
    """web/src/editor/schemaguard.ts on real Yjs documents: an older page's binding (observers
    registered after the guard) never sees an element it does not know, so it cannot delete it."""
    out = run_node_script(
        "check_schemaguard.mjs", needs="esbuild", runs="web/src/editor/schemaguard.ts"
    )
    assert out["known"] == {"unknown": [], "bindingCalls": 2}  # typing and known blocks pass
    table = out["table"]
    assert table["unknown"] == ["table"] and table["bindingCalls"] == 0
    # nothing was deleted: the table and a later paragraph are in the older page's Y.Doc
    assert table["names"] == ["paragraph", "paragraph", "table"]
    assert out["nested"] == {"unknown": ["image"], "bindingCalls": 0}  # deep inside known nodes
    assert out["atStart"] == {"unknown": ["table"], "bindingCalls": 0}  # already in the copy
    assert out["stopped"] == {"unknown": [], "bindingCalls": 1}  # stop() stops watching


async def closed_with(url: str) -> int | None:
    async with websockets.connect(url) as ws:
        await asyncio.wait_for(ws.wait_closed(), 10)
    return ws.close_code


async def test_an_older_page_is_refused_before_it_syncs_a_current_one_syncs(
    live_http: httpx.AsyncClient, server: ServerProcess
) -> None:
    name = "schema versions"
    assert (
        await live_http.put(f"/api/docs/{quote(name, safe='')}", params={"create": "1"})
    ).status_code in (200, 201)
    url = f"{server.ws}/ws/{quote(name, safe='')}"
    assert await closed_with(f"{url}?schema={SCHEMA_VERSION - 1}") == Close.SCHEMA_OUTDATED
    for current in (f"?schema={SCHEMA_VERSION}", f"?schema={SCHEMA_VERSION + 1}", ""):
        async with websockets.connect(url + current) as ws:
            # accepted: the server's sync step 1 arrives
            assert isinstance(await asyncio.wait_for(ws.recv(), 10), bytes), current


@pytest.mark.parametrize("bad", ["x", "-1", "1.5", "²", "9999999"])
async def test_a_malformed_schema_version_is_a_policy_close(
    live_http: httpx.AsyncClient, server: ServerProcess, bad: str
) -> None:
    url = f"{server.ws}/ws/{quote('schema bad', safe='')}?schema={quote(bad)}"
    assert await closed_with(url) == Close.POLICY

"""Finding and managing documents (issue 16) on a real server: full-text search in the three
access modes and its freshness, the trash (restore with the same epoch, purge, permissions),
copies, and documents that are no longer created by mistyped addresses."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import websockets
from pycrdt import Doc

from tests.client import YClient, ws_url
from tests.conftest import server
from tests.live import ServerProcess
from tests.test_accounts import SECRET, accounts_server, path, person
from tests.test_history_api import paragraph_text

DEADLINE = 10.0


# The server fixtures of conftest (open mode) and test_accounts, under the names used here.
open_server = server
accounts = accounts_server


async def names_found(http: httpx.AsyncClient, query: str, **params: str) -> list[str]:
    response = await http.get("/api/search", params={"q": query, **params})
    assert response.status_code == 200, response.text
    return [r["name"] for r in response.json()["results"]]


async def create(http: httpx.AsyncClient, markdown: str, title: str = "") -> str:
    made = await http.post("/api/docs", json={"markdown": markdown, "title": title})
    assert made.status_code == 201, made.text
    name: str = made.json()["name"]
    return name


async def test_search_finds_titles_and_text_and_an_edit_within_five_seconds(
    open_server: ServerProcess,
) -> None:
    server = open_server
    async with httpx.AsyncClient(base_url=server.url, timeout=DEADLINE) as http:
        plan = await create(http, "We will collaborate on the **naïve** résumé.", "Café plans")
        shop = await create(http, "Milk, eggs and coffee beans.", "Shopping list")
        garden = await create(http, "Water the garden. Garden tools. Garden.", "Notes")
        titled = await create(http, "To do.", "Garden")
        assert await names_found(http, "coll") == [plan]
        assert await names_found(http, "RESUME naive") == [plan]
        assert await names_found(http, "cafe") == [plan]
        assert await names_found(http, "beans milk") == [shop]
        assert await names_found(http, "garden") == [titled, garden]  # the title counts most
        assert await names_found(http, "") == []
        result = (await http.get("/api/search", params={"q": "collab"})).json()["results"][0]
        assert result["title"] == "Café plans" and "collaborate" in result["snippet"]
        assert set(result) >= {"name", "title", "snippet", "updated_at"}
        # Query syntax is text, never an FTS operator.
        for hostile in ('"', "AND OR NOT", "col*", "a:b", "(", "NEAR(x y)", "'; DROP"):
            assert (await http.get("/api/search", params={"q": hostile})).status_code == 200

        # An edit made live is findable within 5 s of being saved.
        async with YClient.connect(server.ws, shop) as client:
            await asyncio.wait_for(client.synced.wait(), DEADLINE)
            paragraph_text(client.doc, 0).insert(0, "zebra ")
            await client.roundtrip()
            saved = time.monotonic()
            while await names_found(http, "zebra") != [shop]:
                assert time.monotonic() - saved < 5.0, "not findable 5 s after it was saved"
                await asyncio.sleep(0.1)
        # A document without a title is listed by its first line.
        untitled = await create(http, "First line here\n\nSecond paragraph")
        listed = {d["name"]: d for d in (await http.get("/api/docs")).json()["docs"]}
        assert listed[untitled]["title"] == "" and listed[untitled]["preview"] == "First line here"
        # Deleted: gone from search at once.
        assert (await http.delete(path(plan))).status_code == 204
        assert await names_found(http, "coll") == []


async def test_search_shows_each_person_only_what_they_may_read(accounts: ServerProcess) -> None:
    async with (
        person(accounts, "ana") as ana,
        person(accounts, "ben") as ben,
        person(accounts, None) as anonymous,
    ):
        mine = await create(ana, "The secret recipe")
        shared = await create(ana, "The shared recipe")
        assert (await ana.put(path(shared, "/shares/ben"), json={"role": "viewer"})).is_success
        assert sorted(await names_found(ana, "recipe")) == sorted([mine, shared])
        assert await names_found(ben, "recipe") == [shared]
        assert (await anonymous.get("/api/search", params={"q": "recipe"})).status_code == 401
        assert mine not in await names_found(ben, "secret")


async def test_a_token_searches_only_its_own_document(tmp_path: Path) -> None:
    env = {"COEDIT_AUTH": "jwt", "COEDIT_JWT_SECRET": SECRET}
    server = ServerProcess(tmp_path / "coedit.db", env=env)
    server.start()
    try:
        tokens = {}
        for name in ("one", "two"):
            claims = {"doc": name, "role": "editor", "exp": time.time() + 600}
            tokens[name] = jwt.encode(claims, SECRET, algorithm="HS256")
        async with httpx.AsyncClient(base_url=server.url, timeout=DEADLINE) as http:
            for name, text in (("one", "apple pie"), ("two", "apple tart")):
                auth = {"Authorization": f"Bearer {tokens[name]}"}
                assert (await http.put(path(name), headers=auth)).status_code == 200
                url = ws_url(server.ws, name) + f"?token={tokens[name]}"
                async with websockets.connect(url, max_size=None) as ws:
                    c = YClient(ws, Doc())
                    async with c._running():
                        await asyncio.wait_for(c.synced.wait(), DEADLINE)
                        _write_paragraph(c.doc, text)
                        await c.roundtrip()
            headers = {"Authorization": f"Bearer {tokens['one']}"}
            deadline = time.monotonic() + DEADLINE
            while await names_found_with(http, "apple", headers) != ["one"]:
                assert time.monotonic() < deadline, "the token's document never became findable"
                await asyncio.sleep(0.1)
            assert (await http.get("/api/search", params={"q": "apple"})).status_code == 401
    finally:
        server.kill()


async def names_found_with(
    http: httpx.AsyncClient, query: str, headers: dict[str, str]
) -> list[str]:
    response = await http.get("/api/search", params={"q": query}, headers=headers)
    assert response.status_code == 200, response.text
    return [r["name"] for r in response.json()["results"]]


def _write_paragraph(doc: Doc[Any], text: str) -> None:
    from pycrdt import XmlElement, XmlFragment, XmlText

    fragment = doc.get("default", type=XmlFragment)
    paragraph = fragment.children.append(XmlElement("paragraph"))
    paragraph.children.append(XmlText(text))


async def test_the_trash_restores_a_document_whose_offline_copy_merges_again(
    open_server: ServerProcess,
) -> None:
    server = open_server
    async with httpx.AsyncClient(base_url=server.url, timeout=DEADLINE) as http:
        name = await create(http, "Kept text.", "Precious")
        epoch = (await http.get(path(name))).json()["epoch"]
        offline: Doc[Any] = Doc()  # a device's copy, which goes on being edited offline
        url = ws_url(server.ws, name) + f"?epoch={epoch}"
        async with websockets.connect(url, max_size=None) as ws:
            client = YClient(ws, offline)
            async with client._running():
                await asyncio.wait_for(client.synced.wait(), DEADLINE)
        paragraph_text(offline, 0).insert(0, "Offline edit. ")

        assert (await http.delete(path(name))).status_code == 204
        trash = (await http.get("/api/trash")).json()["docs"]
        assert [d["name"] for d in trash] == [name] and trash[0]["deleted_at"] > 0
        assert (await http.get(path(name))).status_code == 404
        assert name not in [d["name"] for d in (await http.get("/api/docs")).json()["docs"]]
        # While trashed, the copy is refused (4404) and creates nothing.
        async with websockets.connect(url) as ws:
            await asyncio.wait_for(ws.wait_closed(), DEADLINE)
            assert ws.close_code == 4404

        restored = await http.post(f"/api/trash/{quote(name, safe='')}/restore")
        assert restored.status_code == 200 and restored.json()["epoch"] == epoch
        assert (await http.get("/api/trash")).json()["docs"] == []
        async with websockets.connect(url, max_size=None) as ws:
            client = YClient(ws, offline)
            async with client._running():
                await asyncio.wait_for(client.synced.wait(), DEADLINE)
                await client.roundtrip()
        exported = await http.get(path(name, "/export"), params={"format": "txt"})
        assert "Offline edit. Kept text." in exported.text
        assert (await http.get(path(name, "/versions"))).status_code == 200

        # Deleted for good: the name is free, and a new document gets a new epoch.
        assert (await http.delete(path(name))).status_code == 204
        assert (await http.delete(f"/api/trash/{quote(name, safe='')}")).status_code == 204
        assert (await http.delete(f"/api/trash/{quote(name, safe='')}")).status_code == 404
        again = await http.put(path(name), params={"create": "1"})
        assert again.status_code == 200 and again.json()["epoch"] != epoch


async def test_names_with_slashes_go_to_the_trash_and_back(open_server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=open_server.url, timeout=DEADLINE) as http:
        for name in ("notes", "notes/restore"):
            assert (await http.put(path(name), params={"create": "1"})).status_code == 200
            assert (await http.delete(path(name))).status_code == 204
        restored = await http.post(f"/api/trash/{quote('notes/restore', safe='')}/restore")
        assert restored.status_code == 200 and restored.json()["name"] == "notes/restore"
        assert [d["name"] for d in (await http.get("/api/trash")).json()["docs"]] == ["notes"]


async def test_only_owners_trash_restore_and_purge(accounts: ServerProcess) -> None:
    async with person(accounts, "olga") as olga, person(accounts, "ed") as ed:
        name = await create(olga, "Owned.")
        assert (await olga.put(path(name, "/shares/ed"), json={"role": "editor"})).is_success
        assert (await ed.delete(path(name))).status_code == 403
        assert (await olga.delete(path(name))).status_code == 204
        assert (await ed.get("/api/trash")).json()["docs"] == []
        assert [d["name"] for d in (await olga.get("/api/trash")).json()["docs"]] == [name]
        trashed = f"/api/trash/{quote(name, safe='')}"
        assert (await ed.post(trashed + "/restore")).status_code == 404
        assert (await ed.delete(trashed)).status_code == 404
        assert (await olga.post(trashed + "/restore")).status_code == 200
        assert (await ed.get(path(name))).status_code == 200  # shared again, as before


async def test_a_copy_has_the_content_but_not_the_history(open_server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=open_server.url, timeout=DEADLINE) as http:
        name = await create(http, "# Report\n\nFigures.", "Report")
        assert (await http.post(path(name, "/versions"), json={"label": "v1"})).status_code == 201
        copied = await http.post(path(name, "/copy"))
        assert copied.status_code == 201, copied.text
        copy = copied.json()
        assert copy["name"] != name and copy["title"] == "Copy of Report"
        text = (await http.get(path(copy["name"], "/export"), params={"format": "md"})).text
        assert "# Report" in text and "Figures." in text
        versions = (await http.get(path(copy["name"], "/versions"))).json()["versions"]
        assert versions == []
        assert (await http.post(path("no-such-doc", "/copy"))).status_code == 404


async def test_a_mistyped_address_creates_nothing(open_server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=open_server.url, timeout=DEADLINE) as http:
        missing = await http.put(path("fresh-ridge-597"))
        assert missing.status_code == 404 and "no document" in missing.json()["error"]
        assert (await http.get("/api/docs")).json()["docs"] == []
        created = await http.put(path("fresh-ridge-597"), params={"create": "1"})
        assert created.status_code == 200
        bad = await http.put(path("bad\x01name"), params={"create": "1"})
        assert bad.status_code == 400 and "name" in bad.json()["error"]

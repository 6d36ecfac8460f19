"""Version history over HTTP against a real server process and SQLite file, with YClients as the
browser tabs; in process where no tab is needed."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pytest
from pycrdt import Doc, XmlElement, XmlFragment, XmlText
from starlette.applications import Starlette
from starlette.requests import HTTPConnection

from server import access
from server.content import FRAGMENT, doc_to_json, normalize_json, write_json
from server.store.base import DocName
from tests import inproc
from tests.client import YClient
from tests.live import ServerProcess

T = TypeVar("T")
DEADLINE = 10.0
PREVIOUS = {"against": "previous"}


def para(text: str) -> dict[str, Any]:
    return {"type": "paragraph", "content": [{"type": "text", "text": text}]}


FIRST: dict[str, Any] = {
    "type": "doc",
    "content": [
        {"type": "heading", "attrs": {"level": 1}, "content": [{"type": "text", "text": "Plan"}]},
        para("Unchanged paragraph."),
        {
            "type": "paragraph",
            "content": [
                {"type": "text", "text": "The quick "},
                {"type": "text", "text": "brown", "marks": [{"type": "bold"}]},
                {"type": "text", "text": " fox."},
            ],
        },
        para("Third paragraph, deleted later."),
    ],
}


def url(name: str, *parts: str) -> str:
    return "/".join([f"/api/docs/{quote(name, safe='')}/versions", *parts])


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    started: list[ServerProcess] = []

    def make(**env: str) -> ServerProcess:
        proc = ServerProcess(tmp_path / f"coedit-{len(started)}.db", env=env)
        started.append(proc)
        proc.start()
        return proc

    yield make
    for proc in started:
        proc.kill()


@contextlib.asynccontextmanager
async def http(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http, timeout=DEADLINE) as client:
        yield client


@contextlib.asynccontextmanager
async def tab(
    server: ServerProcess, name: str, user: str, doc: Doc[Any] | None = None
) -> AsyncIterator[YClient]:
    async with YClient.connect(server.ws, name, doc) as client:
        await client.set_awareness({"user": {"name": user}})
        await asyncio.wait_for(client.synced.wait(), DEADLINE)
        yield client


async def poll(check: Callable[[], Awaitable[T | None]], timeout: float = DEADLINE) -> T:
    """Wait, with a deadline, until check() returns something; the API has no push channel."""
    async with asyncio.timeout(timeout):
        while True:
            result = await check()
            if result is not None:
                return result
            await asyncio.sleep(0.05)


def content(client: YClient) -> dict[str, Any]:
    return doc_to_json(client.doc)


async def showing(expected: dict[str, Any], *clients: YClient) -> None:
    """Wait, with a deadline, until every client's document is exactly `expected`."""
    for client in clients:
        await client.wait_until(partial(_shows, client, expected))


def _shows(client: YClient, expected: dict[str, Any]) -> bool:
    return content(client) == expected


def paragraph_text(doc: Doc[Any], index: int) -> XmlText:
    element = doc.get(FRAGMENT, type=XmlFragment).children[index]
    assert isinstance(element, XmlElement)
    text = element.children[0]
    assert isinstance(text, XmlText)
    return text


def with_paragraph(doc: dict[str, Any], index: int, text: str) -> dict[str, Any]:
    blocks = list(doc["content"])
    blocks[index] = para(text)
    return {"type": "doc", "content": blocks}


async def versions(client: httpx.AsyncClient, name: str) -> list[dict[str, Any]]:
    response = await client.get(url(name))
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()["versions"]
    return result


# -- named versions, reading, diffs ------------------------------------------------------------


async def test_named_versions_can_be_listed_read_and_compared(server: ServerProcess) -> None:
    name = "plan/q3 🎉"
    async with tab(server, name, "Ann") as ann, http(server) as api:
        write_json(ann.doc, FIRST)
        await ann.roundtrip()
        response = await api.post(url(name), json={"label": "  First draft  "})
        assert response.status_code == 201, response.text
        first = response.json()
        assert first["kind"] == "named" and first["label"] == "First draft"
        assert first["authors"] == ["Ann"] and first["size"] > 0

        paragraph_text(ann.doc, 2).insert(len(b"The quick "), "slow ", {})
        await ann.roundtrip()
        second = (await api.post(url(name), json={"label": "Second"})).json()
        listed = await versions(api, name)
        assert [v["id"] for v in listed] == [second["id"], first["id"]]
        assert listed[1] == first

        page = (await api.get(url(name), params={"limit": 1})).json()
        assert [v["id"] for v in page["versions"]] == [second["id"]]
        rest = (await api.get(url(name), params={"limit": 1, "before": page["next"]})).json()
        assert [v["id"] for v in rest["versions"]] == [first["id"]] and rest["next"] is None

        read = (await api.get(url(name, str(first["id"])))).json()
        assert read["version"] == first
        assert read["content"] == normalize_json(FIRST)
        html = await api.get(url(name, str(first["id"])), params={"format": "html"})
        assert html.headers["content-type"].startswith("text/html")
        assert "sandbox" in html.headers["content-security-policy"]
        assert "<h1>Plan</h1>" in html.text and "<strong>brown</strong>" in html.text
        md = await api.get(url(name, str(first["id"])), params={"format": "md"})
        assert md.headers["content-type"].startswith("text/markdown")
        assert md.text.startswith("# Plan\n") and "**brown**" in md.text

        diff = (await api.get(url(name, str(first["id"]), "diff"))).json()
        assert (diff["base"], diff["target"], diff["offsets"]) == (
            "current",
            first["id"],
            "codepoints",
        )
        assert diff["insertions"] == []
        [removed] = diff["deletions"]
        assert removed["text"].strip() == "slow"
        assert diff["base_text"][removed["start"] : removed["end"]] == removed["text"]
        assert "The quick slow brown fox." in diff["base_text"]
        assert "The quick brown fox." in diff["target_text"]

        between = await api.get(
            url(name, str(second["id"]), "diff"), params={"against": str(first["id"])}
        )
        [added] = between.json()["insertions"]
        assert between.json()["base"] == first["id"]
        assert between.json()["target_text"][added["start"] : added["end"]] == added["text"]
        assert added["text"].strip() == "slow"
        against_previous = {"against": "previous"}
        previous = await api.get(url(name, str(second["id"]), "diff"), params=against_previous)
        assert previous.json()["base"] == first["id"]
        assert previous.json()["insertions"] == between.json()["insertions"]
        oldest = await api.get(url(name, str(first["id"]), "diff"), params=against_previous)
        assert oldest.json()["base"] is None and oldest.json()["base_text"] == ""


async def test_bad_requests_are_refused_and_change_nothing(server: ServerProcess) -> None:
    async with tab(server, "doc", "Ann") as ann, http(server) as api:
        write_json(ann.doc, FIRST)
        await ann.roundtrip()
        saved = (await api.post(url("doc"), json={"label": "v"})).json()
        vid = str(saved["id"])
        cases: list[tuple[str, str, dict[str, Any], int]] = [
            ("GET", url("missing"), {}, 404),
            ("POST", url("missing"), {"json": {"label": "x"}}, 404),
            ("GET", url("doc", "999999"), {}, 404),
            ("GET", url("doc", "abc"), {}, 404),
            ("GET", url("doc", "-1"), {}, 404),
            ("GET", url("missing", vid), {}, 404),
            ("GET", url("doc", vid), {"params": {"format": "pdf"}}, 400),
            ("GET", url("doc", vid, "diff"), {"params": {"against": "yesterday"}}, 400),
            ("GET", url("doc", vid, "diff"), {"params": {"against": "999999"}}, 404),
            ("GET", url("doc"), {"params": {"limit": "0"}}, 400),
            ("GET", url("doc"), {"params": {"before": "x"}}, 400),
            ("POST", url("doc"), {"json": {"label": "   "}}, 400),
            ("POST", url("doc"), {"json": {"label": "x" * 201}}, 400),
            ("POST", url("doc"), {"json": {"label": 5}}, 400),
            ("POST", url("doc"), {"json": {}}, 400),
            ("POST", url("doc"), {"json": ["label"]}, 400),
            ("POST", url("doc"), {"content": b"{not json"}, 400),
            ("POST", url("doc"), {"json": {"label": "bell\x07"}}, 400),
            ("POST", url("doc", "999999", "restore"), {}, 404),
            ("POST", url("missing", vid, "restore"), {}, 404),
            ("POST", url("doc", "999999", "undo"), {}, 404),
            ("POST", url("doc", "x", "undo"), {}, 404),
            ("POST", url("doc", vid, "undo"), {}, 409),
            ("POST", url("missing", vid, "undo"), {}, 404),
        ]
        for method, path, extra, status in cases:
            response = await api.request(method, path, **extra)
            assert response.status_code == status, (method, path, extra, response.text)
            assert isinstance(response.json()["error"], str)
        assert [v["id"] for v in await versions(api, "doc")] == [saved["id"]]
        ok = await api.post(url("doc"), json={"label": "x" * 200})
        assert ok.status_code == 201
        # Nothing above created the missing document either.
        assert (await api.get(url("missing"))).status_code == 404


# -- restore -----------------------------------------------------------------------------------


async def test_restore_reaches_open_tabs_and_merges_an_offline_client(
    server: ServerProcess,
) -> None:
    name = "restore"
    async with http(server) as api:
        async with tab(server, name, "Ann") as ann:
            write_json(ann.doc, FIRST)
            await ann.roundtrip()
            saved = (await api.post(url(name), json={"label": "Good"})).json()
            # Later edits: one paragraph reworded, one deleted, one added.
            text = paragraph_text(ann.doc, 2)
            text.insert(len(b"The quick brown"), " and lazy", {})
            fragment = ann.doc.get(FRAGMENT, type=XmlFragment)
            del fragment.children[3]
            fragment.children.append(XmlElement("paragraph")).children.append(XmlText("New."))
            await ann.roundtrip()
            before = content(ann)

            # A third client syncs, then goes offline holding the pre-restore state.
            async with tab(server, name, "Cy") as cy:
                pass
            offline = cy.doc
            assert doc_to_json(offline) == before

            async with tab(server, name, "Bob") as bob:
                assert content(bob) == before
                response = await api.post(url(name, str(saved["id"]), "restore"))
                assert response.status_code == 200, response.text
                result = response.json()
                assert result["restored"] == saved["id"] and result["changed"]
                assert result["blocks"] == {"kept": 2, "patched": 1, "inserted": 1, "deleted": 1}
                assert result["backup"]["kind"] == "restore-backup"
                assert result["backup"]["authors"] == ["Ann"]
                entry = result["version"]
                assert entry["restored"] == {
                    "id": saved["id"],
                    "label": "Good",
                    "created_at": saved["created_at"],
                    "backup": result["backup"]["id"],
                }
                restored = normalize_json(FIRST)
                await showing(restored, ann, bob)

                # Offline, Cy edits a paragraph that both versions share.
                paragraph_text(offline, 1).insert(0, "Offline: ", {})
                async with tab(server, name, "Cy", offline) as cy_again:
                    expected = with_paragraph(restored, 1, "Offline: Unchanged paragraph.")
                    await showing(expected, ann, bob, cy_again)

                    # Compared with what came before, a restore shows what it replaced.
                    diff = await api.get(url(name, str(entry["id"]), "diff"), params=PREVIOUS)
                    assert diff.json()["base"] == result["backup"]["id"], diff.text

                    # Undo the restore: the text before it comes back for everyone.
                    undo = await api.post(url(name, str(entry["id"]), "undo"))
                    assert undo.status_code == 200, undo.text
                    assert undo.json()["changed"] and undo.json()["version"]["undone_at"]
                    await showing(before, ann, bob, cy_again)
                    again = await api.post(url(name, str(entry["id"]), "undo"))
                    assert again.status_code == 409, again.text
                    not_a_restore = await api.post(url(name, str(saved["id"]), "undo"))
                    assert not_a_restore.status_code == 409, not_a_restore.text

        listed = await versions(api, name)
        # One entry for the restore and its undo (the backup is part of it); Cy's offline edit
        # made after the restore was kept as an automatic version before the undo.
        assert [v["kind"] for v in listed].count("restore-backup") == 0
        assert [v["id"] for v in listed if v["restored"]] == [entry["id"]]
        assert listed[1]["id"] == entry["id"] and listed[1]["undone_at"]
        assert [v["kind"] for v in listed] == ["auto", "auto", "named"]


# -- automatic versions ------------------------------------------------------------------------


async def test_a_version_is_recorded_when_the_last_person_leaves(
    make_server: Callable[..., ServerProcess],
) -> None:
    server = make_server(COEDIT_UNLOAD_GRACE_SECONDS="0.2")
    async with http(server) as api:
        async with tab(server, "leave", "Ann") as ann, tab(server, "leave", "Bob") as bob:
            write_json(ann.doc, FIRST)
            await ann.roundtrip()
            await bob.wait_until(lambda: content(bob) == normalize_json(FIRST))

        async def recorded() -> list[dict[str, Any]] | None:
            found = await versions(api, "leave")
            return found or None

        [left] = await poll(recorded)
        assert (left["kind"], left["authors"], left["label"]) == ("auto", ["Ann"], None)
        read = (await api.get(url("leave", str(left["id"])))).json()
        assert read["content"] == normalize_json(FIRST)

        # Joining and leaving without a change records nothing new.
        async with tab(server, "leave", "Ann"):
            pass
        async with tab(server, "leave", "Ann") as ann:
            paragraph_text(ann.doc, 1).insert(0, "More. ", {})
            await ann.roundtrip()
        found = await poll(lambda: _when(versions(api, "leave"), lambda found: len(found) >= 2))
        assert [v["kind"] for v in found] == ["auto", "auto"], "a visit without edits adds none"
        newest = (await api.get(url("leave", str(found[0]["id"])), params={"format": "text"})).text
        assert "More. Unchanged paragraph." in newest


async def _when(
    fetch: Awaitable[list[dict[str, Any]]], ready: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]] | None:
    found = await fetch
    return found if ready(found) else None


async def test_versions_are_recorded_on_schedule_while_editing(
    make_server: Callable[..., ServerProcess],
) -> None:
    interval = 0.5
    server = make_server(COEDIT_VERSION_INTERVAL_SECONDS=str(interval))
    async with http(server) as api, tab(server, "busy", "Ann") as ann:
        write_json(ann.doc, FIRST)
        await ann.roundtrip()
        first = await poll(lambda: _when(versions(api, "busy"), lambda found: len(found) == 1))
        paragraph_text(ann.doc, 1).insert(0, "Edited. ", {})
        await ann.roundtrip()
        both = await poll(lambda: _when(versions(api, "busy"), lambda found: len(found) == 2))
        assert [v["kind"] for v in both] == ["auto", "auto"]
        assert both[0]["created_at"] - first[0]["created_at"] >= interval * 0.9
        # Nobody edits: no more versions, however long the document stays open.
        probe = (await api.post(url("busy"), json={"label": "probe"})).json()
        assert [v["id"] for v in await versions(api, "busy")] == [
            probe["id"],
            *(v["id"] for v in both),
        ]


async def test_shutdown_records_a_version_of_open_documents(
    make_server: Callable[..., ServerProcess],
) -> None:
    server = make_server()
    async with tab(server, "open", "Ann") as ann:
        write_json(ann.doc, FIRST)
        await ann.roundtrip()
        assert await asyncio.to_thread(server.stop) == 0
    with sqlite3.connect(server.db) as conn:
        rows = conn.execute("SELECT kind, authors FROM versions").fetchall()
    assert rows == [("auto", '["Ann"]')]


# -- roles -------------------------------------------------------------------------------------


async def test_viewers_may_read_history_but_not_change_it(
    app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def viewer(self: access.Gatekeeper, conn: HTTPConnection, name: DocName) -> access.Grant:
        del self, conn, name
        return access.Grant("viewer")

    monkeypatch.setattr(access.Gatekeeper, "grant", viewer)
    store = app.state.rooms.store
    await store.ensure(DocName("doc"))
    saved = await app.state.recorder.save_named(DocName("doc"), "v1")
    async with inproc.client(app) as api:
        assert (await api.get(url("doc"))).status_code == 200
        assert (await api.get(url("doc", str(saved.id)))).status_code == 200
        assert (await api.get(url("doc", str(saved.id), "diff"))).status_code == 200
        for path, body in (
            (url("doc"), {"label": "x"}),
            (url("doc", str(saved.id), "restore"), {}),
            (url("doc", str(saved.id), "undo"), {}),
        ):
            response = await api.post(path, json=body)
            assert response.status_code == 403
            assert "editor" in response.json()["error"]
    assert [v.id for v in await store.list_versions(DocName("doc"))] == [saved.id]

"""The comments API against a live server: threads made over HTTP appear live in open editors
and the reverse, the same roles as the WebSocket, bodies checked, and comments that survive a
restart and never reach an export."""

from __future__ import annotations

from typing import Any

import httpx
from pycrdt import XmlFragment, XmlText

from server.comments.guard import anonymous_id
from server.comments.model import read_threads
from tests.live import ServerProcess
from tests.test_accounts import accounts_server, path, person, socket
from tests.test_comments_live import author, bodies, start_thread

accounts = accounts_server  # the same fixture, under a shorter name
COMMENTS = "?comments=1"


async def threads_of(client: httpx.AsyncClient, name: str) -> list[dict[str, Any]]:
    response = await client.get(path(name, "/comments"))
    assert response.status_code == 200, response.text
    listed: list[dict[str, Any]] = response.json()["threads"]
    return listed


async def test_api_and_live_editors_see_each_other(accounts: ServerProcess) -> None:
    async with (
        person(accounts, "ana") as ana,
        person(accounts, "ben") as ben,
        person(accounts, "vera") as vera,
    ):
        made = await ana.post("/api/docs", json={"markdown": "Hello world, dear reader."})
        name = made.json()["name"]
        await ana.put(path(name, "/shares/ben"), json={"role": "commenter"})
        await ana.put(path(name, "/shares/vera"), json={"role": "viewer"})
        async with socket(accounts, name, ana, COMMENTS) as live:
            # Over HTTP, seen live by an open editor.
            made = await ben.post(
                path(name, "/comments"), json={"body": "Which world?", "quote": "world"}
            )
            assert made.status_code == 201, made.text
            thread = made.json()
            assert thread["quote"] == "world" and thread["detached"] is False
            assert thread["author"]["name"] == "ben"
            assert [c["body"] for c in thread["comments"]] == ["Which world?"]
            await live.wait_until(lambda: "Which world?" in bodies(live))

            # From the editor, seen by the API.
            start_thread(live.doc, "t-live", author("ana"), "Written in the editor")
            await live.roundtrip()
            listed = await threads_of(vera, name)
            assert [c["body"] for t in listed for c in t["comments"]] == [
                "Which world?",
                "Written in the editor",
            ]

            tid = thread["id"]
            replied = await ana.post(path(name, f"/comments/{tid}/replies"), json={"body": "Ours"})
            assert replied.status_code == 201, replied.text
            ana_reply = replied.json()["comments"][-1]
            ben_first = thread["comments"][0]
            await live.wait_until(lambda: "Ours" in bodies(live))

            # Own only: ben edits his own comment, not ana's; ana (owner) deletes his.
            mine = path(name, f"/comments/{tid}/replies/{ben_first['id']}")
            theirs = path(name, f"/comments/{tid}/replies/{ana_reply['id']}")
            assert (await ben.patch(theirs, json={"body": "forged"})).status_code == 403
            assert (await ben.delete(theirs)).status_code == 403
            edited = await ben.patch(mine, json={"body": "Which world, exactly?"})
            assert edited.status_code == 200, edited.text
            assert edited.json()["comments"][0]["edited_at"] is not None
            assert (await ana.delete(mine)).status_code == 204
            await live.wait_until(
                lambda: read_threads(live.doc)[tid]["comments"][ben_first["id"]]["deleted"]
            )

            # Resolve and reopen; a viewer can do none of it.
            resolved = await ben.patch(path(name, f"/comments/{tid}"), json={"resolved": True})
            assert resolved.status_code == 200 and resolved.json()["resolved"] is True
            await live.wait_until(lambda: read_threads(live.doc)[tid]["resolved"] is True)
            assert (
                await vera.patch(path(name, f"/comments/{tid}"), json={"resolved": False})
            ).status_code == 403
            assert (
                await vera.post(path(name, "/comments"), json={"body": "x", "quote": "world"})
            ).status_code == 403

        listed = await threads_of(ana, name)
        first = next(t for t in listed if t["id"] == tid)
        assert first["resolved"] is True
        assert [c["deleted"] for c in first["comments"]] == [True, False]
        assert first["comments"][0]["body"] == ""


async def test_bodies_and_quotes_are_checked(accounts: ServerProcess) -> None:
    async with person(accounts, "ana") as ana:
        name = (await ana.post("/api/docs", json={"markdown": "Some text"})).json()["name"]
        url = path(name, "/comments")
        missing = await ana.post(url, json={"body": "hi", "quote": "absent"})
        assert missing.status_code == 422 and "does not occur" in missing.json()["error"]
        assert (await ana.post(url, json={"body": " ", "quote": "Some"})).status_code == 422
        long = await ana.post(url, json={"body": "x" * 10_001, "quote": "Some"})
        assert long.status_code == 413
        ok = await ana.post(url, json={"body": "x" * 10_000, "quote": "Some"})
        assert ok.status_code == 201
        assert (
            await ana.post(path(name, "/comments/nope/replies"), json={"body": "a"})
        ).status_code == 404
        html = await ana.post(url, json={"body": "<script>alert(1)</script>", "quote": "text"})
        assert html.status_code == 201
        export = (await ana.get(path(name, "/export?format=html"))).text
        assert "alert" not in export and "xxxx" not in export


async def test_comments_survive_a_restart_and_detach_when_their_text_goes(
    accounts: ServerProcess,
) -> None:
    async with person(accounts, "ana") as ana:
        name = (await ana.post("/api/docs", json={"markdown": "Keep this. Drop that."})).json()[
            "name"
        ]
        made = await ana.post(path(name, "/comments"), json={"body": "why?", "quote": "Drop that."})
        assert made.status_code == 201
    accounts.stop()
    accounts.start()
    async with httpx.AsyncClient(base_url=accounts.http, timeout=10) as again:
        signed = await again.post(
            "/api/auth/signin", json={"username": "ana", "password": "correct horse battery"}
        )
        assert signed.status_code == 200, signed.text
        listed = await threads_of(again, name)
        assert [c["body"] for t in listed for c in t["comments"]] == ["why?"]
        assert listed[0]["detached"] is False
        # Remove the quoted sentence through the live text.
        async with socket(accounts, name, again) as text:
            fragment = text.doc.get("default", type=XmlFragment)
            paragraph = fragment.children[0]
            run = next(c for c in paragraph.children if isinstance(c, XmlText))
            where = str(run).index("Drop that.")
            del run[where : where + len("Drop that.")]
            await text.roundtrip()
        listed = await threads_of(again, name)
        assert listed[0]["detached"] is True


async def test_a_restore_leaves_comments_alone(accounts: ServerProcess) -> None:
    async with person(accounts, "ana") as ana:
        name = (await ana.post("/api/docs", json={"markdown": "First draft."})).json()["name"]
        version = await ana.post(path(name, "/versions"), json={"label": "before comments"})
        assert version.status_code == 201, version.text
        made = await ana.post(path(name, "/comments"), json={"body": "keep me", "quote": "draft"})
        assert made.status_code == 201
        before = await threads_of(ana, name)
        restored = await ana.post(path(name, f"/versions/{version.json()['id']}/restore"))
        assert restored.status_code == 200, restored.text
        assert await threads_of(ana, name) == before
        versions = (await ana.get(path(name, "/versions"))).json()["versions"]
        assert all("keep me" not in str(v) for v in versions)


async def test_without_an_account_a_key_is_the_author(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as client:
        name = (await client.post("/api/docs", json={"markdown": "Open notes"})).json()["name"]
        url = path(name, "/comments")
        nobody = await client.post(url, json={"body": "who am I?", "quote": "notes"})
        assert nobody.status_code == 403
        mine = {"X-Coedit-Author-Key": "k" * 32}
        theirs = {"X-Coedit-Author-Key": "z" * 32}
        made = await client.post(
            url, json={"body": "mine", "quote": "notes", "name": "Kim"}, headers=mine
        )
        assert made.status_code == 201, made.text
        thread = made.json()
        assert thread["author"]["name"] == "Kim"
        assert thread["author"]["id"] == anonymous_id("k" * 32)
        comment = path(name, f"/comments/{thread['id']}/replies/{thread['comments'][0]['id']}")
        # Open mode makes everyone an editor: another key may delete it, never reword it.
        assert (await client.patch(comment, json={"body": "x"}, headers=theirs)).status_code == 403
        assert (
            await client.patch(comment, json={"body": "mine!"}, headers=mine)
        ).status_code == 200

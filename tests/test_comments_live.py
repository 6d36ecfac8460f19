"""Comments against a live server: the comments document beside the text (`?comments=1`), two
people commenting, replying and resolving, and a commenter's crafted writes (to the text, to
another person's comment, as another author) never applied, stored or relayed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
import websockets
from pycrdt import Doc, Map, Text, XmlFragment

from server.comments.model import THREADS, read_threads
from server.sync.protocol import encode_sync_step2, encode_update
from tests.client import YClient, ws_url
from tests.live import ServerProcess
from tests.test_accounts import accounts_server, path, person, rows, socket

SECRET = "embedding-app-secret-0123456789abcdef"
COMMENTS = "?comments=1"
accounts = accounts_server  # the same fixture, under a shorter name


def author(name: str) -> dict[str, str]:
    return {"id": f"user:{name}", "name": name, "color": "#336699"}


def new_comment(cid: str, who: dict[str, str], body: str) -> Map[Any]:
    return Map(
        {
            "id": cid,
            "body": body,
            "author": who,
            "created_at": time.time() * 1000,
            "edited_at": None,
            "deleted": False,
            "mentions": [],
        }
    )


def start_thread(doc: Doc[Any], tid: str, who: dict[str, str], body: str) -> None:
    with doc.transaction():
        doc.get(THREADS, type=Map)[tid] = Map(
            {
                "id": tid,
                "quote": "hello",
                "anchor": None,
                "resolved": False,
                "resolved_at": None,
                "author": who,
                "created_at": time.time() * 1000,
                "comments": Map({f"{tid}-1": new_comment(f"{tid}-1", who, body)}),
            }
        )


def threads(client: YClient) -> dict[str, Any]:
    return read_threads(client.doc)


def bodies(client: YClient) -> set[str]:
    return {c["body"] for t in threads(client).values() for c in t["comments"].values()}


async def test_two_people_comment_reply_and_resolve_live(accounts: ServerProcess) -> None:
    async with person(accounts, "ana") as ana, person(accounts, "ben") as ben:
        name = (await ana.post("/api/docs", json={"markdown": "hello world"})).json()["name"]
        assert (await ana.put(path(name, "/shares/ben"), json={"role": "commenter"})).is_success
        async with (
            socket(accounts, name, ana, COMMENTS) as a,
            socket(accounts, name, ben, COMMENTS) as b,
        ):
            start_thread(a.doc, "t1", author("ana"), "Is this right?")
            await b.wait_until(lambda: "Is this right?" in bodies(b))
            replies = b.doc.get(THREADS, type=Map)["t1"]["comments"]
            replies["r1"] = new_comment("r1", author("ben"), "Yes it is")
            await a.wait_until(lambda: "Yes it is" in bodies(a))
            with a.doc.transaction():
                a.doc.get(THREADS, type=Map)["t1"]["resolved"] = True
                a.doc.get(THREADS, type=Map)["t1"]["resolved_at"] = time.time() * 1000 + 1
            await b.wait_until(lambda: threads(b)["t1"]["resolved"] is True)
            await a.roundtrip()
        # Stored: a fresh connection after everyone left sees all of it.
        async with socket(accounts, name, ben, COMMENTS) as fresh:
            assert bodies(fresh) == {"Is this right?", "Yes it is"}
            assert threads(fresh)["t1"]["resolved"] is True
        # Comments are not text, and not a document of the list.
        listed = (await ana.get("/api/docs")).json()["docs"]
        assert [d["name"] for d in listed] == [name]
        text = (await ana.get(path(name, "/export?format=txt"))).text
        assert "Is this right" not in text


async def test_a_commenters_crafted_writes_are_never_applied_stored_or_relayed(
    accounts: ServerProcess,
) -> None:
    async with person(accounts, "ana") as ana, person(accounts, "carl") as carl:
        name = (await ana.post("/api/docs", json={"markdown": "hello world"})).json()["name"]
        assert (await ana.put(path(name, "/shares/carl"), json={"role": "commenter"})).is_success
        async with (
            socket(accounts, name, ana) as a_text,
            socket(accounts, name, carl) as c_text,
            socket(accounts, name, ana, COMMENTS) as a,
            socket(accounts, name, carl, COMMENTS) as c,
        ):
            start_thread(a.doc, "t1", author("ana"), "Ana's words")
            await c.wait_until(lambda: "Ana's words" in bodies(c))
            await a.roundtrip()
            stored = rows(accounts.db)

            # 1. The text: a commenter is a viewer there, however the write is framed.
            sneaky: Doc[Any] = Doc()
            sneaky.get("default", type=XmlFragment)
            sneaky.get("t", type=Text).insert(0, "carl was here")
            update = sneaky.get_update()
            await c_text.send_raw(encode_update(update))
            await c_text.send_raw(encode_sync_step2(update))
            # 2. Another person's comment, from Carl's own copy of the comments.
            c.doc.get(THREADS, type=Map)["t1"]["comments"]["t1-1"]["body"] = "Carl's forgery"
            # 3. A thread under Ana's name.
            forged: Doc[Any] = Doc()
            forged.apply_update(a.doc.get_update())
            start_thread(forged, "t2", author("ana"), "Ana never wrote this")
            await c.send_raw(encode_update(forged.get_update(a.doc.get_state())))
            await c_text.roundtrip()
            await c.roundtrip()
            assert rows(accounts.db) == stored

            # Then an honest reply, which the others get: what was refused came before it.
            honest: Doc[Any] = Doc()
            honest.apply_update(a.doc.get_update())
            replies = honest.get(THREADS, type=Map)["t1"]["comments"]
            before = honest.get_state()
            replies["r1"] = new_comment("r1", author("carl"), "Carl's own reply")
            await c.send_raw(encode_update(honest.get_update(before)))
            await a.wait_until(lambda: "Carl's own reply" in bodies(a))
            assert bodies(a) == {"Ana's words", "Carl's own reply"}
            assert "t" not in a_text.doc.keys() or str(a_text.doc.get("t", type=Text)) == ""
            await c.roundtrip()
            assert rows(accounts.db) == stored + 1

        async with socket(accounts, name, ana, COMMENTS) as fresh:
            assert bodies(fresh) == {"Ana's words", "Carl's own reply"}
            assert set(threads(fresh)) == {"t1"}
        async with socket(accounts, name, ana) as fresh_text:
            assert "t" not in fresh_text.doc.keys()
        assert "refused a write" in accounts.log_text(400)


async def test_a_viewer_reads_comments_but_cannot_comment(accounts: ServerProcess) -> None:
    async with person(accounts, "ana") as ana, person(accounts, "vera") as vera:
        name = (await ana.post("/api/docs", json={"markdown": "hello"})).json()["name"]
        await ana.put(path(name, "/shares/vera"), json={"role": "viewer"})
        async with (
            socket(accounts, name, ana, COMMENTS) as a,
            socket(accounts, name, vera, COMMENTS) as v,
        ):
            start_thread(a.doc, "t1", author("ana"), "for everyone")
            await v.wait_until(lambda: "for everyone" in bodies(v))
            stored = rows(accounts.db)
            start_thread(v.doc, "t2", author("vera"), "vera's thread")
            await v.roundtrip()
            assert rows(accounts.db) == stored
            assert set(threads(a)) == {"t1"}


async def test_the_trash_keeps_a_documents_comments_and_deleting_for_good_removes_them(
    accounts: ServerProcess,
) -> None:
    async with person(accounts, "ana") as ana:
        name = (await ana.post("/api/docs", json={"markdown": "hello"})).json()["name"]
        async with socket(accounts, name, ana, COMMENTS) as a:
            start_thread(a.doc, "t1", author("ana"), "soon gone")
            await a.roundtrip()
        kept = rows(accounts.db)
        assert (await ana.delete(path(name))).status_code == 204
        assert rows(accounts.db) == kept  # restorable, comments included
        assert (await ana.post(f"/api/trash/{name}/restore")).status_code == 200
        listed = (await ana.get(path(name, "/comments"))).json()["threads"]
        assert [c["body"] for t in listed for c in t["comments"]] == ["soon gone"]
        assert (await ana.delete(path(name))).status_code == 204
        assert (await ana.delete(f"/api/trash/{name}")).status_code == 204
        assert rows(accounts.db) == 0


async def test_a_jwt_commenter_comments_under_its_tokens_name(tmp_path: Path) -> None:
    env = {"COEDIT_AUTH": "jwt", "COEDIT_JWT_SECRET": SECRET}
    proc = ServerProcess(tmp_path / "coedit.db", env=env)
    proc.start()
    try:
        exp = int(time.time()) + 600

        def token(role: str, who: str) -> str:
            claims = {"doc": "d1", "role": role, "name": who, "exp": exp}
            return jwt.encode(claims, SECRET, algorithm="HS256")

        async def connect(role: str, who: str) -> Any:
            url = ws_url(proc.ws, "d1") + f"{COMMENTS}&token={token(role, who)}"
            return websockets.connect(url, max_size=None)

        async with await connect("editor", "Eve") as e_ws, await connect("commenter", "Cy") as c_ws:
            e, c = YClient(e_ws, Doc()), YClient(c_ws, Doc())
            async with e._running(), c._running():
                cy = {"id": "jwt:Cy", "name": "Cy", "color": "#123456"}
                start_thread(c.doc, "t1", cy, "from a token")
                await e.wait_until(lambda: "from a token" in bodies(e))
                start_thread(c.doc, "t2", {**cy, "id": "jwt:Eve"}, "posing as Eve")
                await c.roundtrip()
                await e.roundtrip()
                assert set(threads(e)) == {"t1"}
    finally:
        proc.kill()

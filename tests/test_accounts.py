"""Accounts mode and JWT mode against a live server: the permission matrix over HTTP and
WebSocket, revocation, stamped presence, rate limits, and what never reaches the logs."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

import httpx
import jwt
import pytest
import websockets
from pycrdt import Doc, Text

from server.sync.protocol import encode_sync_step2, encode_update
from tests.client import YClient, ws_url
from tests.live import ServerProcess

SECRET = "embedding-app-secret-0123456789abcdef"
PASSWORD = "correct horse battery"


@pytest.fixture
def accounts_server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "coedit.db", env={"COEDIT_AUTH": "accounts"})
    proc.start()
    try:
        yield proc
    finally:
        proc.kill()


@pytest.fixture
def jwt_server(tmp_path: Path) -> Iterator[ServerProcess]:
    env = {"COEDIT_AUTH": "jwt", "COEDIT_JWT_SECRET": SECRET}
    proc = ServerProcess(tmp_path / "coedit.db", env=env)
    proc.start()
    try:
        yield proc
    finally:
        proc.kill()


def path(name: str, suffix: str = "") -> str:
    return f"/api/docs/{quote(name, safe='')}{suffix}"


@asynccontextmanager
async def person(server: ServerProcess, username: str | None) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client, signed up as `username` (or anonymous when None)."""
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as client:
        if username is not None:
            response = await client.post(
                "/api/auth/signup", json={"username": username, "password": PASSWORD}
            )
            assert response.status_code == 201, response.text
        yield client


def cookie_header(client: httpx.AsyncClient) -> dict[str, str]:
    cookies = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    return {"Cookie": cookies} if cookies else {}


@asynccontextmanager
async def socket(
    server: ServerProcess, name: str, client: httpx.AsyncClient | None = None, query: str = ""
) -> AsyncIterator[YClient]:
    headers = cookie_header(client) if client is not None else {}
    url = ws_url(server.ws, name) + query
    async with websockets.connect(url, additional_headers=headers, max_size=None) as ws:
        yc = YClient(ws, Doc())
        async with yc._running():
            await asyncio.wait_for(yc.synced.wait(), 10)
            yield yc


async def refused_at_handshake(url: str, headers: dict[str, str] | None = None) -> int:
    with pytest.raises(websockets.InvalidStatus) as info:
        async with websockets.connect(url, additional_headers=headers or {}):
            pass
    return info.value.response.status_code


def rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM updates").fetchone()[0])


async def test_permission_matrix_over_http(accounts_server: ServerProcess) -> None:
    server = accounts_server
    async with (
        person(server, "owner") as owner,
        person(server, "vera") as viewer,
        person(server, "ed") as editor,
        person(server, "stranger") as stranger,
        person(server, None) as anonymous,
    ):
        created = await owner.post("/api/docs", json={"title": "Plan", "markdown": "# Plan"})
        assert created.status_code == 201
        name = created.json()["name"]
        assert (await owner.put(path(name, "/shares/vera"), json={"role": "viewer"})).is_success
        assert (await owner.put(path(name, "/shares/ed"), json={"role": "editor"})).is_success
        await owner.post(path(name, "/versions"), json={"label": "first"})
        version = (await owner.get(path(name, "/versions"))).json()["versions"][0]["id"]

        actions = {
            "read info": ("GET", path(name), None),
            "export": ("GET", path(name, "/export?format=md"), None),
            "list versions": ("GET", path(name, "/versions"), None),
            "save version": ("POST", path(name, "/versions"), {"label": "x"}),
            "restore": ("POST", path(name, f"/versions/{version}/restore"), {}),
            "rename": ("PATCH", path(name), {"title": "Renamed"}),
            "list shares": ("GET", path(name, "/shares"), None),
            "make link": ("POST", path(name, "/links"), {"role": "viewer"}),
            "share": ("PUT", path(name, "/shares/stranger"), {"role": "viewer"}),
        }
        allowed = {
            "owner": set(actions),
            "editor": {"read info", "export", "list versions", "save version", "restore", "rename"},
            "viewer": {"read info", "export", "list versions"},
            "stranger": set(),
            "anonymous": set(),
        }
        people = {
            "owner": owner,
            "editor": editor,
            "viewer": viewer,
            "stranger": stranger,
            "anonymous": anonymous,
        }
        for who in ("anonymous", "stranger", "viewer", "editor", "owner"):
            for action, (method, url, body) in actions.items():
                response = await people[who].request(method, url, json=body)
                if action in allowed[who]:
                    assert response.is_success, (who, action, response.text)
                else:
                    expected = 401 if who == "anonymous" else 403
                    assert response.status_code == expected, (who, action, response.text)
                    assert response.json()["error"]
        # Deleting is the owner's alone.
        for who in ("anonymous", "stranger", "viewer", "editor"):
            assert (await people[who].delete(path(name))).status_code in (401, 403)
        url = ws_url(server.ws, name)
        assert await refused_at_handshake(url) == 403
        other = (await owner.post("/api/docs", json={})).json()["name"]
        assert await refused_at_handshake(ws_url(server.ws, other), cookie_header(stranger)) == 403
        for who in ("viewer", "editor", "owner"):
            async with socket(server, name, people[who]) as conn:
                assert conn.synced.is_set()
        listing = {d["name"] for d in (await stranger.get("/api/docs")).json()["docs"]}
        assert name in listing  # shared with stranger by the owner's "share" action above
        assert (await anonymous.get("/api/docs")).status_code == 401
        assert (await owner.delete(path(name))).status_code == 204


async def test_viewer_socket_writes_are_ignored_however_encoded(
    accounts_server: ServerProcess,
) -> None:
    server = accounts_server
    async with person(server, "owner") as owner, person(server, "vera") as viewer:
        name = (await owner.post("/api/docs", json={"markdown": "hello"})).json()["name"]
        await owner.put(path(name, "/shares/vera"), json={"role": "viewer"})
        async with socket(server, name, owner) as own, socket(server, name, viewer) as view:
            state = own.doc.get_state()
            before = rows(server.db)
            sneaky: Doc = Doc()  # type: ignore[type-arg]
            sneaky.get("t", type=Text).insert(0, "viewer was here")
            update = sneaky.get_update()
            await view.send_raw(encode_update(update))
            await view.send_raw(encode_sync_step2(update))
            view.doc.get("t", type=Text).insert(0, "and here")  # through the normal path too
            await view.roundtrip()
            # The viewer still reads live: the owner's edit reaches it.
            own.doc.get("t", type=Text).insert(0, "owner edit")
            await own.roundtrip()
            await view.wait_until(lambda: "owner edit" in str(view.doc.get("t", type=Text)))
            assert rows(server.db) == before + 1
            async with socket(server, name, owner) as fresh:
                text = str(fresh.doc.get("t", type=Text))
            assert "viewer" not in text and "and here" not in text and text == "owner edit"
            assert own.doc.get_state() != state  # only the owner's edit moved it


async def test_revoked_link_drops_its_holder_within_a_second(
    accounts_server: ServerProcess,
) -> None:
    server = accounts_server
    async with person(server, "owner") as owner, person(server, None) as anonymous:
        name = (await owner.post("/api/docs", json={"markdown": "shared"})).json()["name"]
        link = (await owner.post(path(name, "/links"), json={"role": "viewer"})).json()
        again = (await owner.post(path(name, "/links"), json={"role": "viewer"})).json()
        assert again["token"] == link["token"]
        info = await anonymous.get(path(name), headers={"X-Coedit-Share": link["token"]})
        assert info.json()["role"] == "viewer"
        async with socket(server, name, query=f"?share={link['token']}") as guest:
            started = time.monotonic()
            assert (await owner.delete(path(name, f"/links/{link['id']}"))).status_code == 204
            await asyncio.wait_for(guest.ws.wait_closed(), 1.0)
            assert time.monotonic() - started < 1.0
            assert guest.ws.close_code == 4403
        url = ws_url(server.ws, name) + f"?share={link['token']}"
        assert await refused_at_handshake(url) == 403
        assert (await anonymous.get(path(name), params={"share": link["token"]})).status_code == 401
        assert not any(link["token"] in line for line in server.log)


async def test_edit_link_edits_and_downgrade_takes_effect_within_a_second(
    accounts_server: ServerProcess,
) -> None:
    server = accounts_server
    async with person(server, "owner") as owner, person(server, "ed") as editor:
        name = (await owner.post("/api/docs", json={})).json()["name"]
        link = (await owner.post(path(name, "/links"), json={"role": "editor"})).json()
        async with socket(server, name, query=f"?share={link['token']}") as guest:
            guest.doc.get("t", type=Text).insert(0, "via link;")
            await guest.roundtrip()
        await owner.put(path(name, "/shares/ed"), json={"role": "editor"})
        async with socket(server, name, editor) as ed:
            ed.doc.get("t", type=Text).insert(0, "ed;")
            await ed.roundtrip()
            await owner.put(path(name, "/shares/ed"), json={"role": "viewer"})
            await asyncio.wait_for(ed.ws.wait_closed(), 1.0)
            assert ed.ws.close_code == 4403
        async with socket(server, name, editor) as ed:
            ed.doc.get("t", type=Text).insert(0, "ignored;")
            await ed.roundtrip()
        async with socket(server, name, owner) as check:
            assert str(check.doc.get("t", type=Text)) == "ed;via link;"


async def test_presence_is_stamped_with_the_signed_in_name(accounts_server: ServerProcess) -> None:
    server = accounts_server
    async with person(server, "alice") as alice, person(server, "bob") as bob:
        name = (await alice.post("/api/docs", json={})).json()["name"]
        await alice.put(path(name, "/shares/bob"), json={"role": "viewer"})
        async with socket(server, name, alice) as a, socket(server, name, bob) as b:
            await b.set_awareness({"user": {"name": "Definitely Alice", "color": "#000"}})
            cid = b.doc.client_id
            await a.wait_until(lambda: a.awareness.get(cid) is not None)
            user = (a.awareness[cid] or {})["user"]
            assert user["name"] == "bob" and user["role"] == "viewer"
            assert user["color"] != "#000"


async def test_signin_errors_rate_limit_and_cross_site_writes(
    accounts_server: ServerProcess,
) -> None:
    server = accounts_server
    async with person(server, "carol") as carol, person(server, None) as anon:
        taken = await anon.post(
            "/api/auth/signup", json={"username": "carol", "password": PASSWORD}
        )
        assert taken.status_code == 409
        short = await anon.post("/api/auth/signup", json={"username": "dave", "password": "x"})
        assert short.status_code == 400
        wrong = await anon.post(
            "/api/auth/signin", json={"username": "carol", "password": "nope!!!!"}
        )
        assert wrong.status_code == 401
        good = await anon.post("/api/auth/signin", json={"username": "carol", "password": PASSWORD})
        assert good.status_code == 200
        assert "httponly" in good.headers["set-cookie"].lower()
        assert "samesite=lax" in good.headers["set-cookie"].lower()
        me = await anon.get("/api/auth/me")
        assert me.json() == {"mode": "accounts", "user": {"username": "carol"}}
        cross = await carol.post(
            "/api/docs", json={"title": "csrf"}, headers={"Origin": "http://evil.example"}
        )
        assert cross.status_code == 403
        same = await carol.post("/api/docs", json={}, headers={"Origin": server.http})
        assert same.status_code == 201
        codes = []
        async with httpx.AsyncClient(base_url=server.http) as attacker:
            for _ in range(12):
                response = await attacker.post(
                    "/api/auth/signin", json={"username": "carol", "password": "guess-guess"}
                )
                codes.append(response.status_code)
        assert 429 in codes and codes[0] == 401
        assert not any(PASSWORD in line for line in server.log)


def token(doc: str, role: str, name: str = "Embedded", exp: float | None = None) -> str:
    claims = {"doc": doc, "role": role, "name": name, "exp": exp or time.time() + 600}
    return jwt.encode(claims, SECRET, algorithm="HS256")


async def test_jwt_mode(jwt_server: ServerProcess) -> None:
    server = jwt_server
    editor = token("embedded doc", "editor", "Eve")
    async with socket(server, "embedded doc", query=f"?token={editor}") as eve:
        eve.doc.get("t", type=Text).insert(0, "from the embedding app")
        await eve.roundtrip()
        viewer = token("embedded doc", "viewer", "Val")
        async with socket(server, "embedded doc", query=f"?token={viewer}") as val:
            val.doc.get("t", type=Text).insert(0, "nope")
            await val.roundtrip()
            await val.set_awareness({"user": {"name": "Not Val"}})
            await eve.wait_until(lambda: val.doc.client_id in eve.awareness)
            stamped = (eve.awareness[val.doc.client_id] or {})["user"]
            assert stamped["name"] == "Val" and stamped["role"] == "viewer"
    async with socket(server, "embedded doc", query=f"?token={editor}") as check:
        assert str(check.doc.get("t", type=Text)) == "from the embedding app"
    base = ws_url(server.ws, "embedded doc")
    expired = token("embedded doc", "editor", exp=time.time() - 5)
    other_doc = token("another doc", "editor")
    forged = jwt.encode(
        {"doc": "embedded doc", "role": "editor", "exp": time.time() + 60},
        "a-different-secret-0123456789abcdef",
        algorithm="HS256",
    )
    for bad in (f"?token={expired}", f"?token={other_doc}", f"?token={forged}", ""):
        assert await refused_at_handshake(base + bad) == 403
    async with httpx.AsyncClient(base_url=server.http) as http:
        ok = await http.get(
            path("embedded doc", "/export"), headers={"Authorization": f"Bearer {editor}"}
        )
        assert ok.status_code == 200  # the rich text is empty: this test wrote a plain Y.Text
        assert (await http.get(path("embedded doc"))).status_code == 401
        assert (await http.get("/api/docs")).status_code == 403
    assert not any(editor in line or expired in line for line in server.log)

"""The documents API: create, open, rename, delete, export, bad input; in process, and against a
live server where WebSocket clients take part."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx
import pytest
import websockets
from pycrdt import Map, Text, XmlFragment

from tests.client import YClient
from tests.live import ServerProcess

MARKDOWN = """# Plans

Some **bold** and a [link](https://example.com).

- one
- two

```python
print("hi")
```
"""


@pytest.fixture
async def live_http(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP to the real server, for tests whose clients also hold WebSockets to it (the other
    tests use `http`, the application in process)."""
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as client:
        yield client


def path(name: str, suffix: str = "") -> str:
    return f"/api/docs/{quote(name, safe='')}{suffix}"


async def test_create_with_markdown_then_export(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/docs", json={"title": "Plans", "markdown": MARKDOWN})
    assert response.status_code == 201, response.text
    name = response.json()["name"]
    assert response.json()["epoch"]
    exported = await http.get(path(name, "/export"), params={"format": "md"})
    assert exported.status_code == 200
    assert exported.text.startswith("# Plans")
    assert "**bold**" in exported.text and "[link](https://example.com)" in exported.text
    assert "```python" in exported.text
    listed = (await http.get("/api/docs")).json()["docs"]
    assert [d["title"] for d in listed if d["name"] == name] == ["Plans"]
    for fmt, needle in (
        ("html", "<strong>bold</strong>"),
        ("txt", "Some bold"),
        ("json", "heading"),
    ):
        response = await http.get(path(name, "/export"), params={"format": fmt})
        assert response.status_code == 200 and needle in response.text, fmt


async def test_created_content_reaches_a_live_client(
    live_http: httpx.AsyncClient, server: ServerProcess
) -> None:
    name = (await live_http.post("/api/docs", json={"markdown": "hello *world*"})).json()["name"]
    async with YClient.connect(server.ws, name) as client:
        await asyncio.wait_for(client.synced.wait(), 10)
        fragment = client.doc.get("default", type=XmlFragment)
        assert "hello" in str(fragment)


async def test_open_creates_then_reports(http: httpx.AsyncClient) -> None:
    name = "notes/2026 ✨"
    assert (await http.get(path(name))).status_code == 404
    opened = await http.put(path(name), params={"create": "1"})
    assert opened.status_code == 200
    info = opened.json()
    assert info["name"] == name and info["role"] == "owner" and info["epoch"]
    again = (await http.put(path(name), params={"create": "1"})).json()
    assert again["epoch"] == info["epoch"]
    assert (await http.get(path(name))).json()["epoch"] == info["epoch"]


async def test_names_with_slashes_do_not_collide_with_sub_resources(
    http: httpx.AsyncClient,
) -> None:
    await http.put(path("notes"), params={"create": "1"})
    await http.put(path("notes/export"), params={"create": "1"})
    assert (await http.get(path("notes/export"))).json()["name"] == "notes/export"
    assert (
        (await http.get(path("notes", "/export")))
        .headers["content-type"]
        .startswith("text/markdown")
    )


async def test_rename_reaches_open_editors(
    live_http: httpx.AsyncClient, server: ServerProcess
) -> None:
    name = (await live_http.post("/api/docs", json={"title": "Old"})).json()["name"]
    async with YClient.connect(server.ws, name) as client:
        await client.synced.wait()
        response = await live_http.patch(path(name), json={"title": "New title"})
        assert response.status_code == 200 and response.json()["title"] == "New title"
        meta = client.doc.get("meta", type=Map)
        await client.wait_until(lambda: meta.get("title") == "New title")
    listed = (await live_http.get("/api/docs")).json()["docs"]
    assert [d["title"] for d in listed if d["name"] == name] == ["New title"]


async def test_delete_closes_clients_with_4404_and_moves_the_document_to_the_trash(
    live_http: httpx.AsyncClient, server: ServerProcess
) -> None:
    name = (await live_http.post("/api/docs", json={"markdown": "secret"})).json()["name"]
    async with YClient.connect(server.ws, name) as client:
        await client.synced.wait()
        client.doc.get("t", type=Text).insert(0, "more")
        await client.roundtrip()
        assert (await live_http.delete(path(name))).status_code == 204
        await asyncio.wait_for(client.ws.wait_closed(), 5)
        assert client.ws.close_code == 4404
    assert (await live_http.get(path(name))).status_code == 404
    assert name not in [d["name"] for d in (await live_http.get("/api/docs")).json()["docs"]]
    assert (await live_http.delete(path(name))).status_code == 404
    # In the trash, the name is taken: opening or creating it says so.
    for params in ({}, {"create": "1"}):
        refused = await live_http.put(path(name), params=params)
        assert refused.status_code == 410 and "trash" in refused.json()["error"]
    # Deleted for good, then re-created under the same name: a new epoch, none of the content.
    assert (await live_http.delete(f"/api/trash/{quote(name, safe='')}")).status_code == 204
    info = (await live_http.put(path(name), params={"create": "1"})).json()
    async with YClient.connect(server.ws, name) as fresh:
        await fresh.synced.wait()
        assert str(fresh.doc.get("t", type=Text)) == ""
    assert info["epoch"]


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "status"),
    [
        ("POST", "/api/docs", {"json": {"title": 5}}, 400),
        ("POST", "/api/docs", {"json": {"markdown": "a", "html": "b"}}, 400),
        ("POST", "/api/docs", {"json": ["not", "an", "object"]}, 400),
        (
            "POST",
            "/api/docs",
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            400,
        ),
        ("POST", "/api/docs", {"json": {"title": "x" * 201}}, 400),
        ("POST", "/api/docs", {"content": b"x" * (9 * 1024 * 1024)}, 413),
        ("PATCH", path("missing"), {"json": {"title": "x"}}, 404),
        ("PATCH", path("missing"), {"json": {"title": None}}, 400),
        ("DELETE", path("missing"), {}, 404),
        ("GET", path("missing"), {}, 404),
        ("GET", path("missing", "/export"), {}, 404),
        ("GET", path("missing", "/export"), {"params": {"format": "exe"}}, 400),
        ("GET", "/api/docs/%00bad", {}, 400),
        ("GET", "/api/docs", {"params": {"limit": "x"}}, 400),
        ("GET", "/api/docs", {"params": {"limit": "0"}}, 400),
        ("GET", "/api/docs", {"params": {"before": "nonsense"}}, 400),
    ],
)
async def test_bad_requests_get_json_errors(
    http: httpx.AsyncClient, method: str, url: str, kwargs: dict[str, object], status: int
) -> None:
    before = (await http.get("/api/docs")).json()
    response = await http.request(method, url, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == status, response.text
    assert isinstance(response.json()["error"], str)
    assert (await http.get("/api/docs")).json() == before, "a refused request changed something"


async def test_list_pages_newest_first(http: httpx.AsyncClient) -> None:
    names = [
        (await http.post("/api/docs", json={"title": f"d{i}"})).json()["name"] for i in range(5)
    ]
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params = {"limit": "2", **({"before": cursor} if cursor else {})}
        page = (await http.get("/api/docs", params=params)).json()
        seen += [d["name"] for d in page["docs"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == list(reversed(names))


async def test_a_stale_epoch_is_refused_so_old_local_copies_never_merge(
    live_http: httpx.AsyncClient, server: ServerProcess
) -> None:
    name = "recycled"
    old_epoch = (await live_http.put(path(name), params={"create": "1"})).json()["epoch"]
    url = f"{server.ws}/ws/{quote(name, safe='')}"
    async with websockets.connect(f"{url}?epoch={old_epoch}") as ws:
        assert isinstance(await asyncio.wait_for(ws.recv(), 10), bytes)  # current: accepted
    assert (await live_http.delete(path(name))).status_code == 204
    async with websockets.connect(f"{url}?epoch={old_epoch}") as ws:
        await asyncio.wait_for(ws.wait_closed(), 10)
    assert ws.close_code == 4404  # in the trash: and not re-created by the stale client
    assert (await live_http.get(path(name))).status_code == 404
    # Deleted for good, the name is free again, for a document with a new epoch.
    assert (await live_http.delete(f"/api/trash/{quote(name, safe='')}")).status_code == 204
    new_epoch = (await live_http.put(path(name), params={"create": "1"})).json()["epoch"]
    assert new_epoch != old_epoch
    async with websockets.connect(f"{url}?epoch={old_epoch}") as ws:
        await asyncio.wait_for(ws.wait_closed(), 10)
    assert ws.close_code == 4410
    async with websockets.connect(f"{url}?epoch={new_epoch}") as ws:
        assert isinstance(await asyncio.wait_for(ws.recv(), 10), bytes)

"""Live server: real uvicorn on an ephemeral port, real SQLite file, real WebSockets."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from pycrdt import Array, Doc, Map, Text

from tests.client import YClient, ws_url
from tests.live import ServerProcess


def content(doc: Doc[Any]) -> dict[str, object]:
    return {
        "t": str(doc.get("t", type=Text)),
        "m": doc.get("m", type=Map).to_py(),
        "a": doc.get("a", type=Array).to_py(),
    }


def random_edit(doc: Doc[Any], rng: random.Random, who: int, step: int) -> None:
    text = doc.get("t", type=Text)
    kind = rng.choice(["text", "text", "delete", "map", "array"])
    if kind == "text" or (kind == "delete" and len(text) < 3):
        pos = rng.randint(0, len(text))
        text.insert(pos, f"<{who}.{step}>")
    elif kind == "delete":
        start = rng.randrange(len(text) - 1)
        del text[start : start + rng.randint(1, 2)]
    elif kind == "map":
        doc.get("m", type=Map)[f"k{rng.randint(0, 5)}"] = f"{who}.{step}"
    else:
        arr = doc.get("a", type=Array)
        arr.insert(rng.randint(0, len(arr)), [who, step])


@contextlib.asynccontextmanager
async def clients(server: ServerProcess, name: str, n: int) -> AsyncIterator[list[YClient]]:
    async with contextlib.AsyncExitStack() as stack:
        out = [await stack.enter_async_context(YClient.connect(server.ws, name)) for _ in range(n)]
        async with asyncio.timeout(10):
            await asyncio.gather(*(c.synced.wait() for c in out))
        yield out


async def converge(server: ServerProcess, name: str, group: list[YClient]) -> dict[str, object]:
    """Wait until every client holds exactly what the server holds; return that content."""
    for client in group:
        await client.roundtrip()
    # Every client's edits are committed now, so a fresh client sees the complete document.
    async with clients(server, name, 1) as [fresh]:
        expected = content(fresh.doc)
    for client in group:
        await client.wait_until(partial(has_content, client, expected))
    return expected


def text_is(client: YClient, expected: str) -> bool:
    return str(client.doc.get("t", type=Text)) == expected


def has_content(client: YClient, expected: dict[str, object]) -> bool:
    return content(client.doc) == expected


@pytest.mark.parametrize("n", [2, 5, 20])
async def test_random_concurrent_edits_converge(server: ServerProcess, n: int) -> None:
    rng = random.Random(n)
    async with clients(server, "converge", n) as group:
        for step in range(15):
            for who, client in enumerate(group):
                random_edit(client.doc, rng, who, step)
            if step % 5 == 0:
                await asyncio.sleep(0)  # let some frames interleave with later edits
        final = await converge(server, "converge", group)
        assert len(str(final["t"])) > 0
        assert len(final["a"]) > 0  # type: ignore[arg-type]
    async with YClient.connect(server.ws, "converge") as fresh:
        await asyncio.wait_for(fresh.synced.wait(), 10)
        assert content(fresh.doc) == final


async def test_late_joiner_gets_everything(server: ServerProcess) -> None:
    async with clients(server, "late", 1) as [a]:
        for i in range(50):
            a.doc.get("t", type=Text).insert(0, f"{i},")
        await a.roundtrip()
        async with clients(server, "late", 1) as [b]:
            assert content(b.doc) == content(a.doc)


async def test_documents_are_isolated(server: ServerProcess) -> None:
    names = ["plain", "with/slash", "spa ce", "émoji 🚀", "quote'\"; DROP TABLE x"]
    async with contextlib.AsyncExitStack() as stack:
        group = [await stack.enter_async_context(YClient.connect(server.ws, n)) for n in names]
        for name, client in zip(names, group, strict=True):
            await client.synced.wait()
            client.doc.get("t", type=Text).insert(0, name)
            await client.roundtrip()
    for name in names:
        async with clients(server, name, 1) as [c]:
            assert str(c.doc.get("t", type=Text)) == name


@pytest.mark.parametrize(
    "name",
    ["", "x" * 513, "bad\x00name", "tab\tname", "é" * 257, "x" * 8000],
    # The last is just within the 8 KiB request line that a handshake may have.
    ids=["empty", "long", "nul", "tab", "long-utf8", "near-line-limit"],
)
async def test_bad_names_are_refused_with_1008(server: ServerProcess, name: str) -> None:
    async with websockets.connect(ws_url(server.ws, name)) as ws:
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
    assert ws.close_code == 1008
    assert ws.close_reason


async def test_longest_name_is_accepted(server: ServerProcess) -> None:
    name = "🚀" * 128  # 512 UTF-8 bytes
    async with clients(server, name, 1) as [c]:
        c.doc.get("t", type=Text).insert(0, "ok")
        await c.roundtrip()


@pytest.mark.parametrize("abrupt", [False, True], ids=["clean", "abrupt"])
async def test_awareness_appears_and_disappears(server: ServerProcess, abrupt: bool) -> None:
    async with clients(server, "presence", 1) as [watcher]:
        async with contextlib.AsyncExitStack() as stack:
            other = await stack.enter_async_context(YClient.connect(server.ws, "presence"))
            await other.synced.wait()
            await other.set_awareness({"user": {"name": "Ada"}})
            cid = other.doc.client_id
            await watcher.wait_until(lambda: watcher.awareness.get(cid) is not None, 5)
            if abrupt:
                other.ws.transport.abort()
            else:
                await other.ws.close()
            await watcher.wait_until(lambda: watcher.awareness.get(cid, 0) is None, 1.0)


async def test_new_joiner_sees_existing_awareness(server: ServerProcess) -> None:
    async with clients(server, "aw", 1) as [a]:
        await a.set_awareness({"user": {"name": "Ada"}})
        await a.roundtrip()
        async with clients(server, "aw", 1) as [b]:
            await b.wait_until(lambda: a.doc.client_id in b.awareness, 5)


async def test_ten_clients_open_a_new_document_at_once(server: ServerProcess) -> None:
    async with contextlib.AsyncExitStack() as stack:
        group = await asyncio.gather(
            *(stack.enter_async_context(YClient.connect(server.ws, "storm")) for _ in range(10))
        )
        async with asyncio.timeout(10):
            await asyncio.gather(*(c.synced.wait() for c in group))
        for i, client in enumerate(group):
            client.doc.get("m", type=Map)[f"c{i}"] = i
        await converge(server, "storm", list(group))
        assert len(group[0].doc.get("m", type=Map)) == 10


async def test_healthz(server: ServerProcess) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{server.http}/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_pycrdt_provider_syncs(server: ServerProcess) -> None:
    """pycrdt's own stock Provider, over a websockets channel, syncs with another client."""
    from pycrdt import Provider

    class Channel:
        def __init__(self, ws: websockets.ClientConnection, path: str) -> None:
            self._ws = ws
            self._path = path

        @property
        def path(self) -> str:
            return self._path

        def __aiter__(self) -> Channel:
            return self

        async def __anext__(self) -> bytes:
            try:
                return await self.recv()
            except websockets.ConnectionClosedOK as exc:
                raise StopAsyncIteration from exc

        async def send(self, message: bytes) -> None:
            await self._ws.send(message)

        async def recv(self) -> bytes:
            frame = await self._ws.recv()
            assert isinstance(frame, bytes)
            return frame

    doc: Doc[Any] = Doc()
    changed = asyncio.Event()
    doc.observe(lambda _event: changed.set())
    async with websockets.connect(ws_url(server.ws, "provider")) as ws:
        async with Provider(doc, Channel(ws, "provider")) as provider:
            await asyncio.wait_for(provider.synced.wait(), 10)
            doc.get("t", type=Text).insert(0, "from pycrdt Provider")
            async with clients(server, "provider", 1) as [other]:
                await other.wait_until(
                    lambda: str(other.doc.get("t", type=Text)) == "from pycrdt Provider"
                )
                other.doc.get("t", type=Text).insert(0, ">> ")
                await other.roundtrip()
                async with asyncio.timeout(10):
                    while str(doc.get("t", type=Text)) != ">> from pycrdt Provider":
                        changed.clear()
                        await changed.wait()


async def test_logs_never_show_query_strings(server: ServerProcess) -> None:
    async with websockets.connect(f"{server.ws}/ws/logged?token=s3cr3t-t0ken") as ws:
        await ws.recv()
    async with clients(server, "logged", 1) as [c]:
        await c.roundtrip()
    assert any("connect" in line and "logged" in line for line in server.log)
    assert not any("s3cr3t" in line for line in server.log), "\n".join(server.log)


async def test_update_reaches_others_once_and_never_echoes(server: ServerProcess) -> None:
    async with clients(server, "echo", 3) as [a, b, c]:
        a.doc.get("t", type=Text).insert(0, "one edit")
        await a.roundtrip()
        for other in (b, c):
            await other.wait_until(partial(text_is, other, "one edit"))
        await b.roundtrip()
        await c.roundtrip()
        assert (a.updates_received, b.updates_received, c.updates_received) == (0, 1, 1)


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [("http://evil.example", False), (None, True), ("same", True)],
    ids=["cross-site", "no-origin", "same-origin"],
)
async def test_websocket_origin_check(
    server: ServerProcess, origin: str | None, allowed: bool
) -> None:
    headers = {}
    if origin == "same":
        headers["Origin"] = server.http
    elif origin is not None:
        headers["Origin"] = origin
    url = ws_url(server.ws, "origin")
    if allowed:
        async with websockets.connect(url, additional_headers=headers) as ws:
            assert isinstance(await asyncio.wait_for(ws.recv(), 10), bytes)
    else:
        with pytest.raises(websockets.InvalidStatus) as info:
            async with websockets.connect(url, additional_headers=headers):
                pass
        assert info.value.response.status_code == 403


async def test_idle_documents_leave_memory(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "coedit.db", env={"COEDIT_UNLOAD_GRACE_SECONDS": "0.2"})
    server.start()
    try:
        async with contextlib.AsyncExitStack() as stack:
            for i in range(20):
                c = await stack.enter_async_context(YClient.connect(server.ws, f"idle-{i}"))
                await c.synced.wait()
            async with httpx.AsyncClient() as http:
                health = (await http.get(f"{server.http}/healthz")).json()
                assert (health["rooms"], health["connections"]) == (20, 20)
        async with httpx.AsyncClient() as http, asyncio.timeout(10):
            # Nothing announces an unload to clients: poll the health endpoint, with a deadline.
            while (await http.get(f"{server.http}/healthz")).json()["rooms"]:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    finally:
        server.kill()

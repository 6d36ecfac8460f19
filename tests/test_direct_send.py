"""The synchronous send path against the real, pinned uvicorn (websockets-sansio), in-process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
import websockets
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from websockets.frames import Frame, Opcode

from server.fastsend import REFUSED, SENT, SENT_FULL, binary_frame, direct_link
from server.keepalive import WebSocketProtocol

# Around each boundary of the three length encodings, and one of several frames' worth.
SIZES = (0, 1, 125, 126, 65535, 65536, 200_001)
MESSAGES = [bytes([i]) * size for i, size in enumerate(SIZES)]


class Probe:
    """An ASGI app that sends through `direct_link` and records what happened."""

    def __init__(self) -> None:
        self.found: bool | None = None
        self.results: list[int] = []
        self.after_pause: int | None = None
        self.after_close: int | None = None
        self.done = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "websocket"
        websocket = WebSocket(scope, receive, send)
        link = direct_link(send)
        self.found = link is not None
        await websocket.accept()
        if link is not None:
            self.results = [link.send(message) for message in MESSAGES]
            protocol: Any = getattr(send, "__self__")  # noqa: B009
            protocol.conn.send_ping(b"queued")  # left in websockets' queue, not yet written
            self.results.append(link.send(b"after the ping"))
            protocol.writable.clear()  # as when the transport pauses writing
            self.after_pause = link.send(b"held")
            protocol.writable.set()
        message = await websocket.receive()
        assert message["type"] == "websocket.disconnect"
        if link is not None:
            self.after_close = link.send(b"late")
        self.done.set()


@contextlib.asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[int]:
    """uvicorn serving `app` in this loop; yields the port."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        ws=WebSocketProtocol,  # what the server runs: uvicorn's websockets-sansio, subclassed
        ws_per_message_deflate=False,
        lifespan="off",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:  # noqa: ASYNC110 (uvicorn offers no started event)
            await asyncio.sleep(0.01)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def served() -> AsyncIterator[tuple[Probe, int]]:
    probe = Probe()
    async with serving(probe) as port:
        yield probe, port


async def test_direct_sends_arrive_whole_and_in_order(served: tuple[Probe, int]) -> None:
    probe, port = served
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/x", max_size=None) as client:
        got = [await asyncio.wait_for(client.recv(), 5) for _ in range(len(MESSAGES) + 1)]
    await asyncio.wait_for(probe.done.wait(), 5)
    assert probe.found, "the pinned uvicorn no longer matches direct_link"
    # The transport writes what the kernel takes at once; the rest it buffers, and past its
    # high-water mark it pauses the protocol from inside write().
    assert all(result in (SENT, SENT_FULL) for result in probe.results), probe.results
    assert got == [*MESSAGES, b"after the ping"]
    assert probe.after_pause == REFUSED, "a paused transport must take the waiting path"
    assert probe.after_close == REFUSED, "nothing may be sent once the peer has gone"


async def test_other_servers_get_the_asgi_path() -> None:
    async def plain_send(message: Any) -> None:
        raise AssertionError("never called")

    assert direct_link(plain_send) is None


@pytest.mark.parametrize("size", SIZES)
def test_binary_frames_are_what_websockets_would_send(size: int) -> None:
    message = b"m" * size
    assert binary_frame(message) == Frame(Opcode.BINARY, message).serialize(mask=False)


class Flooder:
    """An ASGI app that sends to a peer that never reads until its transport pauses, then
    resets the connection through the link."""

    def __init__(self) -> None:
        self.buffered_when_full = 0
        self.disconnect_code: int | None = None
        self.done = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        link = direct_link(send)
        assert link is not None
        await websocket.accept()
        chunk = b"f" * 65536
        # The kernel takes a few MiB (its socket buffers) before the transport has to keep any.
        sent = [link.send(chunk) for _ in range(2000)]
        assert SENT_FULL in sent
        self.buffered_when_full = link.buffered()
        assert link.send(chunk) == REFUSED
        link.abort()
        link.abort()  # a second call finds the connection already going
        message = await websocket.receive()
        assert message["type"] == "websocket.disconnect"
        self.disconnect_code = message["code"]
        self.done.set()


async def test_a_link_sees_the_backlog_and_resets_a_peer_that_stopped_reading() -> None:
    flooder = Flooder()
    async with serving(flooder) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"GET /ws/x HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        reader._transport.pause_reading()  # type: ignore[attr-defined]
        await asyncio.wait_for(flooder.done.wait(), 10)
        reader._transport.resume_reading()  # type: ignore[attr-defined]
        with pytest.raises(ConnectionResetError):
            async with asyncio.timeout(10):
                while await reader.read(1 << 20):
                    pass  # a graceful close would end in EOF; a reset raises
        writer.close()
    assert flooder.buffered_when_full > 0
    assert flooder.disconnect_code is not None

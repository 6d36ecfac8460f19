"""The synchronous send path against the real, pinned uvicorn (websockets-sansio), in-process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
import websockets
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from websockets.frames import Frame, Opcode

from server.ws import binary_frame, direct_sender

# Around each boundary of the three length encodings, and one of several frames' worth.
SIZES = (0, 1, 125, 126, 65535, 65536, 200_001)
MESSAGES = [bytes([i]) * size for i, size in enumerate(SIZES)]


class Probe:
    """An ASGI app that sends through `direct_sender` and records what happened."""

    def __init__(self) -> None:
        self.found: bool | None = None
        self.results: list[bool] = []
        self.after_pause: bool | None = None
        self.after_close: bool | None = None
        self.done = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "websocket"
        websocket = WebSocket(scope, receive, send)
        direct = direct_sender(send)
        self.found = direct is not None
        await websocket.accept()
        if direct is not None:
            self.results = [direct(message) for message in MESSAGES]
            protocol: Any = getattr(send, "__self__")  # noqa: B009
            protocol.conn.send_ping(b"queued")  # left in websockets' queue, not yet written
            self.results.append(direct(b"after the ping"))
            protocol.writable.clear()  # as when the transport pauses writing
            self.after_pause = direct(b"held")
            protocol.writable.set()
        message = await websocket.receive()
        assert message["type"] == "websocket.disconnect"
        if direct is not None:
            self.after_close = direct(b"late")
        self.done.set()


@pytest.fixture
async def served() -> AsyncIterator[tuple[Probe, int]]:
    probe = Probe()
    config = uvicorn.Config(
        probe,
        host="127.0.0.1",
        port=0,
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        lifespan="off",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:  # noqa: ASYNC110 (uvicorn offers no started event)
            await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield probe, port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def test_direct_sends_arrive_whole_and_in_order(served: tuple[Probe, int]) -> None:
    probe, port = served
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/x", max_size=None) as client:
        got = [await asyncio.wait_for(client.recv(), 5) for _ in range(len(MESSAGES) + 1)]
    await asyncio.wait_for(probe.done.wait(), 5)
    assert probe.found, "the pinned uvicorn no longer matches direct_sender"
    assert probe.results == [True] * (len(MESSAGES) + 1)
    assert got == [*MESSAGES, b"after the ping"]
    assert probe.after_pause is False, "a paused transport must take the waiting path"
    assert probe.after_close is False, "nothing may be sent once the peer has gone"


async def test_other_servers_get_the_asgi_path() -> None:
    async def plain_send(message: Any) -> None:
        raise AssertionError("never called")

    assert direct_sender(plain_send) is None


@pytest.mark.parametrize("size", SIZES)
def test_binary_frames_are_what_websockets_would_send(size: int) -> None:
    message = b"m" * size
    assert binary_frame(message) == Frame(Opcode.BINARY, message).serialize(mask=False)

"""cli.HttpProtocol against the real, pinned uvicorn, in-process: upgrades leave no garbage."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest
import uvicorn
import websockets
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from server.cli import HttpProtocol


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    websocket = WebSocket(scope, receive, send)
    await websocket.accept()
    await websocket.send_bytes(await websocket.receive_bytes())
    await websocket.close()


@pytest.fixture
def saved_garbage() -> Iterator[list[object]]:
    """What a full collection finds unreachable, kept for inspection instead of freed."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield gc.garbage
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


@pytest.mark.parametrize(("http", "left"), [(HttpToolsProtocol, 3), (HttpProtocol, 0)])
async def test_upgraded_connections_leave_no_http_protocol_in_a_cycle(
    http: type[HttpToolsProtocol], left: int, saved_garbage: list[object]
) -> None:
    config = uvicorn.Config(
        echo, host="127.0.0.1", port=0, http=http, ws="websockets-sansio", lifespan="off"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:  # noqa: ASYNC110 (uvicorn offers no started event)
                await asyncio.sleep(0.01)
            port = server.servers[0].sockets[0].getsockname()[1]
            for _ in range(3):
                async with websockets.connect(f"ws://127.0.0.1:{port}/ws/x") as client:
                    await client.send(b"hi")
                    assert await client.recv() == b"hi"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
    gc.collect()
    # uvicorn's own class shows that the test sees the cycle; ours must not leave it.
    assert sum(type(o) is http for o in saved_garbage) == left

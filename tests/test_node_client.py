"""Interop: the stock Node client (yjs 13 + y-websocket WebsocketProvider) and a pycrdt client."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Map, Text

from server.sync.protocol import encode_update
from tests.client import YClient
from tests.live import ROOT, ServerProcess
from tests.updates import crafted, gc_struct, string_item

SCRIPT = Path(__file__).parent / "node" / "client.mjs"


class NodeClient:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def send(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        await self.proc.stdin.drain()

    async def expect(self, key: str, value: str, timeout: float = 10.0) -> dict[str, Any]:
        """Read lines until one has `key == value`; other lines are progress and skipped."""
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                line = await self.proc.stdout.readline()
                if not line:
                    raise EOFError("node client exited")
                msg: dict[str, Any] = json.loads(line)
                if msg.get(key) == value:
                    return msg

    async def dump(self) -> dict[str, Any]:
        await self.send(cmd="dump")
        return await self.expect("event", "dump")


@asynccontextmanager
async def node_client(server: ServerProcess | str, name: str) -> AsyncIterator[NodeClient]:
    """A stock client on `name`, of `server` or at a ws:// base URL (a proxy in front of one)."""
    base = server if isinstance(server, str) else server.ws
    if shutil.which("node") is None or not (ROOT / "node_modules" / "y-websocket").is_dir():
        pytest.fail("these tests need Node 20 and `npm ci`: run them through `make test`")
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(SCRIPT),
        f"{base}/ws",
        name,
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    client = NodeClient(proc)
    try:
        await client.expect("event", "synced")
        yield client
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def test_node_and_pycrdt_clients_edit_one_document(server: ServerProcess) -> None:
    name = "interop/ü 🚀"
    async with node_client(server, name) as node, YClient.connect(server.ws, name) as py:
        await py.synced.wait()
        await node.send(cmd="insert", index=0, text="node says hi. ")
        await py.wait_until(lambda: "node says hi." in str(py.doc.get("t", type=Text)))
        text = py.doc.get("t", type=Text)
        text.insert(len(text), "python answers.")
        py.doc.get("m", type=Map)["from"] = "python"
        await node.send(cmd="wait_text", contains="python answers.")
        await node.expect("event", "text")
        # Concurrent edits in the same spot from both sides.
        await node.send(cmd="insert", index=0, text="[N]")
        text.insert(0, "[P]")
        await node.send(cmd="map", key="from", value="node")
        await py.roundtrip()
        await node.send(cmd="wait_text", contains="[P]")
        await node.expect("event", "text")
        await py.wait_until(lambda: "[N]" in str(py.doc.get("t", type=Text)))
        state = await node.dump()
        await py.wait_until(
            lambda: (
                str(py.doc.get("t", type=Text)) == state["text"]
                and py.doc.get("m", type=Map).to_py() == state["map"]
            )
        )
    async with YClient.connect(server.ws, name) as fresh:
        await fresh.synced.wait()
        assert str(fresh.doc.get("t", type=Text)) == state["text"]


async def test_node_awareness_reaches_python_and_leaves_on_kill(server: ServerProcess) -> None:
    async with YClient.connect(server.ws, "aw") as py:
        await py.synced.wait()
        async with node_client(server, "aw") as node:
            await node.send(cmd="awareness", state={"user": {"name": "Node"}})
            client_id = (await node.dump())["clientID"]
            await py.wait_until(lambda: py.awareness.get(client_id) == {"user": {"name": "Node"}})
            await py.set_awareness({"user": {"name": "Py"}})
            await node.send(cmd="wait_awareness", clientID=py.doc.client_id)
            await node.expect("event", "awareness")
            node.proc.kill()  # abrupt: no close frame, no awareness removal from the client
            await py.wait_until(lambda: py.awareness.get(client_id, 0) is None, 1.0)


async def test_a_struct_cut_after_collected_clocks_reaches_a_stock_client_as_stored(
    server: ServerProcess,
) -> None:
    # "hello" (client 7, clocks 0-4), clocks 5-9 collected, then "abcdef" at 7-12: pycrdt cuts
    # it at 10, and Yjs 13 throws on that form (docs/upstream/yrs-cut-after-gc.md; y-protocols
    # catches and logs it, and the client goes on without the update). The server relays what
    # its Doc took, which a stock client integrates as the server and a reload do.
    name = "cut-after-collected"
    updates = [
        crafted(string_item(7, 0, "hello", None)),
        crafted(gc_struct(7, 5, 5)),
        crafted(string_item(7, 7, "abcdef", None)),
        crafted(string_item(9, 0, "X", None)),  # relayed after the rest: then the client has all
    ]
    async with node_client(server, name) as node, YClient.connect(server.ws, name) as sender:
        await sender.synced.wait()
        for update in updates:
            await sender.send_raw(encode_update(update))
        await node.send(cmd="wait_text", contains="X")
        await node.expect("event", "text")
        state = await node.dump()
        assert (state["text"], state["updateErrors"]) == ("helloX", 0)
    async with YClient.connect(server.ws, name) as fresh:
        await fresh.synced.wait()
        assert str(fresh.doc.get("t", type=Text)) == "helloX"

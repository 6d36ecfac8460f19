"""Hostile input against a live server: the offender is closed, everyone else is untouched."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import os
import re
import socket
import struct
import termios
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import psutil
import pytest
import websockets
from pycrdt import Doc, Text

from server.connection import STALLED_CLOSE_SECONDS
from server.sync.lib0 import write_var_uint
from server.sync.protocol import AwarenessEntry, encode_awareness_entries, encode_update
from tests.client import YClient, ws_url
from tests.live import ServerProcess

NAME = "target"


def text_of(doc: Doc[Any]) -> str:
    return str(doc.get("t", type=Text))


@contextlib.asynccontextmanager
async def bystanders(server: ServerProcess) -> AsyncIterator[tuple[YClient, YClient]]:
    """Two well-behaved clients, one on the attacked document and one on another document."""
    async with (
        YClient.connect(server.ws, NAME) as same,
        YClient.connect(server.ws, "elsewhere") as other,
    ):
        await asyncio.wait_for(asyncio.gather(same.synced.wait(), other.synced.wait()), 10)
        same.doc.get("t", type=Text).insert(0, "before;")
        await same.roundtrip()
        yield same, other


async def assert_undisturbed(server: ServerProcess, same: YClient, other: YClient) -> None:
    """Both bystanders still sync live, and the stored document holds exactly their edits."""
    for client, name in ((same, NAME), (other, "elsewhere")):
        async with YClient.connect(server.ws, name) as watcher:
            await asyncio.wait_for(watcher.synced.wait(), 10)
            client.doc.get("t", type=Text).insert(0, "after;")
            await client.roundtrip()
            await watcher.wait_until(partial(same_text, watcher, client))
    assert text_of(same.doc) == "after;before;"
    assert not any("Traceback" in line for line in server.log), "\n".join(server.log)


def same_text(a: YClient, b: YClient) -> bool:
    return text_of(a.doc) == text_of(b.doc)


async def closed_with(server: ServerProcess, frames: list[bytes], name: str = NAME) -> int:
    """Send raw frames on a fresh connection and return the close code the server chose."""
    async with websockets.connect(ws_url(server.ws, name), max_size=None) as ws:
        for frame in frames:
            try:
                await ws.send(frame)
            except websockets.ConnectionClosed:
                break
        async with asyncio.timeout(10):
            with contextlib.suppress(websockets.ConnectionClosed):
                while True:
                    await ws.recv()
    assert ws.close_code is not None
    assert ws.close_reason, "a close code must come with a reason"
    return ws.close_code


def sync(kind: int, payload: bytes) -> bytes:
    return b"\x00" + bytes([kind]) + write_var_uint(len(payload)) + payload


def real_update() -> bytes:
    doc: Doc[Any] = Doc()
    doc.get("t", type=Text).insert(0, "hostile text")
    return doc.get_update()


CASES: dict[str, tuple[list[bytes], int]] = {
    "truncated update": ([sync(2, real_update()[:-3])], 1002),
    "declared length past the end": ([b"\x00\x02" + write_var_uint(2**40) + b"abc"], 1002),
    "huge struct count": ([sync(2, write_var_uint(2**32) + b"\x01\x00")], 1002),
    "overlong varint": ([b"\x00\x02" + b"\xff" * 11 + b"\x01"], 1002),
    "non-minimal varint": ([b"\x00\x02\x82\x00\x00\x00"], 1002),
    "trailing garbage": ([sync(2, b"\x00\x00") + b"junk"], 1002),
    "bad state vector": ([sync(0, write_var_uint(5) + b"\x01")], 1002),
    "empty frame": ([b""], 1002),
    "unknown message type": ([b"\x63\x00"], 1003),
    "auth message": ([b"\x02\x00\x00"], 1003),
    "text frame": ([b"not used, see below"], 1003),
    "awareness bad json": ([b"\x01" + write_var_uint(6) + b"\x01\x01\x01\x02{x"], 1007),
    "awareness bad utf8": ([b"\x01" + write_var_uint(6) + b"\x01\x01\x01\x02\xff\xfe"], 1007),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_malformed_frames_close_only_the_offender(server: ServerProcess, case: str) -> None:
    frames, code = CASES[case]
    async with bystanders(server) as (same, other):
        if case == "text frame":
            async with websockets.connect(ws_url(server.ws, NAME)) as ws:
                await ws.send("hello")
                await asyncio.wait_for(ws.wait_closed(), 10)
            got = ws.close_code
        else:
            got = await closed_with(server, frames)
        assert got == code
        await assert_undisturbed(server, same, other)


async def test_malformed_awareness_is_never_relayed(server: ServerProcess) -> None:
    async with bystanders(server) as (same, other):
        bad = b"\x01" + write_var_uint(6) + b"\x01\x01\x01\x02{x"
        assert await closed_with(server, [bad]) == 1007
        assert same.awareness == {}
        await assert_undisturbed(server, same, other)
        assert same.awareness == {}


async def test_oversize_frame_closes_with_1009(server: ServerProcess) -> None:
    async with bystanders(server) as (same, other):
        payload = os.urandom(16 * 1024 * 1024 + 1)
        assert await closed_with(server, [sync(2, payload)]) == 1009
        await assert_undisturbed(server, same, other)


async def test_huge_declared_lengths_do_not_grow_memory(server: ServerProcess) -> None:
    proc = psutil.Process(server.pid)
    async with bystanders(server) as (same, other):
        before = proc.memory_info().rss
        for i in range(30):
            frames = [
                b"\x00\x02" + write_var_uint(2**62 + i) + b"\x00" * 8,
                sync(2, write_var_uint(2**31) + write_var_uint(2**31) + b"\x01\x00"),
                sync(1, b"\x01" + write_var_uint(2**30) + b"\x01\x00\x08" + write_var_uint(2**30)),
                b"\x01" + write_var_uint(9) + write_var_uint(2**40) + b"\x01\x01\x01",
            ]
            for frame in frames:
                assert await closed_with(server, [frame]) in (1002, 1007)
        grown = proc.memory_info().rss - before
        assert grown <= 16 * 1024 * 1024, f"RSS grew by {grown / 2**20:.1f} MiB"
        await assert_undisturbed(server, same, other)


async def test_awareness_flood_closes_with_1008(server: ServerProcess) -> None:
    async with bystanders(server) as (same, other):
        entries = [AwarenessEntry(client_id=i, clock=1, state='{"x":1}') for i in range(50)]
        assert await closed_with(server, [encode_awareness_entries(entries)]) == 1008
        await assert_undisturbed(server, same, other)
        # The flood was refused whole: none of its client ids reached the bystander.
        assert not (set(same.awareness) & set(range(50)))


async def test_step1_flood_closes_with_1008(server: ServerProcess) -> None:
    async with bystanders(server) as (same, other):
        step1 = sync(0, b"\x00")
        assert await closed_with(server, [step1] * 200) == 1008
        await assert_undisturbed(server, same, other)


async def test_client_that_stops_reading_learns_why_if_it_reads_again_in_time(
    tmp_path: Path,
) -> None:
    """Kernel socket buffers absorb a few MiB each way, so the burst is larger than that.

    The no-progress timer path is covered with a blocking fake socket in tests/test_ws.py and
    against a live server in test_client_that_stops_reading_is_reset below.
    """
    env = {"COEDIT_SEND_STALL_SECONDS": "0.5", "COEDIT_SEND_BUFFER_BYTES": str(2**20)}
    server = ServerProcess(tmp_path / "coedit.db", env=env)
    server.start()
    try:
        async with bystanders(server) as (same, other):
            reader, writer = await stalled_client(server)
            flood = asyncio.create_task(burst(same, 80))
            await logged(server, "too far behind")
            # Once it reads again (within STALLED_CLOSE_SECONDS) it finds its data, then a
            # close frame saying why.
            assert await read_close_code(reader) == 1013
            writer.close()
            await flood
            await clear(same)
            await assert_undisturbed(server, same, other)
    finally:
        server.kill()


async def logged(server: ServerProcess, text: str, timeout: float = 60) -> str:
    """The first server log line containing `text`, waiting for it with a deadline."""
    async with asyncio.timeout(timeout):
        while True:
            for line in server.log:
                if text in line:
                    return line
            await asyncio.sleep(0.02)  # the log arrives on a thread: nothing to await


def tcp_state(sock: socket.socket) -> int:
    """The kernel's TCP state of `sock` (1 established, 7 closed by a reset, 8 peer sent FIN),
    read without reading the socket."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]


def unread_bytes(sock: socket.socket) -> int:
    """What the kernel holds for `sock` that the application has not read."""
    raw = fcntl.ioctl(sock, termios.FIONREAD, b"\0\0\0\0")
    return int(struct.unpack("i", raw)[0])


def raw_handshake(server: ServerProcess, name: str = NAME) -> socket.socket:
    """A blocking socket past the WebSocket handshake, with not a byte of data read."""
    host, port = server.http.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(handshake(f"{host}:{port}", f"/ws/{name}"))
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += sock.recv(1)  # one byte at a time, so as to read none of the frames after it
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


@pytest.mark.parametrize("update_kib", [8, 32])
async def test_client_that_stops_reading_is_reset(tmp_path: Path, update_kib: int) -> None:
    """Issue 11: with small updates the direct sends went to the kernel and the stall timer
    never started; when it did close, the close frame sat behind the unread data and the
    socket stayed open until uvicorn's keepalive (which could not close it either)."""
    stall, budget = 1.0, 2**20
    env = {
        "COEDIT_SEND_STALL_SECONDS": str(stall),
        "COEDIT_SEND_BUFFER_BYTES": str(budget),
        "COEDIT_RELAY_WINDOW_SECONDS": "0",  # one frame per update, as the report had it
    }
    server = ServerProcess(tmp_path / "coedit.db", env=env)
    server.start()
    try:
        async with (
            bystanders(server) as (same, other),
            YClient.connect(server.ws, NAME) as slow,
        ):
            await asyncio.wait_for(slow.synced.wait(), 10)
            slow.read_pace = 600_000  # slower than the flood below, but always reading
            stalled = raw_handshake(server)
            text = same.doc.get("t", type=Text)
            size, rate = update_kib * 1024, 1_000_000  # bytes per second: stall * rate < 3 budgets
            started = asyncio.get_running_loop().time()
            sent = 0

            async def flood() -> None:
                nonlocal sent
                loop = asyncio.get_running_loop()
                while True:
                    text.insert(0, "u" * (size - 1) + str(sent // size % 10))
                    sent += size
                    await asyncio.sleep(max(0, started + sent / rate - loop.time()))  # pace

            flooding = asyncio.create_task(flood())
            try:
                line = await logged(server, "closing 127.0.0.1:", 90)
                decided = asyncio.get_running_loop().time()
                sent_at_close = sent
                unread = unread_bytes(stalled)
                async with asyncio.timeout(STALLED_CLOSE_SECONDS + 10):
                    while tcp_state(stalled) == 1:  # noqa: ASYNC110 (kernel state: no event)
                        await asyncio.sleep(0.02)
                torn_down = asyncio.get_running_loop().time()
            finally:
                flooding.cancel()
                await asyncio.gather(flooding, return_exceptions=True)
            state = tcp_state(stalled)
            stalled.close()
            match = re.search(
                r"stopped reading, (\d+) bytes behind, nothing taken for ([\d.]+)", line
            )
            assert match is not None, line  # the stall rule, not four budgets: see `rate`
            behind, idle = int(match.group(1)), float(match.group(2))
            print(
                f"\n{update_kib} KiB updates: closed {decided - started:.1f} s into the flood "
                f"with {sent_at_close / 2**20:.1f} MiB relayed, {behind} bytes behind "
                f"({behind / 2**20:.2f} MiB, budget {budget / 2**20:.0f} MiB), nothing taken for "
                f"{idle:.1f} s (stall {stall} s); TCP torn down {torn_down - decided:.1f} s "
                f"later (state {state}); {unread} bytes unread in its own kernel buffer"
            )
            assert budget < behind < 4 * budget
            assert stall <= idle < stall + 3  # the watch ticks every stall / 4
            await logged(server, "(close 1013)", 10)  # logged once the endpoint has ended
            slow.read_pace = None  # catch up
            await slow.wait_until(partial(same_text, slow, same), 60)
            assert slow.ws.close_code is None, "a slow client that keeps reading stays"
            await clear(same)
            await assert_undisturbed(server, same, other)
    finally:
        server.kill()


async def test_slow_but_reading_client_is_not_closed(tmp_path: Path) -> None:
    env = {"COEDIT_SEND_STALL_SECONDS": "0.5"}
    server = ServerProcess(tmp_path / "coedit.db", env=env)
    server.start()
    try:
        async with bystanders(server) as (same, other):
            async with YClient.connect(server.ws, NAME) as slow:
                await slow.synced.wait()
                await burst(same, 56)  # 14 MiB at once: over the 4 MiB budget, under 16 MiB
                await slow.wait_until(partial(same_text, slow, same), 30)
                assert slow.ws.close_code is None
            await clear(same)
            await assert_undisturbed(server, same, other)
    finally:
        server.kill()


async def burst(client: YClient, chunks: int) -> None:
    big = "x" * (256 * 1024 - 1)
    for i in range(chunks):
        client.doc.get("t", type=Text).insert(0, big + str(i % 10))
    await client.roundtrip(30)


async def clear(client: YClient) -> None:
    text = client.doc.get("t", type=Text)
    del text[0 : len(text) - len("before;")]
    await client.roundtrip()


async def stalled_client(
    server: ServerProcess,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw WebSocket handshake, then a client that reads nothing until told to."""
    host, port = server.http.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port), limit=2**26)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /ws/{NAME} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    status = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert status.startswith(b"HTTP/1.1 101")
    reader._transport.pause_reading()  # type: ignore[attr-defined]
    return reader, writer


async def read_close_code(reader: asyncio.StreamReader) -> int:
    """Resume reading, skip data frames, return the code of the server's close frame."""
    reader._transport.resume_reading()  # type: ignore[attr-defined]
    async with asyncio.timeout(30):
        while True:
            head = await reader.readexactly(2)  # EOF here means the server sent no close frame
            opcode, length = head[0] & 0x0F, head[1] & 0x7F
            if length == 126:
                length = int.from_bytes(await reader.readexactly(2), "big")
            elif length == 127:
                length = int.from_bytes(await reader.readexactly(8), "big")
            body = await reader.readexactly(length)
            if opcode == 0x8:
                return int.from_bytes(body[:2], "big")


def handshake(host: str, path: str, method: str = "GET", extra: str = "") -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"{extra}\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("path", "method", "extra", "status"),
    [
        ("/ws/" + "x" * 9000, "GET", "", 414),
        ("/ws/" + "%C3%A9" * 2000, "GET", "", 414),
        ("/ws/" + NAME + "?token=" + "t" * 9000, "GET", "", 414),
        ("/ws/" + NAME, "GET", "X-Big: " + "y" * 9000 + "\r\n", 431),
        ("/ws/" + NAME, "GET", "".join(f"X-{i}: {i}\r\n" for i in range(130)), 431),
        ("/ws/" + NAME, "POST", "", 405),
        ("/ws/" + NAME, "GET", "Content-Length: 1\r\n", 400),
    ],
    ids=["long-name", "long-utf8-name", "long-query", "big-header", "many-headers", "post", "body"],
)
async def test_handshake_websockets_refuses_gets_an_answer(
    server: ServerProcess, path: str, method: str, extra: str, status: int
) -> None:
    """uvicorn used to leave these unanswered: the client hung until its own timeout."""
    async with bystanders(server) as (same, other):
        host, port = server.http.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            writer.write(handshake(f"{host}:{port}", path, method, extra))
            await writer.drain()
            # Everything up to EOF: an answer, then the server hangs up.
            answer = await asyncio.wait_for(reader.read(), 10)
        finally:
            writer.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(f"HTTP/1.1 {status} ".encode()), answer[:200]
        assert body.startswith(b"Failed to open a WebSocket connection"), answer[:400]
        await assert_undisturbed(server, same, other)


async def test_update_pair_that_crashes_pycrdt_does_not_crash_the_server(
    server: ServerProcess,
) -> None:
    """Two small valid updates that make pycrdt 0.14.13 segfault when applied in sequence."""
    pair = ["01010301000100", "02010300a10200090202000001440000016100"]
    async with bystanders(server) as (same, other):
        async with YClient.connect(server.ws, NAME) as attacker:
            await attacker.synced.wait()
            for hex_update in pair:
                await attacker.send_raw(encode_update(bytes.fromhex(hex_update)))
            await attacker.roundtrip()
        assert server.proc is not None and server.proc.poll() is None
        await assert_undisturbed(server, same, other)
    server.restart()  # loading the stored pair must not crash either
    async with YClient.connect(server.ws, NAME) as reader:
        await asyncio.wait_for(reader.synced.wait(), 10)
        assert text_of(reader.doc) == "after;before;"


async def test_update_pair_that_panics_pycrdt_is_contained(server: ServerProcess) -> None:
    """Valid updates that make pycrdt 0.14.13 panic (a BaseException) in sequence."""
    pair = [
        "010303000001650000077b2261223a317d2500000000077b2261223a317d00",
        "01010300810000000100010001",
    ]
    async with bystanders(server) as (same, other):
        async with websockets.connect(ws_url(server.ws, NAME)) as raw:
            for hex_update in pair:
                with contextlib.suppress(websockets.ConnectionClosed):
                    await raw.send(encode_update(bytes.fromhex(hex_update)))
            with contextlib.suppress(websockets.ConnectionClosed):
                await raw.send(b"\x00\x00\x01\x00")  # step 1: answered only if still open
                await asyncio.wait_for(raw.recv(), 5)
        assert raw.close_code in (None, 1000, 1007), raw.close_code
        assert server.proc is not None and server.proc.poll() is None
        await assert_undisturbed(server, same, other)

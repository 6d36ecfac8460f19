"""The WebSocket edge: name rules and the outbound queue's back-pressure, with a fake socket."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest
from starlette.websockets import WebSocket

from server.connection import Connection
from server.names import name_problem


class BlockingSocket:
    """Accepts `accept_frames` frames, then blocks every send like a peer that stopped reading."""

    def __init__(self, accept_frames: int) -> None:
        self.sent: list[bytes] = []
        self.closed: tuple[int, str] | None = None
        self._accept = accept_frames
        self.blocked = asyncio.Event()

    async def send_bytes(self, data: bytes) -> None:
        if len(self.sent) >= self._accept:
            self.blocked.set()
            await asyncio.Event().wait()
        self.sent.append(data)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed = (code, reason or "")


def connection(sock: BlockingSocket, budget: int, stall: float) -> Connection:
    return Connection(cast(WebSocket, sock), "fake", budget, stall)


def done_event(conn: Connection) -> asyncio.Event:
    """Set once the connection can send nothing more (close frame out, or peer gone)."""
    done = asyncio.Event()
    conn.on_done = done.set
    return done


async def test_stalled_peer_over_budget_is_closed_with_1013() -> None:
    sock = BlockingSocket(accept_frames=1)
    conn = connection(sock, budget=1000, stall=0.05)
    done = done_event(conn)
    for _ in range(4):
        conn.send(b"x" * 600)  # 2400 bytes: over budget, under four budgets
    await asyncio.wait_for(done.wait(), 5)
    assert sock.closed is not None and sock.closed[0] == 1013
    assert conn.close_request is not None and conn.close_request[0] == 1013


class SlowSocket(BlockingSocket):
    """A slow link: every frame takes a while, but frames keep going out."""

    def __init__(self, delay: float, expect: int) -> None:
        super().__init__(accept_frames=10**9)
        self._delay = delay
        self._expect = expect
        self.all_sent = asyncio.Event()

    async def send_bytes(self, data: bytes) -> None:
        await asyncio.sleep(self._delay)  # the link's pace, not a test wait
        self.sent.append(data)
        if len(self.sent) == self._expect:
            self.all_sent.set()


async def test_slow_peer_that_keeps_draining_is_not_closed() -> None:
    sock = SlowSocket(delay=0.02, expect=10)
    # The stall allowance is many times the link's pace: a busy machine delays the sends.
    conn = connection(sock, budget=3000, stall=1.0)
    done = done_event(conn)
    for _ in range(10):
        conn.send(b"x" * 900)  # 9000 bytes: three budgets behind, draining for 0.2 s
    await asyncio.wait_for(sock.all_sent.wait(), 5)
    assert conn.close_request is None
    conn.close(1000, "done")
    await asyncio.wait_for(done.wait(), 5)
    assert sock.closed == (1000, "done")


async def test_far_behind_peer_is_closed_at_once() -> None:
    sock = BlockingSocket(accept_frames=0)
    conn = connection(sock, budget=1000, stall=60)
    done = done_event(conn)
    conn.send(b"x" * 3000)
    await sock.blocked.wait()
    conn.send(b"x" * 1001)
    await asyncio.wait_for(done.wait(), 5)
    assert sock.closed is not None and sock.closed[0] == 1013


async def test_an_idle_connection_holds_no_writer_task() -> None:
    sock = SlowSocket(delay=0, expect=3)
    conn = connection(sock, budget=1000, stall=60)
    assert conn.writer is None
    for i in range(3):
        conn.send(bytes([i]))
    writer = conn.writer
    assert writer is not None
    await asyncio.wait_for(writer, 5)
    assert sock.sent == [b"\x00", b"\x01", b"\x02"]
    assert conn.writer is None


class GoneSocket(BlockingSocket):
    async def send_bytes(self, data: bytes) -> None:
        raise RuntimeError("Cannot call send once a close message has been sent.")


async def test_a_peer_gone_mid_send_ends_the_connection() -> None:
    sock = GoneSocket(accept_frames=0)
    conn = connection(sock, budget=1000, stall=60)
    done = done_event(conn)
    conn.send(b"x")
    conn.send(b"y")
    await asyncio.wait_for(done.wait(), 5)
    assert conn.writer is None and sock.closed is None


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("a", True),
        ("with/slash and space", True),
        ("émoji 🚀", True),
        ("🚀" * 128, True),
        ("", False),
        ("x" * 513, False),
        ("nul\x00", False),
        ("bell\x07", False),
        ("del\x7f", False),
    ],
)
def test_name_rules(name: str, ok: bool) -> None:
    assert (name_problem(name) is None) is ok

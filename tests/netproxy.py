"""A TCP proxy for live tests: a network that can vanish or crawl between a client and the server.

`blackhole()` drops everything from then on, in both directions, without closing anything (a
cable pulled, a laptop lid shut): no close frame, no FIN, no reset ever reaches the other side.
`downstream_rate` forwards server-to-client bytes at that pace, and a small receive buffer
towards the server keeps what the proxy has not forwarded unacknowledged, as on a slow link.
It counts the WebSocket pings the server sends, so tests can wait for pings, not for time.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

CHUNK = 16 * 1024


class PingCounter:
    """Reads the server's side of one connection: an HTTP response and, once it is a WebSocket's
    (101), its unmasked frames; counts the pings among them."""

    def __init__(self) -> None:
        self.pings = 0
        self._head = b""
        self._in_body = False
        self.websocket = False
        self._buffer = b""
        self._skip = 0  # payload bytes of the current frame still to pass

    def feed(self, data: bytes) -> None:
        if not self._in_body:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return
            self.websocket = self._head.startswith(b"HTTP/1.1 101")
            data, self._head, self._in_body = self._head[end + 4 :], b"", True
        while data and self.websocket:
            if self._skip:
                step = min(self._skip, len(data))
                self._skip -= step
                data = data[step:]
                continue
            self._buffer += data
            data = b""
            header = self._frame_header()
            if header is None:
                return
            opcode, size, length = header
            if opcode == 0x9:
                self.pings += 1
            data, self._buffer = self._buffer[size:], b""
            self._skip = length

    def _frame_header(self) -> tuple[int, int, int] | None:
        """(opcode, header size, payload length) once the whole header is buffered."""
        b = self._buffer
        if len(b) < 2:
            return None
        length, size = b[1] & 0x7F, 2
        if length == 126:
            size = 4
        elif length == 127:
            size = 10
        if len(b) < size:
            return None
        if size > 2:
            length = int.from_bytes(b[2:size], "big")
        return b[0] & 0x0F, size, length


class Proxy:
    """Listens on 127.0.0.1 and forwards each connection to `port` on 127.0.0.1."""

    def __init__(self, port: int, *, downstream_rate: float | None = None) -> None:
        self.target = port
        self.rate = downstream_rate
        self._counters: list[PingCounter] = []
        self.port = 0
        self.upstream_closed = asyncio.Event()  # the server ended a forwarded WebSocket
        self._dropping = False
        self._forwarded = asyncio.Event()  # set after each chunk passed towards a client
        self._tasks: set[asyncio.Task[None]] = set()
        self._sockets: list[socket.socket] = []

    @property
    def pings(self) -> int:
        """Pings the server sent through this proxy, over all its connections."""
        return sum(counter.pings for counter in self._counters)

    @property
    def websockets(self) -> int:
        """WebSocket connections made through this proxy (a client that reconnects adds one)."""
        return sum(counter.websocket for counter in self._counters)

    async def wait_for_pings(self, count: int, timeout: float) -> None:
        """Wait, with a deadline, until `count` pings have passed towards clients."""
        async with asyncio.timeout(timeout):
            while self.pings < count:
                self._forwarded.clear()
                await self._forwarded.wait()

    def blackhole(self) -> None:
        self._dropping = True

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Proxy]:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        self.port = listener.getsockname()[1]
        accepting = asyncio.create_task(self._accept(listener))
        try:
            yield self
        finally:
            accepting.cancel()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(accepting, *self._tasks, return_exceptions=True)
            for sock in [listener, *self._sockets]:
                sock.close()

    async def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            client, _ = await loop.sock_accept(listener)
            upstream = socket.socket()
            if self.rate is not None:
                # Before connecting, so the window is small from the start: what we have not
                # forwarded stays unacknowledged in the server's kernel, as on a slow link.
                upstream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CHUNK)
            upstream.setblocking(False)
            client.setblocking(False)
            self._sockets += [client, upstream]
            await loop.sock_connect(upstream, ("127.0.0.1", self.target))
            counter = PingCounter()
            self._counters.append(counter)
            for src, dst, down in ((client, upstream, None), (upstream, client, counter)):
                task = asyncio.create_task(self._pump(src, dst, down))
                self._tasks.add(task)

    async def _pump(self, src: socket.socket, dst: socket.socket, down: PingCounter | None) -> None:
        """Forwards src to dst; `down` (towards the client) reads what passes."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                data = await loop.sock_recv(src, CHUNK)
            except OSError:
                data = b""
            if not data:
                if down is not None and down.websocket:
                    self.upstream_closed.set()
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)  # pass the end on; the other pump goes on
                return
            if self._dropping:
                continue  # read, so that the server's hang-up is seen, and never delivered
            if down is not None:
                down.feed(data)
                self._forwarded.set()
            await loop.sock_sendall(dst, data)
            if down is not None and self.rate is not None:
                await asyncio.sleep(len(data) / self.rate)  # the link's pace, not a wait

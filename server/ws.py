"""The WebSocket endpoint: it reads, a writer task sends; where errors become close codes.

Imports starlette; never aiosqlite or uvicorn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from .access import Grant, gate, origin_allowed
from .config import Settings
from .names import name_problem
from .store.base import DocName
from .sync.lib0 import ProtocolError
from .sync.protocol import decode
from .sync.room import Room
from .sync.rooms import Rooms, ShuttingDown

log = logging.getLogger("coedit.ws")

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_UNSUPPORTED = 1003
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL = 1011
CLOSE_TRY_AGAIN = 1013
CLOSE_DELETED = 4404
CLOSE_STALE_EPOCH = 4410
WS_PREFIX = "/ws/"
# How long a close frame and the peer's reply may take before we reset the connection...
CLOSE_TIMEOUT_SECONDS = 10.0
# ...and when the peer is closed for not reading: it has already taken nothing for
# send_stall_seconds, and a reset frees what it holds on both ends.
STALLED_CLOSE_SECONDS = 2.0


def binary_frame(message: bytes) -> bytes:
    """`message` as one unmasked, final binary WebSocket frame (RFC 6455 section 5.2), the way
    a server sends it when no extension was negotiated."""
    size = len(message)
    if size < 126:
        header = struct.pack("!BB", 0x82, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x82, 126, size)
    else:
        header = struct.pack("!BBQ", 0x82, 127, size)
    return header + message


class _LastFrame:
    """The frame of the last message sent directly. A relay hands the same bytes object to every
    peer of a group, so it is framed once for all of them instead of once per peer."""

    __slots__ = ("frame", "message")

    def __init__(self) -> None:
        self.message = b""
        self.frame = binary_frame(b"")

    def of(self, message: bytes) -> bytes:
        # Identity, not equality: comparing would read the bytes. The reference held here keeps
        # the object alive, so no other message can come to share its identity.
        if message is not self.message:
            self.message = message
            self.frame = binary_frame(message)
        return self.frame


_LAST_FRAME = _LastFrame()

# What DirectLink.send did with a message.
REFUSED = 0  # nothing: it would have to wait (or the peer is gone); use the ASGI path
SENT = 1
SENT_FULL = 2  # sent, and the transport's buffer is now over its high-water mark
_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, zero seconds: close() sends a reset


class DirectLink:
    """What the endpoint does beneath the ASGI interface of uvicorn's websockets-sansio
    connections: send without a task, see how much the transport still holds, hang up.

    Its ASGI send is a coroutine that awaits only while the transport is paused; the rest is
    synchronous. Doing that part here, without a task and the ASGI layers per message, halves
    the server's cost per frame when a crowded document relays to every peer; framing each
    relay once for all its peers saves a further tenth. Everything it touches is checked by
    tests against the pinned uvicorn and websockets; any other server gets no link and the
    ASGI path.
    """

    __slots__ = ("_conn", "_opened", "_protocol")

    def __init__(self, protocol: Any) -> None:
        self._protocol = protocol
        self._conn = protocol.conn
        self._opened = type(self._conn.state)["OPEN"]  # websockets' State.OPEN, looked up once

    def send(self, message: bytes) -> int:
        """Write a binary message at once if that needs no waiting: REFUSED, SENT or SENT_FULL."""
        protocol = self._protocol
        conn = self._conn
        transport = protocol.transport
        if (
            protocol.disconnected
            or protocol.close_sent
            or not protocol.writable.is_set()
            or conn.state is not self._opened
            or transport.is_closing()
        ):
            return REFUSED  # the ASGI path waits, or reports the peer gone
        if conn.extensions or conn.writes:
            # Compression negotiated (our server offers none), or frames websockets has queued
            # (uvicorn flushes after each of its own calls): let websockets frame, in order.
            conn.send_binary(message)
            transport.write(b"".join(conn.data_to_send()))
        else:
            transport.write(_LAST_FRAME.of(message))
        # The transport pauses us (clears `writable`) from inside write() past its high-water
        # mark: from then on the peer may be falling behind, and someone must watch it.
        return SENT if protocol.writable.is_set() else SENT_FULL

    def buffered(self) -> int:
        """Bytes written to the transport that the kernel has not taken yet."""
        return int(self._protocol.transport.get_write_buffer_size())

    def abort(self) -> None:
        """Tear the TCP connection down now, unless it is down already.

        A graceful close of the transport waits for its buffer to reach the kernel, and the
        kernel's FIN waits behind what it holds: for a peer that stopped reading, neither ever
        happens, and the socket (with everything buffered for it) would stay open. A reset
        frees both ends at once.
        """
        protocol = self._protocol
        if protocol.disconnected:
            return
        transport = protocol.transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
        transport.abort()


def direct_link(send: Send) -> DirectLink | None:
    """A DirectLink for uvicorn's websockets-sansio connections, else None."""
    found = getattr(send, "__self__", None)
    if found is None or type(found).__name__ != "WebSocketsSansIOProtocol":
        return None
    return DirectLink(found)


class Connection:
    """A Peer backed by a WebSocket: a bounded outbound queue, drained by a writer task that
    exists only while there is something to send (an idle connection holds no task).

    How far behind a peer is: the bytes queued here plus those its transport holds that the
    kernel has not taken (the kernel's own socket buffers, a few MiB, come on top and are not
    counted). A peer that is merely slow (a big paste, a slow link) keeps taking bytes and is
    left alone; one that takes none for `stall_seconds` while more than `budget` bytes wait, or
    that has four budgets queued, is closed with 1013 so that it cannot grow server memory.
    Only a peer that may be behind (something queued, or its transport paused) has a timer
    looking at it; the fast path pays one addition per frame.
    """

    # Thousands of these stay open at once: no per-instance dict, no idle task, a list for a
    # queue (a deque costs 0.8 KB even when empty).
    __slots__ = (
        "_budget",
        "_label",
        "_link",
        "_progress",
        "_progress_at",
        "_queue",
        "_queued_bytes",
        "_sending",
        "_stall_seconds",
        "_stall_timer",
        "_writer",
        "_written",
        "_ws",
        "close_request",
        "grant",
        "on_close",
        "on_done",
    )

    def __init__(
        self,
        websocket: WebSocket,
        label: str,
        budget: int,
        stall_seconds: float,
        link: DirectLink | None = None,
    ) -> None:
        self._ws = websocket
        self._link = link
        self._label = label
        self._budget = budget
        self._stall_seconds = stall_seconds
        self._queue: list[bytes] = []
        self._queued_bytes = 0
        self._writer: asyncio.Task[None] | None = None
        self._sending = False
        # Bytes handed to the transport; less what it still buffers, what the kernel has taken.
        self._written = 0
        # What the kernel had taken when the watch last saw it take more, and when.
        self._progress = 0
        self._progress_at = 0.0
        self._stall_timer: asyncio.TimerHandle | None = None
        self.close_request: tuple[int, str] | None = None
        # Called once a close has been decided (leave the room now, not after the handshake).
        self.on_close: Callable[[], None] | None = None
        # Called when nothing more can be sent: our close frame went out, or the peer is gone.
        self.on_done: Callable[[], None] | None = None
        # What this connection's role rests on, so that revoking it can find the connection.
        self.grant: Grant | None = None

    @property
    def label(self) -> str:
        return self._label

    @property
    def writer(self) -> asyncio.Task[None] | None:
        """The task sending right now, if any."""
        return self._writer

    def behind(self) -> int:
        """Bytes waiting for this peer that the kernel has not taken."""
        link = self._link
        return self._queued_bytes + (link.buffered() if link is not None else 0)

    def send(self, frame: bytes) -> None:
        if self.close_request is not None:
            return
        link = self._link
        if self._writer is None and link is not None:
            sent = link.send(frame)
            if sent:
                self._written += len(frame)
                if sent == SENT_FULL and self._stall_timer is None:
                    self._watch()
                return
        self._queue.append(frame)
        self._queued_bytes += len(frame)
        # Only the queue counts here: it is what more relays would grow. A big frame already
        # in the transport (a large document's sync step 2) costs nothing more by waiting, and
        # a client on a slow link that is taking it must not be refused on every connect.
        if self._queued_bytes > 4 * self._budget:
            self._close_behind(self.behind(), "too far behind")
            return
        if self._stall_timer is None:
            self._watch()
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain())

    def close(self, code: int, reason: str) -> None:
        if self.close_request is not None:
            return
        self.close_request = (code, reason)
        self._queue = []
        self._queued_bytes = 0
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain())
        elif self._sending:
            # A peer that stopped reading blocks our send; stop waiting so the close can go out.
            self._writer.cancel()
        if self.on_close is not None:
            asyncio.get_running_loop().call_soon(self.on_close)

    def stop(self) -> None:
        """The connection has ended: drop what waits for it, stop watching it."""
        self._queue = []
        self._queued_bytes = 0
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None

    def _close_behind(self, behind: int, why: str, idle: float | None = None) -> None:
        taken = "" if idle is None else f", nothing taken for {idle:.1f} s"
        log.info("closing %s: %s, %d bytes behind%s", self._label, why, behind, taken)
        self.close(CLOSE_TRY_AGAIN, f"client {why}, reconnect")

    def _watch(self) -> None:
        """Look at this peer a few times per `stall_seconds` while it may be behind."""
        loop = asyncio.get_running_loop()
        self._progress = self._written - (self._link.buffered() if self._link else 0)
        self._progress_at = loop.time()
        self._stall_timer = loop.call_later(self._watch_interval(), self._check_stall)

    def _watch_interval(self) -> float:
        return max(self._stall_seconds / 4, 0.01)

    def _check_stall(self) -> None:
        self._stall_timer = None
        if self.close_request is not None:
            return
        buffered = self._link.buffered() if self._link is not None else 0
        behind = self._queued_bytes + buffered
        loop = asyncio.get_running_loop()
        now = loop.time()
        taken = self._written - buffered
        if taken > self._progress or behind <= self._budget:
            self._progress = taken
            self._progress_at = now
        else:
            # `taken` also falls without the peer doing anything: frame headers, and pings
            # and close frames uvicorn writes itself, count in the buffer but not in _written.
            self._progress = taken
            if now - self._progress_at >= self._stall_seconds:
                self._close_behind(behind, "stopped reading", now - self._progress_at)
                return
        if self._queued_bytes == 0 and buffered <= self._budget:
            # Caught up (or nearly): the next frame that has to wait starts a new watch.
            return
        self._stall_timer = loop.call_later(self._watch_interval(), self._check_stall)

    async def _drain(self) -> None:
        """Send what is queued, in order; once a close is requested, send the close frame."""
        try:
            while self._queue and self.close_request is None:
                batch, self._queue = self._queue, []
                for frame in batch:
                    if self.close_request is not None:
                        break
                    await self._send(frame)
            if self.close_request is not None:
                await self._send_close(*self.close_request)
                self._done()
        except (TimeoutError, WebSocketDisconnect, OSError, RuntimeError) as exc:
            # The peer vanished or stalled: there is nobody left to send to.
            log.debug("stopped sending to %s: %r", self._label, exc)
            self._hang_up()
        except Exception:
            log.exception("sending to %s failed; dropping the connection", self._label)
            self._hang_up()
        finally:
            self._writer = None

    async def _send_close(self, code: int, reason: str) -> None:
        """The close frame, and the end of the TCP connection, within a deadline.

        A peer that resumes reading in time still learns why it was closed. One that does not
        never takes the close frame (it waits behind everything unread), and would hold the
        socket open: past the deadline it is reset instead.
        """
        grace = STALLED_CLOSE_SECONDS if code == CLOSE_TRY_AGAIN else CLOSE_TIMEOUT_SECONDS
        link = self._link
        if link is not None:
            # Our close frame and the peer's reply, not just our send, must fit in the grace.
            asyncio.get_running_loop().call_later(grace, link.abort)
        async with asyncio.timeout(grace):
            await self._ws.close(code, reason)

    async def _send(self, frame: bytes) -> None:
        self._sending = True
        try:
            await self._ws.send_bytes(frame)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self.close_request is None or task is None:
                raise
            task.uncancel()  # cancelled by close(): go on to the close frame
        finally:
            self._sending = False
        if self.close_request is None:
            self._queued_bytes -= len(frame)
            self._written += len(frame)

    def _hang_up(self) -> None:
        self._queue = []
        if self._link is not None:
            self._link.abort()
        self._done()

    def _done(self) -> None:
        if self.on_done is not None:
            self.on_done()


async def endpoint(websocket: WebSocket, link: DirectLink | None = None) -> None:
    rooms: Rooms = websocket.app.state.rooms
    settings: Settings = websocket.app.state.settings
    name: str = websocket.path_params["name"]
    client = websocket.client
    label = f"{client.host}:{client.port}" if client else "unknown"
    if not origin_allowed(websocket, settings):
        log.info("refused %s: cross-site origin %r", label, websocket.headers.get("origin"))
        await websocket.close(CLOSE_POLICY)  # before accept: the client gets HTTP 403
        return
    problem = name_problem(name)
    if problem is not None:
        await websocket.accept()
        log.info("refused %s: %s", label, problem)
        await websocket.close(CLOSE_POLICY, problem)
        return
    grant = await admit(websocket, rooms, DocName(name))
    if grant is None:
        await websocket.close(CLOSE_POLICY)  # before accept: refused at the handshake (403)
        return
    await websocket.accept()
    stale = await stale_epoch(websocket, rooms, DocName(name))
    if stale is not None:
        log.info("refused %s on %r: %s", label, name, stale[1])
        await websocket.close(*stale)
        return
    conn = Connection(
        websocket, label, settings.send_buffer_bytes, settings.send_stall_seconds, link
    )
    conn.grant = grant
    try:
        room = await rooms.join(DocName(name), conn, grant.role or "viewer", grant.stamp())
    except ShuttingDown as exc:
        conn.close(CLOSE_GOING_AWAY, str(exc))
        await _finish(conn)
        return
    except Exception:
        log.exception("could not load %r for %s", name, label)
        conn.close(CLOSE_INTERNAL, "could not load the document")
        await _finish(conn)
        return
    # Leave the room as soon as a close is decided, not when the close handshake ends.
    conn.on_close = lambda: room.leave(conn)
    log.info("connect %s to %r (%d peers)", label, name, len(room.peers))
    # This task reads (no reader task: with thousands of connections each task shows). Once
    # nothing more can be sent (our close frame went out, or the peer is gone), reading stops.
    me = asyncio.current_task()
    reading = True  # until the read loop ends, or stop_reading cancels it

    def stop_reading() -> None:
        nonlocal reading
        if reading and me is not None:
            reading = False
            me.cancel()

    conn.on_done = stop_reading
    try:
        await _read_loop(websocket, conn, room, settings)
    except asyncio.CancelledError:
        if me is None or reading or me.uncancel() > 0:
            raise  # cancelled from outside, not by stop_reading
    finally:
        reading = False
        rooms.leave(room, conn)
        conn.stop()
        writer = conn.writer
        if writer is not None:
            if conn.close_request is not None:
                # We are the side closing: let the writer deliver the close frame, within its
                # timeout.
                await _finish(conn)
            else:
                writer.cancel()
                await asyncio.gather(writer, return_exceptions=True)
        code = conn.close_request[0] if conn.close_request else "client"
        log.info("disconnect %s from %r (close %s)", label, name, code)


async def admit(websocket: WebSocket, rooms: Rooms, name: DocName) -> Grant | None:
    """The connection's grant, creating the document for a signed-in user; None: refused."""
    keeper = gate(websocket)
    grant = await keeper.grant(websocket, name)
    if grant.role is None and not grant.exists and grant.user is not None:
        await rooms.store.ensure(name)
        await keeper.created(websocket, name)
        grant = await keeper.grant(websocket, name)
    if grant.role is None:
        log.info("refused a connection to %r: %s", name, grant.refusal[1])
        return None
    return grant


async def stale_epoch(websocket: WebSocket, rooms: Rooms, name: DocName) -> tuple[int, str] | None:
    """A client that names the epoch of its local copy must not merge it into another epoch."""
    epoch = websocket.query_params.get("epoch")
    if not epoch:
        return None
    info = await rooms.store.info(name)
    if info is None:
        return CLOSE_DELETED, "document deleted; discard the local copy"
    if info.epoch != epoch:
        return CLOSE_STALE_EPOCH, "document was deleted and re-created; discard the local copy"
    return None


async def _read_loop(
    websocket: WebSocket, conn: Connection, room: Room, settings: Settings
) -> None:
    try:
        while conn.close_request is None:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            if data is None:
                conn.close(CLOSE_UNSUPPORTED, "y-websocket frames are binary; text is not accepted")
                return
            if len(data) > settings.max_message_bytes:
                conn.close(CLOSE_TOO_BIG, f"frame exceeds {settings.max_message_bytes} bytes")
                return
            room.receive(conn, decode(data))
    except ProtocolError as exc:
        log.info("closing %s on %r: %s (%d)", conn.label, room.name, exc.reason, exc.code)
        conn.close(exc.code, exc.reason)
    except WebSocketDisconnect:
        return
    except (KeyboardInterrupt, SystemExit, asyncio.CancelledError):
        raise
    except BaseException:  # pycrdt panics derive from BaseException, not Exception
        log.exception("internal error handling a frame from %s on %r", conn.label, room.name)
        conn.close(CLOSE_INTERNAL, "internal error")


async def _finish(conn: Connection) -> None:
    """Wait until the close frame is out (the writer bounds that wait itself)."""
    writer = conn.writer
    if writer is not None:
        await asyncio.gather(writer, return_exceptions=True)


class DirectWebSockets:
    """Hands a WebSocket for /ws/<name> straight to `endpoint`, past routing and the other
    middleware: each layer stays suspended for the connection's whole life, and with thousands
    of open documents those ten coroutines per connection cost more memory than the document."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):  # behind a proxy prefix, as Starlette's routing does
            path = path[len(root) :]
        if scope["type"] == "websocket" and path.startswith(WS_PREFIX):
            scope["path_params"] = {"name": path[len(WS_PREFIX) :]}
            await endpoint(WebSocket(scope, receive, send), direct_link(send))
            return
        await self.app(scope, receive, send)

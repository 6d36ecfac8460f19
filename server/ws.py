"""The WebSocket endpoint: it reads, a writer task sends; where errors become close codes.

Imports starlette; never aiosqlite or uvicorn.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from .access import Grant, gate, origin_allowed
from .config import Settings
from .names import name_problem
from .protocol import ProtocolError, decode
from .room import Room
from .rooms import Rooms, ShuttingDown
from .store.base import DocName

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
# How long a close frame may wait behind a peer that is not reading before we drop the peer.
CLOSE_TIMEOUT_SECONDS = 10.0


# Sends a binary message at once if that needs no waiting; False when it would have to wait.
DirectSend = Callable[[bytes], bool]


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


def direct_sender(send: Send) -> DirectSend | None:
    """A synchronous send for uvicorn's websockets-sansio connections, else None.

    Its ASGI send is a coroutine that awaits only while the transport is paused; the rest is
    synchronous. Doing that part here, without a task and the ASGI layers per message, halves
    the server's cost per frame when a crowded document relays to every peer; framing each
    relay once for all its peers saves a further tenth. Everything it touches is checked by
    tests against the pinned uvicorn and websockets; any other server gets None and the ASGI
    path.
    """
    found = getattr(send, "__self__", None)
    if found is None or type(found).__name__ != "WebSocketsSansIOProtocol":
        return None
    protocol: Any = found
    conn = protocol.conn
    opened = type(conn.state)["OPEN"]  # websockets' State.OPEN, looked up once

    def send_now(message: bytes) -> bool:
        transport = protocol.transport
        if (
            protocol.disconnected
            or protocol.close_sent
            or not protocol.writable.is_set()
            or conn.state is not opened
            or transport.is_closing()
        ):
            return False  # the ASGI path waits, or reports the peer gone
        if conn.extensions or conn.writes:
            # Compression negotiated (our server offers none), or frames websockets has queued
            # (uvicorn flushes after each of its own calls): let websockets frame, in order.
            conn.send_binary(message)
            transport.write(b"".join(conn.data_to_send()))
        else:
            transport.write(_LAST_FRAME.of(message))
        return True

    return send_now


class Connection:
    """A Peer backed by a WebSocket: a bounded outbound queue, drained by a writer task that
    exists only while there is something to send (an idle connection holds no task).

    A peer that is merely slow (a big paste, a slow link) keeps draining and is left alone; one
    that makes no progress for `stall_seconds` while more than `budget` bytes wait, or that falls
    four budgets behind, is closed with 1013 so that it cannot grow server memory.
    """

    # Thousands of these stay open at once: no per-instance dict, no idle task, a list for a
    # queue (a deque costs 0.8 KB even when empty).
    __slots__ = (
        "_budget",
        "_direct",
        "_label",
        "_queue",
        "_queued_bytes",
        "_sending",
        "_sent",
        "_stall_seconds",
        "_stall_timer",
        "_writer",
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
        direct: DirectSend | None = None,
    ) -> None:
        self._ws = websocket
        self._direct = direct
        self._label = label
        self._budget = budget
        self._stall_seconds = stall_seconds
        self._queue: list[bytes] = []
        self._queued_bytes = 0
        self._writer: asyncio.Task[None] | None = None
        self._sending = False
        self._sent = 0
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

    def send(self, frame: bytes) -> None:
        if self.close_request is not None:
            return
        if self._writer is None and self._direct is not None and self._direct(frame):
            self._sent += 1
            return
        self._queue.append(frame)
        self._queued_bytes += len(frame)
        if self._queued_bytes > 4 * self._budget:
            self.close(CLOSE_TRY_AGAIN, "client is too far behind, reconnect")
            return
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
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain())
        elif self._sending:
            # A peer that stopped reading blocks our send; stop waiting so the close can go out.
            self._writer.cancel()
        if self.on_close is not None:
            asyncio.get_running_loop().call_soon(self.on_close)

    def _watch_for_stall(self) -> None:
        if self._queued_bytes <= self._budget:
            if self._stall_timer is not None:
                self._stall_timer.cancel()
                self._stall_timer = None
        elif self._stall_timer is None:
            sent = self._sent
            self._stall_timer = asyncio.get_running_loop().call_later(
                self._stall_seconds, self._check_stall, sent
            )

    def _check_stall(self, sent_before: int) -> None:
        self._stall_timer = None
        if self._sent == sent_before and self._queued_bytes > self._budget:
            self.close(CLOSE_TRY_AGAIN, "client stopped reading, reconnect")
        else:
            self._watch_for_stall()

    async def _drain(self) -> None:
        """Send what is queued, in order; once a close is requested, send the close frame."""
        try:
            while self._queue and self.close_request is None:
                batch, self._queue = self._queue, []
                for frame in batch:
                    if self.close_request is not None:
                        break
                    if self._queued_bytes > self._budget or self._stall_timer is not None:
                        self._watch_for_stall()
                    await self._send(frame)
            if self.close_request is not None:
                # A peer that resumes reading within the timeout still learns why it was closed.
                async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
                    await self._ws.close(*self.close_request)
                self._done()
        except (TimeoutError, WebSocketDisconnect, OSError, RuntimeError) as exc:
            # The peer vanished or stalled: there is nobody left to send to.
            log.debug("stopped sending to %s: %r", self._label, exc)
            self._queue = []
            self._done()
        except Exception:
            log.exception("sending to %s failed; dropping the connection", self._label)
            self._queue = []
            self._done()
        finally:
            self._writer = None

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
            self._sent += 1

    def _done(self) -> None:
        if self.on_done is not None:
            self.on_done()


async def endpoint(websocket: WebSocket, direct: DirectSend | None = None) -> None:
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
        websocket, label, settings.send_buffer_bytes, settings.send_stall_seconds, direct
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
            await endpoint(WebSocket(scope, receive, send), direct_sender(send))
            return
        await self.app(scope, receive, send)

"""The WebSocket endpoint: a reader and a writer task per peer; where errors become close codes.

Imports starlette; never aiosqlite or uvicorn.
"""

from __future__ import annotations

import asyncio
import logging
import unicodedata
from collections import deque

from starlette.websockets import WebSocket, WebSocketDisconnect

from .config import Settings
from .protocol import ProtocolError, decode
from .room import Room
from .rooms import Rooms
from .store.base import DocName

log = logging.getLogger("coedit.ws")

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_UNSUPPORTED = 1003
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL = 1011
CLOSE_TRY_AGAIN = 1013
MAX_NAME_BYTES = 512
# A peer that has not acknowledged our close frame by then is dropped anyway.
CLOSE_TIMEOUT_SECONDS = 2.0


def name_problem(name: str) -> str | None:
    """Why a document name is refused, or None when it is acceptable."""
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "document name is not valid UTF-8"
    if size == 0:
        return "document name is empty"
    if size > MAX_NAME_BYTES:
        return f"document name is longer than {MAX_NAME_BYTES} UTF-8 bytes"
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        return "document name contains control characters"
    return None


class Connection:
    """A Peer backed by a WebSocket: a bounded outbound queue drained by one writer task."""

    def __init__(self, websocket: WebSocket, label: str, send_buffer_bytes: int) -> None:
        self._ws = websocket
        self._label = label
        self._budget = send_buffer_bytes
        self._queue: deque[bytes] = deque()
        self._queued_bytes = 0
        self._wake = asyncio.Event()
        self.close_request: tuple[int, str] | None = None

    @property
    def label(self) -> str:
        return self._label

    def send(self, frame: bytes) -> None:
        if self.close_request is not None:
            return
        if self._queued_bytes + len(frame) > self._budget:
            self.close(CLOSE_TRY_AGAIN, "client is too far behind, reconnect")
            return
        self._queue.append(frame)
        self._queued_bytes += len(frame)
        self._wake.set()

    def close(self, code: int, reason: str) -> None:
        if self.close_request is None:
            self.close_request = (code, reason)
            self._queue.clear()
            self._queued_bytes = 0
            self._wake.set()

    async def write_loop(self) -> None:
        """Send queued frames in order until a close is requested, then send the close frame."""
        while self.close_request is None:
            await self._wake.wait()
            self._wake.clear()
            while self._queue and self.close_request is None:
                frame = self._queue.popleft()
                self._queued_bytes -= len(frame)
                await self._ws.send_bytes(frame)
        code, reason = self.close_request
        async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
            await self._ws.close(code, reason)


async def endpoint(websocket: WebSocket) -> None:
    rooms: Rooms = websocket.app.state.rooms
    settings: Settings = websocket.app.state.settings
    name: str = websocket.path_params["name"]
    client = websocket.client
    label = f"{client.host}:{client.port}" if client else "unknown"
    await websocket.accept()
    problem = name_problem(name)
    if problem is not None:
        log.info("refused %s: %s", label, problem)
        await websocket.close(CLOSE_POLICY, problem)
        return
    conn = Connection(websocket, label, settings.send_buffer_bytes)
    writer = asyncio.create_task(conn.write_loop(), name=f"writer {label}")
    try:
        room = await rooms.join(DocName(name), conn)
    except RuntimeError as exc:
        conn.close(CLOSE_GOING_AWAY, str(exc))
        await _finish(writer)
        return
    except Exception:
        log.exception("could not load %r for %s", name, label)
        conn.close(CLOSE_INTERNAL, "could not load the document")
        await _finish(writer)
        return
    log.info("connect %s to %r (%d peers)", label, name, len(room.peers))
    reader = asyncio.create_task(
        _read_loop(websocket, conn, room, settings), name=f"reader {label}"
    )
    try:
        await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        rooms.leave(room, conn)
        if reader.done() and conn.close_request is not None:
            # We are the side closing: let the writer deliver the close frame, within its timeout.
            await _finish(writer)
        else:
            writer.cancel()
        reader.cancel()
        await asyncio.gather(reader, writer, return_exceptions=True)
        _raise_unexpected(writer, label)
        code = conn.close_request[0] if conn.close_request else "client"
        log.info("disconnect %s from %r (close %s)", label, name, code)


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


async def _finish(writer: asyncio.Task[None]) -> None:
    try:
        await writer
    except (TimeoutError, WebSocketDisconnect, OSError, RuntimeError) as exc:
        # The peer vanished or stalled while we closed; there is nobody left to tell.
        log.debug("close handshake not completed: %r", exc)


def _raise_unexpected(writer: asyncio.Task[None], label: str) -> None:
    if writer.cancelled() or writer.exception() is None:
        return
    exc = writer.exception()
    if isinstance(exc, (TimeoutError, WebSocketDisconnect, OSError, RuntimeError)):
        log.debug("writer for %s ended: %r", label, exc)
        return
    log.error("writer for %s failed", label, exc_info=exc)

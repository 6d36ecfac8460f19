"""The WebSocket endpoint: the handshake (origin, name, grant, epoch), the read loop, and the
one place errors become close codes. The peer it joins to the room is a `connection.Connection`.

Imports starlette; never aiosqlite or uvicorn.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from .access import Grant, gate, origin_allowed
from .closecodes import Close
from .comments.guard import actor_for, writer_of
from .config import Settings
from .connection import Connection
from .content.schema import SCHEMA_VERSION
from .fastsend import DirectLink, direct_link
from .names import name_problem
from .store.base import DocName, DocumentTrashed, StoreError, comments_name
from .sync.lib0 import ProtocolError
from .sync.protocol import decode
from .sync.room import Room
from .sync.rooms import Rooms, ShuttingDown

__all__ = ["WS_PREFIX", "DirectWebSockets", "endpoint"]

log = logging.getLogger("coedit.ws")

WS_PREFIX = "/ws/"


async def endpoint(websocket: WebSocket, link: DirectLink | None = None) -> None:
    rooms: Rooms = websocket.app.state.rooms
    settings: Settings = websocket.app.state.settings
    name: str = websocket.path_params["name"]
    client = websocket.client
    label = f"{client.host}:{client.port}" if client else "unknown"
    if not origin_allowed(websocket, settings):
        log.info("refused %s: cross-site origin %r", label, websocket.headers.get("origin"))
        await websocket.close(Close.POLICY)  # before accept: the client gets HTTP 403
        return
    problem = name_problem(name)
    if problem is not None:
        await websocket.accept()
        log.info("refused %s: %s", label, problem)
        await websocket.close(Close.POLICY, problem)
        return
    grant = await admit(websocket, rooms, DocName(name))
    if grant is None:
        await websocket.close(Close.POLICY)  # before accept: refused at the handshake (403)
        return
    await websocket.accept()
    outdated = outdated_schema(websocket)
    if outdated is not None:
        log.info("refused %s on %r: %s", label, name, outdated[1])
        await websocket.close(*outdated)
        return
    stale = await stale_epoch(websocket, rooms, DocName(name))
    if stale is not None:
        log.info("refused %s on %r: %s", label, name, stale[1])
        await websocket.close(*stale)
        return
    conn = Connection(
        websocket, label, settings.send_buffer_bytes, settings.send_stall_seconds, link
    )
    conn.grant = grant
    # `?comments=1`: the document's comments, a document of their own (see comments/).
    commenting = websocket.query_params.get("comments") == "1"
    room_name = comments_name(DocName(name)) if commenting else DocName(name)
    role = grant.role or "viewer"
    author_key = websocket.query_params.get("author_key")
    actor = actor_for(role, grant.user, grant.display_name, author_key) if commenting else None
    writes_for = writer_of(author_key)
    try:
        if commenting:
            # Comments hang off their document, which a first connection creates as usual.
            await rooms.store.ensure(DocName(name))
        room = await rooms.join(room_name, conn, role, grant.stamp(), actor, writes_for)
    except ShuttingDown as exc:
        conn.close(Close.GOING_AWAY, str(exc))
        await _finish(conn)
        return
    except DocumentTrashed:
        conn.close(Close.DELETED, "the document is in the trash")
        await _finish(conn)
        return
    except StoreError as exc:
        log.warning("could not load %r for %s: %s", name, label, exc)
        conn.close(Close.TRY_AGAIN, "storage unavailable, try again later")
        await _finish(conn)
        return
    except Exception:
        log.exception("could not load %r for %s", name, label)
        conn.close(Close.INTERNAL, "could not load the document")
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


def outdated_schema(websocket: WebSocket) -> tuple[int, str] | None:
    """A page announcing (`?schema=N`) an editor schema older than ours must not sync: its
    ProseMirror binding drops the nodes it does not know and would write that loss back.
    A client that announces nothing (a stock Yjs client, a page older than this check) syncs."""
    announced = websocket.query_params.get("schema")
    if announced is None:
        return None
    if not (announced.isascii() and announced.isdigit() and len(announced) <= 6):
        return Close.POLICY, "schema must be a whole number"
    if int(announced) < SCHEMA_VERSION:
        return Close.SCHEMA_OUTDATED, f"editor schema {announced} < {SCHEMA_VERSION}; reload"
    return None


async def stale_epoch(websocket: WebSocket, rooms: Rooms, name: DocName) -> tuple[int, str] | None:
    """A client that names the epoch of its local copy must not merge it into another epoch."""
    epoch = websocket.query_params.get("epoch")
    if not epoch:
        return None
    info = await rooms.store.info(name)
    if info is None:
        return Close.DELETED, "document deleted; discard the local copy"
    if info.epoch != epoch:
        return Close.STALE_EPOCH, "document was deleted and re-created; discard the local copy"
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
                conn.close(Close.UNSUPPORTED, "y-websocket frames are binary; text is not accepted")
                return
            if len(data) > settings.max_message_bytes:
                conn.close(Close.TOO_BIG, f"frame exceeds {settings.max_message_bytes} bytes")
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
        conn.close(Close.INTERNAL, "internal error")


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

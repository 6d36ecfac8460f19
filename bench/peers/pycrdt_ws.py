"""Benchmark peer: pycrdt-websocket with its SQLite store (pycrdt-store), served by uvicorn.

Runs in its own virtual environment (bench/peers/.venv, from bench/peers/requirements.txt),
never in the project's: ``bench/peers/.venv/bin/python bench/peers/pycrdt_ws.py --port 0 --db
FILE``. Prints ``peer pycrdt-ws listening on http://HOST:PORT`` when ready; SIGTERM stops it
cleanly (exit 0) after every update reached SQLite. GET /healthz answers ``{"rooms": N}``.

pycrdt-websocket 0.16 gives the pieces but no stored server: ``WebsocketServer.get_room`` makes
rooms without a store. The glue here, and nothing more, is what an application has to write:

* each room gets a ``SQLiteYStore`` (one database file, one row per update, the package's default
  checkpoint every 100 updates) and the stored updates are applied to the room's document
  *before* the room is marked ready, i.e. before any client syncs with it or any update of it is
  broadcast or stored; a second client of a room that is still loading waits for it;
* ``YRoom`` writes each update in its own task, and stopping a room cancels them, so an empty room
  is unloaded (the package's ``auto_clean_rooms`` behaviour) only once its store wrote everything;
* the database is created once before the server listens. Each room's store initialises the
  schema by itself, without any lock shared between rooms, so rooms opened together on a fresh
  file fail with "table yupdates already exists" or "no such table: ycheckpoints";
* a send to a client that has just disconnected is dropped, as Jupyter's collaboration server
  does in its WebSocket handler. Unwrapped, uvicorn's ``ClientDisconnected`` escapes from the
  broadcast task into the room's task group, which restarts the room and cancels the store writes
  still pending in it: a writer that closes its socket right after sending 200 updates left 1 of
  them in SQLite.

Everything else - the sync and awareness protocol, broadcasting, the ASGI adapter, the store's
schema and transactions - is the package's code, as installed.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio
import uvicorn
from uvicorn.protocols.utils import ClientDisconnected

try:
    # Installed only in bench/peers/.venv; mypy runs in the project's environment.
    from pycrdt.store import (  # type: ignore[import-not-found,import-untyped,unused-ignore]
        SQLiteYStore,
        YDocNotFound,
    )
    from pycrdt.websocket import (  # type: ignore[import-not-found,import-untyped,unused-ignore]
        ASGIServer,
        WebsocketServer,
        YRoom,
        exception_logger,
    )
except ImportError:  # pragma: no cover - only in the project's own environment (lint, mypy)
    SQLiteYStore = YDocNotFound = ASGIServer = WebsocketServer = YRoom = exception_logger = None

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

log = logging.getLogger("pycrdt-ws-peer")
FLUSH_TIMEOUT_S = 60.0


async def _counted_write(self: Any, data: bytes) -> None:
    """SQLiteYStore.write, counting the writes in progress (see ``Rooms.unload``)."""
    self.bench_pending += 1
    try:
        await SQLiteYStore.write(self, data)
    finally:
        self.bench_pending -= 1


def store_class(db: str) -> Any:
    """``SQLiteYStore`` pointed at ``db`` the documented way (a subclass setting ``db_path``)."""
    return type(
        "BenchSQLiteYStore",
        (SQLiteYStore,),
        {"db_path": db, "bench_pending": 0, "write": _counted_write},
    )


class QuietChannel:
    """The package's ASGI WebSocket channel, dropping what is sent to a client that is gone."""

    def __init__(self, websocket: Any) -> None:
        self._websocket = websocket
        self.dropped = 0

    @property
    def path(self) -> str:
        return str(self._websocket.path)

    def __aiter__(self) -> QuietChannel:
        return self

    async def __anext__(self) -> bytes:
        return await self.recv()

    async def recv(self) -> bytes:
        message: bytes = await self._websocket.__anext__()
        return message

    async def send(self, message: bytes) -> None:
        try:
            await self._websocket.send(message)
        except (ClientDisconnected, OSError):
            self.dropped += 1


class Rooms:
    """What ``ASGIServer`` calls ``serve`` on: rooms with a store each, in ``WebsocketServer``'s
    task group."""

    def __init__(self, server: Any, store_cls: Any) -> None:
        self.server = server
        self.store_cls = store_cls
        self.rooms: dict[str, Any] = {}
        self.loading: dict[str, anyio.Event] = {}

    async def get_room(self, name: str) -> Any:
        while name in self.loading:
            await self.loading[name].wait()
        room = self.rooms.get(name)
        if room is not None:
            return room
        done = self.loading[name] = anyio.Event()
        try:
            store = self.store_cls(path=name, log=log)
            room = YRoom(ready=False, ystore=store, exception_handler=exception_logger, log=log)
            # Starts the room's tasks, among them the one that starts its store.
            await self.server.start_room(room)
            await store.started.wait()
            try:
                await store.apply_updates(room.ydoc)
            except YDocNotFound:
                pass
            room.ready = True
            self.rooms[name] = room
            return room
        finally:
            del self.loading[name]
            done.set()

    async def serve(self, websocket: Any) -> None:
        name = websocket.path
        try:
            room = await self.get_room(name)
        except Exception:
            log.exception("cannot open room %r", name)
            return
        try:
            await room.serve(QuietChannel(websocket))
        finally:
            if not room.clients:
                await self.unload(name, room)

    @staticmethod
    def _busy(room: Any) -> bool:
        stream = getattr(room, "_update_receive_stream", None)
        queued = stream.statistics().current_buffer_used if stream is not None else 0
        return bool(queued or room.ystore.bench_pending)

    async def unload(self, name: str, room: Any) -> None:
        """Stop an empty room once its store has written every update it was given."""
        with anyio.move_on_after(FLUSH_TIMEOUT_S) as scope:
            while True:
                await anyio.sleep(0.05)
                if not self._busy(room):
                    break
        if scope.cancelled_caught:
            log.warning(
                "room %r: store still busy after %s s; stopping anyway", name, FLUSH_TIMEOUT_S
            )
        if room.clients or name not in self.rooms or self.rooms[name] is not room:
            return  # somebody joined meanwhile, or another unload already did it
        del self.rooms[name]
        await room.ystore.stop()
        await room.stop()

    async def close(self) -> None:
        for name, room in list(self.rooms.items()):
            await self.unload(name, room)


def make_app(asgi: Any, rooms: Rooms) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            found = scope["path"] == "/healthz"
            body = json.dumps({"rooms": len(rooms.rooms)} if found else {"error": "not found"})
            await send(
                {
                    "type": "http.response.start",
                    "status": 200 if found else 404,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body.encode()})
            return
        await asgi(scope, receive, send)

    return app


class _Server(uvicorn.Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        for server in self.servers:
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                print(f"peer pycrdt-ws listening on http://{host}:{port}", flush=True)

    def handle_exit(self, sig: int, frame: Any) -> None:
        super().handle_exit(sig, frame)
        # uvicorn re-raises the signal after its shutdown; a graceful stop exits 0.
        self._captured_signals.clear()


async def create_schema(store_cls: Any) -> None:
    """Let one store create the database (see the module docstring), then close it."""
    async with store_cls(path="", log=log) as store:
        await store.db_initialized.wait()


async def main(host: str, port: int, db: str) -> None:
    store_cls = store_class(db)
    await create_schema(store_cls)
    async with WebsocketServer(
        auto_clean_rooms=False, exception_handler=exception_logger, log=log
    ) as websocket_server:
        rooms = Rooms(websocket_server, store_cls)
        config = uvicorn.Config(
            make_app(ASGIServer(rooms), rooms),
            host=host,
            port=port,
            # As Coedit's server: the same uvicorn, WebSocket implementation and settings.
            ws="websockets-sansio",
            ws_per_message_deflate=False,
            access_log=False,
            lifespan="off",
            log_level="warning",
            timeout_graceful_shutdown=10,
        )
        server = _Server(config)
        await server.serve()
        await rooms.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--db", required=True, help="SQLite file of the store")
    args = parser.parse_args()
    if SQLiteYStore is None:
        sys.exit("pycrdt-websocket is not installed: run with bench/peers/.venv/bin/python")
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    anyio.run(main, args.host, args.port, args.db, backend_options={"use_uvloop": True})

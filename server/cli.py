"""Command line: parses flags into Settings and runs uvicorn; the only module importing uvicorn."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from . import content, memory
from .app import create_app
from .config import Settings, SettingsError
from .http.docs import new_doc_name
from .keepalive import WebSocketProtocol
from .store.base import DocName, StoreError
from .store.open import open_store
from .store.postgres import PostgresStore
from .sync.rooms import Rooms

log = logging.getLogger("coedit")
SETTINGS_FIELDS = frozenset(f.name for f in dataclasses.fields(Settings))


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol, minus the garbage each WebSocket leaves, and with an answer for
    each handshake websockets refuses (see `_answer_refused_handshake`).

    After an upgrade the connection belongs to the WebSocket protocol, and this object lives on
    only in a reference cycle with its parser, which uvicorn breaks in connection_lost, never
    called on an upgraded connection. Left to the garbage collector, that is 2.7 KB per client
    (5 MB for 2,000) until a full collection, which `memory.settle` makes rare.
    """

    def handle_websocket_upgrade(self) -> None:
        super().handle_websocket_upgrade()
        self.parser = None  # type: ignore[assignment]
        protocol: Any = self.transport.get_protocol()
        _answer_refused_handshake(protocol)


def _answer_refused_handshake(protocol: Any) -> None:
    """Send the answer websockets wrote for a handshake it refused itself, and hang up.

    httptools takes any request line and header size; websockets then refuses a request line or
    header line over 8 KiB (414, 431), more than 128 headers (431), or a request it cannot parse.
    It only queues that response: uvicorn writes what websockets queued after a request or
    frame it received, and a refusal is neither, so the client waited for its own timeout.
    """
    conn: Any = getattr(protocol, "conn", None)
    if (
        conn is None
        or getattr(protocol, "handshake_initiated", True)
        or getattr(conn, "handshake_exc", None) is None
    ):
        return
    transport: asyncio.Transport = protocol.transport
    answer = b"".join(conn.data_to_send())
    if not answer:  # a request websockets could not parse: it queued nothing to say
        body = b"Failed to open a WebSocket connection: invalid HTTP request.\n"
        answer = (
            b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
        )
    log.info("refused a WebSocket handshake: %s", conn.handshake_exc)
    transport.write(answer)
    transport.close()


class _Server(uvicorn.Server):
    """uvicorn closes open WebSockets with 1012; we first close them ourselves with 1001."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        for server in self.servers:
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                # Tests and scripts wait for this line to learn the port when started with --port 0.
                print(f"coedit listening on http://{host}:{port}", file=sys.stderr, flush=True)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._drain = sig == signal.SIGTERM and not self.should_exit
        super().handle_exit(sig, frame)
        # uvicorn re-raises the signal after shutting down; a graceful stop should exit 0.
        self._captured_signals.clear()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        app = self.config.app
        rooms: Rooms | None = getattr(getattr(app, "state", None), "rooms", None)
        settings: Settings = self.config.app.state.settings  # type: ignore[union-attr]
        if rooms is not None and getattr(self, "_drain", False) and settings.store:
            # Several instances behind a load balancer: hand the clients over gently.
            await rooms.drain(settings.drain_delay_seconds, settings.drain_spread_seconds)
        if rooms is not None:
            await rooms.close_gracefully()
        await super().shutdown(sockets)


STORE_HELP = (
    "PostgreSQL address postgresql://USER@HOST:PORT/DB (COEDIT_STORE; default: SQLite at --db)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coedit", description="Coedit collaboration server")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server")
    serve.add_argument("--host", help="interface to bind (COEDIT_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port, 0 picks a free one (COEDIT_PORT, 8000)")
    serve.add_argument("--db", type=Path, help="SQLite file (COEDIT_DB, ./data/coedit.db)")
    serve.add_argument("--store", help=STORE_HELP)
    serve.add_argument(
        "--synchronous",
        choices=["OFF", "NORMAL", "FULL", "EXTRA"],
        help="SQLite synchronous mode (COEDIT_SYNCHRONOUS, FULL survives power loss)",
    )
    serve.add_argument("--web-dist", type=Path, help="built editor (COEDIT_WEB_DIST, web/dist)")
    serve.add_argument("--max-message-bytes", type=int, help="largest frame (16 MiB)")
    serve.add_argument(
        "--max-upload-bytes",
        type=int,
        help="largest uploaded image (10 MiB)",
    )
    serve.add_argument(
        "--file-retention-days",
        type=float,
        help="images no document or version uses are removed after this long (30)",
    )
    serve.add_argument(
        "--trash-retention-days",
        type=float,
        help="deleted documents can be restored from the trash this long (30)",
    )
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    serve.add_argument(
        "--auth",
        choices=["open", "accounts", "jwt"],
        help="who may do what (COEDIT_AUTH, default open: whoever reaches the server edits)",
    )
    serve.add_argument(
        "--jwt-secret", help="HS256 secret for --auth jwt (prefer COEDIT_JWT_SECRET)"
    )
    serve.add_argument(
        "--allowed-origins",
        help="other browser origins allowed to connect, comma separated (COEDIT_ALLOWED_ORIGINS)",
    )
    serve.add_argument(
        "--bus",
        help="join the other instances on the same --store through Redis: redis://HOST:PORT/N "
        "(COEDIT_BUS)",
    )
    serve.add_argument("--instance-id", help="this instance's name on the bus (default: random)")
    export = commands.add_parser("export", help="write a document to stdout or a file")
    export.add_argument("name", help="the document's name")
    export.add_argument("--format", choices=["md", "html", "txt", "json"], default="md")
    export.add_argument("--db", type=Path, help="SQLite file (COEDIT_DB, ./data/coedit.db)")
    export.add_argument("--store", help=STORE_HELP)
    export.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    imp = commands.add_parser("import", help="create a document from a Markdown or HTML file")
    imp.add_argument("file", type=Path, help=".md/.markdown/.txt (Markdown) or .html/.htm")
    imp.add_argument("--title", help="the title (default: the file name)")
    imp.add_argument("--db", type=Path, help="SQLite file (COEDIT_DB, ./data/coedit.db)")
    imp.add_argument("--store", help=STORE_HELP)
    migrate = commands.add_parser(
        "migrate", help="bring a PostgreSQL store's schema up to date (under a lock) and exit"
    )
    migrate.add_argument("--store", help=STORE_HELP)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if k in SETTINGS_FIELDS}
    try:
        settings = Settings.from_env().with_overrides(overrides)
    except SettingsError as exc:
        print(f"coedit: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return serve(settings)
    try:
        if args.command == "migrate":
            if not settings.store:
                print("coedit: migrate needs --store postgresql://...", file=sys.stderr)
                return 2
            version = asyncio.run(migrate(settings.store))
            print(f"schema version {version}")
            return 0
        if args.command == "export":
            text = asyncio.run(export_doc(settings, args.name, args.format))
            if text is None:
                where = settings.store or settings.db
                print(f"coedit: no document named {args.name!r} in {where}", file=sys.stderr)
                return 1
            if args.output is None:
                sys.stdout.write(text)
            else:
                args.output.write_text(text, encoding="utf-8")
            return 0
        path: Path = args.file
        is_html = path.suffix.lower() in (".html", ".htm")
        source = path.read_text(encoding="utf-8")
        title = args.title if args.title is not None else path.stem
        print(asyncio.run(import_content(settings, source, is_html, title)))
        return 0
    except (StoreError, OSError, ValueError) as exc:
        print(f"coedit: {exc}", file=sys.stderr)
        return 1


async def migrate(address: str) -> int:
    # Opening the store migrates it, under PostgreSQL's advisory lock.
    async with PostgresStore(address) as store:
        return await store.migrate()


async def export_doc(settings: Settings, name: str, fmt: str) -> str | None:
    async with open_store(settings.store, settings.db, synchronous=settings.synchronous) as store:
        state = await store.durable_state(DocName(name))
        info = await store.info(DocName(name))
    if state is None or info is None:
        return None
    return content.render_state(state, fmt, info.title or name)


async def import_content(settings: Settings, source: str, is_html: bool, title: str) -> str:
    """Create a document from Markdown or HTML; returns its name."""
    state = content.state_from_content(
        title=title,
        markdown=None if is_html else source,
        html=source if is_html else None,
    )
    name = new_doc_name()
    async with open_store(settings.store, settings.db, synchronous=settings.synchronous) as store:
        await store.ensure(name)
        await store.append(name, state)
        if title:
            await store.set_title(name, title)
    return name


class _NoQueryStrings(logging.Filter):
    """uvicorn logs each WebSocket handshake with its query string, where tokens travel."""

    def filter(self, record: logging.LogRecord) -> bool:
        return '"WebSocket %s"' not in str(record.msg)


def serve(settings: Settings) -> int:
    memory.limit_arenas()  # before uvicorn and SQLite start their threads
    memory.quiet_panics()  # before any update reaches pycrdt
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        http=HttpProtocol,
        ws=WebSocketProtocol,
        ws_ping_interval=settings.ping_interval_seconds,
        ws_ping_timeout=settings.ping_timeout_seconds,
        ws_max_size=settings.max_message_bytes,
        ws_per_message_deflate=False,
        # Our own log lines cover connects; uvicorn's access log would print query strings.
        access_log=False,
        log_level=settings.log_level,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    # After uvicorn.Config, which (re)configures uvicorn's loggers.
    logging.getLogger("uvicorn.error").addFilter(_NoQueryStrings())
    server = _Server(config)
    memory.settle()  # last: everything built so far lives as long as the process
    server.run()
    return 0 if server.started else 1

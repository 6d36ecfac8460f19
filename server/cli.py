"""Command line: parses flags into Settings and runs uvicorn; the only module importing uvicorn."""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import uvicorn

from .app import create_app
from .config import Settings, SettingsError
from .rooms import Rooms

log = logging.getLogger("coedit")


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
        super().handle_exit(sig, frame)
        # uvicorn re-raises the signal after shutting down; a graceful stop should exit 0.
        self._captured_signals.clear()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        app = self.config.app
        rooms: Rooms | None = getattr(getattr(app, "state", None), "rooms", None)
        if rooms is not None:
            await rooms.close_gracefully()
        await super().shutdown(sockets)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coedit", description="Coedit collaboration server")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server")
    serve.add_argument("--host", help="interface to bind (COEDIT_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port, 0 picks a free one (COEDIT_PORT, 8000)")
    serve.add_argument("--db", type=Path, help="SQLite file (COEDIT_DB, ./data/coedit.db)")
    serve.add_argument(
        "--synchronous",
        choices=["OFF", "NORMAL", "FULL", "EXTRA"],
        help="SQLite synchronous mode (COEDIT_SYNCHRONOUS, FULL survives power loss)",
    )
    serve.add_argument("--web-dist", type=Path, help="built editor (COEDIT_WEB_DIST, web/dist)")
    serve.add_argument("--max-message-bytes", type=int, help="largest frame (16 MiB)")
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env().with_overrides(
            {k: v for k, v in vars(args).items() if k != "command"}
        )
    except SettingsError as exc:
        print(f"coedit: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return serve(settings)
    return 2


class _NoQueryStrings(logging.Filter):
    """uvicorn logs each WebSocket handshake with its query string, where tokens travel."""

    def filter(self, record: logging.LogRecord) -> bool:
        return '"WebSocket %s"' not in str(record.msg)


def serve(settings: Settings) -> int:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        ws="websockets-sansio",
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
    server.run()
    return 0 if server.started else 1

"""The origin check that cookie writes over HTTP and WebSocket handshakes share."""

from __future__ import annotations

import pytest
from starlette.requests import HTTPConnection

from server.access import origin_allowed
from server.config import Settings

SETTINGS = Settings(allowed_origins="https://app.example")


def connection(kind: str, scheme: str, origin: str | None) -> HTTPConnection:
    headers = [(b"host", b"coedit.example")]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    scope = {"type": kind, "scheme": scheme, "path": "/", "headers": headers}
    return HTTPConnection(scope)


@pytest.mark.parametrize(
    ("kind", "scheme", "origin", "allowed"),
    [
        ("http", "http", None, True),
        ("http", "http", "http://coedit.example", True),
        ("http", "http", "http://coedit.example/", True),
        ("http", "https", "https://coedit.example", True),
        ("http", "https", "http://coedit.example", False),
        ("http", "http", "http://evil.example", False),
        ("http", "http", "https://app.example", True),
        ("websocket", "ws", "http://coedit.example", True),
        ("websocket", "wss", "https://coedit.example", True),
        ("websocket", "wss", "http://coedit.example", False),
        ("websocket", "ws", "http://evil.example", False),
        ("websocket", "ws", None, True),
    ],
)
def test_origin_allowed(kind: str, scheme: str, origin: str | None, allowed: bool) -> None:
    assert origin_allowed(connection(kind, scheme, origin), SETTINGS) is allowed

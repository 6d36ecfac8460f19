"""The application in process, for tests that need only HTTP: no port, no child process.

`create_app` with its lifespan entered (httpx's ASGI transport never runs it, and without it the
store and rooms are not open), reached through `httpx.ASGITransport`. A test that needs a
WebSocket, a restart, a kill, the server's log or what uvicorn adds uses `tests.live` instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.applications import Starlette

from server.app import create_app
from server.config import Settings

BASE_URL = "http://test"


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Starlette]:
    """The application with its store and rooms open, closed again on exit."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


def client(
    app: Starlette, *, raise_app_exceptions: bool = True, **kwargs: Any
) -> httpx.AsyncClient:
    """An HTTP client whose requests go straight into `app`."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL, **kwargs)

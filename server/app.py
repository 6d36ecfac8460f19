"""Builds the Starlette application: routes, static files, a lifespan opening store and rooms."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from . import api, ws
from .config import Settings
from .rooms import Rooms
from .store.sqlite import SqliteStore


def create_app(settings: Settings) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with (
            SqliteStore(settings.db, synchronous=settings.synchronous) as store,
            Rooms(store, settings) as rooms,
        ):
            app.state.rooms = rooms
            yield

    routes = [
        WebSocketRoute("/ws/{name:path}", ws.endpoint),
        Route("/healthz", api.healthz),
        Route("/api/docs", api.list_docs, methods=["GET"]),
        Route("/", api.page("index.html")),
        Route("/d/{name:path}", api.page("doc.html")),
        Mount(
            "/assets",
            StaticFiles(directory=settings.web_dist / "assets", check_dir=False),
            name="assets",
        ),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.settings = settings
    return app

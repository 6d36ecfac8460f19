"""Builds the Starlette application: routes, static files, a lifespan opening store and rooms."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from . import accounts_api, api, history_api, ws
from .access import Gatekeeper
from .config import Settings
from .fold import Folder
from .rooms import Rooms
from .store.sqlite import SqliteStore
from .versions import VersionRecorder


def create_app(settings: Settings) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with (
            Folder() as folder,
            SqliteStore(settings.db, synchronous=settings.synchronous, fold=folder.pair) as store,
            VersionRecorder(store, interval=settings.version_interval_seconds) as recorder,
            # Inside the recorder: shutting rooms down records their last versions.
            Rooms(store, settings, hooks=[recorder], fold=folder) as rooms,
        ):
            app.state.rooms = rooms
            app.state.gate = Gatekeeper(settings, store)
            app.state.recorder = recorder
            yield

    routes = [
        # Served by ws.DirectWebSockets; the route keeps the URL in the app's route table.
        WebSocketRoute(ws.WS_PREFIX + "{name:path}", ws.endpoint),
        Route("/healthz", api.healthz),
        Route("/api/docs", api.list_docs, methods=["GET"]),
        Route("/api/docs", api.create_doc, methods=["POST"]),
        Route("/api/docs/{name}/export", api.export_doc, methods=["GET"]),
        *history_api.ROUTES,
        *accounts_api.ROUTES,
        Route("/api/docs/{name}", api.get_doc, methods=["GET"]),
        Route("/api/docs/{name}", api.open_doc, methods=["PUT"]),
        Route("/api/docs/{name}", api.patch_doc, methods=["PATCH"]),
        Route("/api/docs/{name}", api.delete_doc, methods=["DELETE"]),
        Route("/", api.page("index.html")),
        Route("/d/{name:path}", api.page("doc.html")),
        Route("/signin", api.page("signin.html")),
        Route("/signup", api.page("signin.html")),
        Mount(
            "/assets",
            StaticFiles(directory=settings.web_dist / "assets", check_dir=False),
            name="assets",
        ),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(ws.DirectWebSockets),
            Middleware(api.RawDocPaths),
            Middleware(accounts_api.SameOriginWrites, allowed=settings.extra_origins),
        ],
    )
    app.state.settings = settings
    return app

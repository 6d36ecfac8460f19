"""Builds the Starlette application: routes, static files, a lifespan opening store and rooms."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from . import mesh, ws
from .access import Gatekeeper
from .comments.guard import CommentGuard
from .config import Settings
from .files import FileSweeper
from .http import (
    accounts,
    comments,
    docs,
    errors,
    files,
    history,
    mentions,
    pages,
    params,
    search,
    trash,
)
from .search import Indexer
from .store.open import open_store
from .sync.fold import Folder
from .sync.rooms import Rooms
from .trash import TrashSweeper
from .versions import VersionRecorder


def create_app(settings: Settings) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with (
            Folder() as folder,
            open_store(
                settings.store, settings.db, synchronous=settings.synchronous, fold=folder.pair
            ) as store,
            VersionRecorder(store, interval=settings.version_interval_seconds) as recorder,
            Indexer(store, store) as indexer,
            # Inside the recorder: shutting rooms down records their last versions.
            Rooms(
                store, settings, hooks=[recorder, indexer], fold=folder, guard=CommentGuard
            ) as rooms,
            FileSweeper(
                store,
                retention_seconds=settings.file_retention_days * 86400,
                interval=settings.file_sweep_seconds,
            ),
            TrashSweeper(
                store,
                rooms,
                retention_seconds=settings.trash_retention_days * 86400,
                interval=settings.file_sweep_seconds,
            ),
        ):
            gate = Gatekeeper(settings, store)
            recheck = gate.standing_role if settings.auth == "accounts" else None
            async with mesh.joined(settings, store, rooms, recheck) as joined:
                app.state.indexer = indexer
                app.state.mesh = joined
                app.state.rooms = rooms
                app.state.gate = gate
                app.state.recorder = recorder
                yield

    routes = [
        # Served by ws.DirectWebSockets; the route keeps the URL in the app's route table.
        WebSocketRoute(ws.WS_PREFIX + "{name:path}", ws.endpoint),
        Route("/healthz", pages.healthz),
        Route("/readyz", pages.readyz),
        Route("/api/docs", docs.list_docs, methods=["GET"]),
        Route("/api/docs", docs.create_doc, methods=["POST"]),
        Route("/api/docs/{name}/export", docs.export_doc, methods=["GET"]),
        Route("/api/docs/{name}/copy", docs.copy_doc, methods=["POST"]),
        *search.ROUTES,
        *trash.ROUTES,
        *history.ROUTES,
        *files.ROUTES,
        *mentions.ROUTES,
        *comments.ROUTES,
        *accounts.ROUTES,
        Route("/api/docs/{name}", docs.get_doc, methods=["GET"]),
        Route("/api/docs/{name}", docs.open_doc, methods=["PUT"]),
        Route("/api/docs/{name}", docs.patch_doc, methods=["PATCH"]),
        Route("/api/docs/{name}", docs.delete_doc, methods=["DELETE"]),
        Route("/", pages.page("index.html")),
        Route("/d/{name:path}", pages.page("doc.html")),
        Route("/signin", pages.page("signin.html")),
        Route("/signup", pages.page("signin.html")),
        Route("/sw.js", pages.service_worker),
        Mount(
            "/assets",
            StaticFiles(directory=settings.web_dist / "assets", check_dir=False),
            name="assets",
        ),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers=errors.EXCEPTION_HANDLERS,
        middleware=[
            Middleware(ws.DirectWebSockets),
            Middleware(params.RawDocPaths),
            Middleware(accounts.SameOriginWrites, settings=settings),
        ],
    )
    app.state.settings = settings
    return app

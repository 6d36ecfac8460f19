"""The routes that are not the API: the health check and the editor's pages."""

from __future__ import annotations

import logging
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response

from ..store.base import StoreError
from ..sync.rooms import Rooms

log = logging.getLogger("coedit.api")


async def healthz(request: Request) -> Response:
    """Alive and able to store: 200, "degraded" while the bus between instances is down (every
    instance is then equally slow to hear the others; none should be taken out)."""
    rooms: Rooms = request.app.state.rooms
    try:
        await rooms.store.ping()
    except StoreError as exc:
        log.error("health check failed: %s", exc)
        return JSONResponse({"status": "unavailable", "error": str(exc)}, status_code=503)
    body: dict[str, object] = {
        "status": "ok",
        "rooms": len(rooms),
        "connections": rooms.connections,
    }
    mesh = getattr(request.app.state, "mesh", None)
    if mesh is not None and mesh.bus is not None:
        body["bus"] = "degraded" if mesh.degraded else "ok"
        if mesh.degraded:
            body["status"] = "degraded"
    return JSONResponse(body)


async def readyz(request: Request) -> Response:
    """Whether a load balancer should send new clients here: not while draining."""
    rooms: Rooms = request.app.state.rooms
    if rooms.draining:
        return JSONResponse({"status": "draining"}, status_code=503)
    return await healthz(request)


def page(file_name: str):  # type: ignore[no-untyped-def]
    async def serve(request: Request) -> Response:
        dist: Path = request.app.state.settings.web_dist
        path = dist / file_name
        if not path.is_file():
            return PlainTextResponse(
                f"The editor is not built: {path} is missing. Run `make run` (or `npm ci && "
                "npm run build`) first.",
                status_code=503,
            )
        return FileResponse(path, headers={"Cache-Control": "no-cache"})

    return serve


async def service_worker(request: Request) -> Response:
    """The editor's service worker (web/src/sw.ts), at the root so that it may serve every page.

    Never cached for long: the browser compares it byte for byte to learn of a new build, and a
    stale copy would keep an old build's pages for offline use.
    """
    dist: Path = request.app.state.settings.web_dist
    path = dist / "sw.js"
    if not path.is_file():
        return JSONResponse({"error": "the editor is not built"}, status_code=404)
    return FileResponse(
        path, media_type="text/javascript", headers={"Cache-Control": "no-cache, max-age=0"}
    )

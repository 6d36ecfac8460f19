"""HTTP routes: health, the document list and the editor's pages.

Imports starlette, never aiosqlite or uvicorn.
"""

from __future__ import annotations

import logging
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response

from .rooms import Rooms
from .store.base import DocInfo, StoreError

log = logging.getLogger("coedit.api")

MAX_PAGE = 200


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def healthz(request: Request) -> Response:
    rooms: Rooms = request.app.state.rooms
    try:
        await rooms.store.ping()
    except StoreError as exc:
        log.error("health check failed: %s", exc)
        return JSONResponse({"status": "unavailable", "error": str(exc)}, status_code=503)
    return JSONResponse({"status": "ok", "rooms": len(rooms)})


def doc_json(info: DocInfo) -> dict[str, object]:
    return {
        "name": info.name,
        "title": info.title,
        "created_at": info.created_at,
        "updated_at": info.updated_at,
        "size": info.size,
    }


async def list_docs(request: Request) -> Response:
    rooms: Rooms = request.app.state.rooms
    try:
        limit = int(request.query_params.get("limit", "50"))
    except ValueError:
        return error(400, "limit must be an integer")
    if not 1 <= limit <= MAX_PAGE:
        return error(400, f"limit must be between 1 and {MAX_PAGE}")
    before = None
    cursor = request.query_params.get("before")
    if cursor:
        stamp, sep, name = cursor.partition(":")
        try:
            before = (float(stamp), name)
        except ValueError:
            return error(400, "before must be a cursor returned as `next` by this endpoint")
        if not sep:
            return error(400, "before must be a cursor returned as `next` by this endpoint")
    docs = await rooms.store.list_docs(limit + 1, before)
    page = docs[:limit]
    more = len(docs) > limit
    next_cursor = f"{page[-1].updated_at!r}:{page[-1].name}" if more and page else None
    return JSONResponse({"docs": [doc_json(d) for d in page], "next": next_cursor})


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

"""HTTP routes: health, documents (list, create, rename, delete, export) and the editor's pages.

Imports starlette, never aiosqlite or uvicorn.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from pycrdt import Doc, Map
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from . import access
from . import content as convert
from .access import AccessDenied
from .content import META, TITLE
from .rooms import Rooms, ShuttingDown
from .store.base import EMPTY_UPDATE, DocInfo, DocName, DocumentNotFound, StoreError
from .ws import name_problem

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
    keeper = access.gate(request)
    if keeper.mode == "jwt":
        return error(403, "documents are listed by the application that embeds this server")
    if keeper.mode == "accounts":
        user = await keeper.user(request)
        if user is None:
            return error(401, "sign in to see your documents")
        docs = await keeper.accounts.list_docs_for(user, limit + 1, before)
    else:
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


# -- documents -----------------------------------------------------------------------------------

MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_TITLE = 200
EXPORTS = {
    "md": ("text/markdown; charset=utf-8", "md"),
    "html": ("text/html; charset=utf-8", "html"),
    "txt": ("text/plain; charset=utf-8", "txt"),
    "json": ("application/json", "json"),
}


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, refusing oversize, malformed or non-object bodies."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BadRequest(413, f"request body is larger than {MAX_BODY_BYTES} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise BadRequest(413, f"request body is larger than {MAX_BODY_BYTES} bytes")
    if not body:
        return {}
    try:
        value = json.loads(body)
    except ValueError as exc:
        raise BadRequest(400, "request body is not valid JSON") from exc
    if not isinstance(value, dict):
        raise BadRequest(400, "request body must be a JSON object")
    return value


def optional_str(body: dict[str, Any], key: str, limit: int) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(400, f"{key} must be a string")
    if len(value) > limit:
        raise BadRequest(400, f"{key} is longer than {limit} characters")
    return value


def doc_name(request: Request) -> DocName:
    # The path segment stays percent-encoded (see RawDocPaths), so a name may hold "/".
    name = unquote(request.path_params["name"])
    problem = name_problem(name)
    if problem is not None:
        raise BadRequest(400, problem)
    return DocName(name)


def new_doc_name() -> DocName:
    """A short random name that reads well in a link."""
    return DocName(secrets.token_urlsafe(9).replace("_", "x").replace("-", "y"))


def initial_state(title: str | None, markdown: str | None, html: str | None) -> bytes:
    try:
        return convert.state_from_content(title=title, markdown=markdown, html=html)
    except ValueError as exc:
        raise BadRequest(400, f"could not import the content: {exc}") from exc


def handles_errors(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        # BadRequest and AccessDenied are raised before anything was changed.
        except BadRequest as exc:
            return error(exc.status, exc.message)
        except AccessDenied as exc:
            return error(exc.status, exc.message)
        except DocumentNotFound as exc:
            return error(404, str(exc))
        except ShuttingDown as exc:
            return error(503, str(exc))
        except StoreError as exc:
            log.exception("storage failed during %s %s", request.method, request.url.path)
            return error(503, f"storage failed: {exc}")

    return wrapped


def info_json(info: DocInfo, role: str) -> dict[str, object]:
    return {**doc_json(info), "epoch": info.epoch, "role": role}


@handles_errors
async def create_doc(request: Request) -> Response:
    rooms: Rooms = request.app.state.rooms
    body = await json_body(request)
    title = optional_str(body, "title", MAX_TITLE)
    state = initial_state(
        title,
        optional_str(body, "markdown", MAX_BODY_BYTES),
        optional_str(body, "html", MAX_BODY_BYTES),
    )
    name = new_doc_name()
    await access.require_create(request)
    info = await rooms.store.ensure(name)
    if state != EMPTY_UPDATE:
        await rooms.store.append(name, state)
    if title:
        await rooms.store.set_title(name, title)
    await access.created(request, name)
    log.info("created %r", name)
    return JSONResponse({**doc_json(info), "title": title or "", "epoch": info.epoch}, 201)


@handles_errors
async def open_doc(request: Request) -> Response:
    """PUT: the document's info, creating it first if it does not exist (where allowed)."""
    rooms: Rooms = request.app.state.rooms
    name = doc_name(request)
    info = await rooms.store.info(name)
    if info is None:
        await access.require_create(request, name)
        info = await rooms.store.ensure(name)
        await access.created(request, name)
    role = await access.require(request, name, "viewer")
    return JSONResponse(info_json(info, role))


@handles_errors
async def get_doc(request: Request) -> Response:
    rooms: Rooms = request.app.state.rooms
    name = doc_name(request)
    role = await access.require(request, name, "viewer")
    info = await rooms.store.info(name)
    if info is None:
        return error(404, f"no document named {name!r}")
    return JSONResponse(info_json(info, role))


@handles_errors
async def patch_doc(request: Request) -> Response:
    rooms: Rooms = request.app.state.rooms
    name = doc_name(request)
    await access.require(request, name, "editor")
    body = await json_body(request)
    title = optional_str(body, "title", MAX_TITLE)
    if title is None:
        raise BadRequest(400, 'nothing to change: send {"title": "..."}')
    if await rooms.store.info(name) is None:
        return error(404, f"no document named {name!r}")

    def set_title(doc: Doc[Any]) -> None:
        doc.get(META, type=Map)[TITLE] = title

    # Through the live document, so that open editors see the new title at once.
    async with rooms.borrow(name) as room:
        await room.apply_server_change(set_title)
    await rooms.store.set_title(name, title)
    info = await rooms.store.info(name)
    assert info is not None
    return JSONResponse(doc_json(info))


@handles_errors
async def delete_doc(request: Request) -> Response:
    rooms: Rooms = request.app.state.rooms
    name = doc_name(request)
    await access.require(request, name, "owner")
    if not await rooms.delete(name):
        return error(404, f"no document named {name!r}")
    log.info("deleted %r", name)
    return Response(status_code=204)


@handles_errors
async def export_doc(request: Request) -> Response:
    rooms: Rooms = request.app.state.rooms
    name = doc_name(request)
    await access.require(request, name, "viewer")
    fmt = request.query_params.get("format", "md")
    if fmt not in convert.EXPORT_FORMATS:
        raise BadRequest(400, f"format must be one of {', '.join(EXPORTS)}")
    state = await rooms.store.durable_state(name)
    if state is None:
        return error(404, f"no document named {name!r}")
    info = await rooms.store.info(name)
    title = info.title if info is not None and info.title else name
    # Building a Doc and converting it take a while for big documents: off the event loop.
    body = await asyncio.to_thread(convert.render_state, state, fmt, title)
    media_type, extension = EXPORTS[fmt]
    filename = quote(f"{title}.{extension}", safe="")
    return Response(
        body,
        media_type=media_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{filename}",
            "X-Content-Type-Options": "nosniff",
            # An export opened in the browser must not run anything, whatever the content.
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        },
    )


class RawDocPaths:
    """Routes /api/docs/<name>/... on the raw path, so that "a%2Fexport" stays one name.

    Starlette matches routes against the decoded path, where a document named "notes/export"
    would be indistinguishable from the export of "notes". Under /api/docs/ the name is one
    percent-encoded segment (what encodeURIComponent produces), decoded by `doc_name`.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("raw_path")
        if scope["type"] == "http" and raw is not None and raw.startswith(b"/api/docs/"):
            scope = {**scope, "path": raw.decode("latin-1")}
        await self.app(scope, receive, send)

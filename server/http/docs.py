"""HTTP routes of documents: list, create, open, rename, delete, export.

Imports starlette, never aiosqlite or uvicorn.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any
from urllib.parse import quote

from pycrdt import Doc, Map
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .. import access, content
from ..content import META, TITLE
from ..store.base import EMPTY_UPDATE, DocInfo, DocName
from ..sync.rooms import Rooms
from .errors import HTTPError
from .params import MAX_BODY_BYTES, doc_name, json_body, optional_str, page_limit

log = logging.getLogger("coedit.api")

MAX_PAGE = 200


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
    limit = page_limit(request, 50, MAX_PAGE)
    before = None
    cursor = request.query_params.get("before")
    if cursor:
        stamp, sep, name = cursor.partition(":")
        try:
            before = (float(stamp), name)
        except ValueError:
            before = None
        if before is None or not sep:
            raise HTTPError(400, "before must be a cursor returned as `next` by this endpoint")
    keeper = access.gate(request)
    if keeper.mode == "jwt":
        raise HTTPError(403, "documents are listed by the application that embeds this server")
    if keeper.mode == "accounts":
        user = await keeper.user(request)
        if user is None:
            raise HTTPError(401, "sign in to see your documents")
        docs = await keeper.accounts.list_docs_for(user, limit + 1, before)
    else:
        docs = await rooms.store.list_docs(limit + 1, before)
    page = docs[:limit]
    more = len(docs) > limit
    next_cursor = f"{page[-1].updated_at!r}:{page[-1].name}" if more and page else None
    return JSONResponse({"docs": [doc_json(d) for d in page], "next": next_cursor})


# -- documents -----------------------------------------------------------------------------------

MAX_TITLE = 200
EXPORTS = {
    "md": ("text/markdown; charset=utf-8", "md"),
    "html": ("text/html; charset=utf-8", "html"),
    "txt": ("text/plain; charset=utf-8", "txt"),
    "json": ("application/json", "json"),
}


def new_doc_name() -> DocName:
    """A short random name that reads well in a link."""
    return DocName(secrets.token_urlsafe(9).replace("_", "x").replace("-", "y"))


def initial_state(title: str | None, markdown: str | None, html: str | None) -> bytes:
    try:
        return content.state_from_content(title=title, markdown=markdown, html=html)
    except ValueError as exc:
        raise HTTPError(400, f"could not import the content: {exc}") from exc


def info_json(info: DocInfo, role: str) -> dict[str, object]:
    return {**doc_json(info), "epoch": info.epoch, "role": role}


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


async def get_doc(request: Request) -> Response:
    rooms: Rooms = request.app.state.rooms
    name = doc_name(request)
    role = await access.require(request, name, "viewer")
    info = await rooms.store.info(name)
    if info is None:
        raise HTTPError(404, f"no document named {name!r}")
    return JSONResponse(info_json(info, role))


async def patch_doc(request: Request) -> Response:
    rooms: Rooms = request.app.state.rooms
    name = doc_name(request)
    await access.require(request, name, "editor")
    body = await json_body(request)
    title = optional_str(body, "title", MAX_TITLE)
    if title is None:
        raise HTTPError(400, 'nothing to change: send {"title": "..."}')
    if await rooms.store.info(name) is None:
        raise HTTPError(404, f"no document named {name!r}")

    def set_title(doc: Doc[Any]) -> None:
        doc.get(META, type=Map)[TITLE] = title

    # Through the live document, so that open editors see the new title at once.
    async with rooms.borrow(name) as room:
        await room.apply_server_change(set_title)
    await rooms.store.set_title(name, title)
    info = await rooms.store.info(name)
    assert info is not None
    return JSONResponse(doc_json(info))


async def delete_doc(request: Request) -> Response:
    rooms: Rooms = request.app.state.rooms
    name = doc_name(request)
    await access.require(request, name, "owner")
    if not await rooms.delete(name):
        raise HTTPError(404, f"no document named {name!r}")
    log.info("deleted %r", name)
    return Response(status_code=204)


async def export_doc(request: Request) -> Response:
    rooms: Rooms = request.app.state.rooms
    name = doc_name(request)
    await access.require(request, name, "viewer")
    fmt = request.query_params.get("format", "md")
    if fmt not in content.EXPORT_FORMATS:
        raise HTTPError(400, f"format must be one of {', '.join(EXPORTS)}")
    state = await rooms.store.durable_state(name)
    if state is None:
        raise HTTPError(404, f"no document named {name!r}")
    info = await rooms.store.info(name)
    title = info.title if info is not None and info.title else name
    # Building a Doc and converting it take a while for big documents: off the event loop.
    base = str(request.base_url)
    body = await asyncio.to_thread(content.render_state, state, fmt, title, base=base)
    media_type, extension = EXPORTS[fmt]
    filename = quote(f"{title}.{extension}", safe="")
    return Response(
        body,
        media_type=media_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{filename}",
            "X-Content-Type-Options": "nosniff",
            # An export opened in the browser must not run anything, whatever the content.
            "Content-Security-Policy": (
                "default-src 'none'; style-src 'unsafe-inline'; img-src http: https:"
            ),
        },
    )

"""HTTP routes of documents: list, create, open, rename, delete, export.

Imports starlette, never aiosqlite or uvicorn.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any
from urllib.parse import quote

from pycrdt import Doc, Map
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .. import access, content
from ..content import META, TITLE
from ..search import Indexer
from ..store.base import EMPTY_UPDATE, DocInfo, DocName, DocumentTrashed, TrashStore
from ..sync.rooms import Rooms
from ..trash import move_to_trash
from .errors import HTTPError
from .params import MAX_BODY_BYTES, doc_name, json_body, optional_str, page_limit

log = logging.getLogger("coedit.api")

MAX_PAGE = 200


def doc_json(info: DocInfo) -> dict[str, object]:
    return {
        "name": info.name,
        "title": info.title,
        "preview": info.preview,
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


async def _new_document(request: Request, state: bytes, title: str | None) -> Response:
    """A new document holding `state`, owned by the caller; answered 201 with its info."""
    rooms: Rooms = request.app.state.rooms
    name = new_doc_name()
    await access.require_create(request)
    info = await rooms.store.ensure(name)
    if state != EMPTY_UPDATE:
        await rooms.store.append(name, state)
    if title:
        await rooms.store.set_title(name, title)
    await access.created(request, name)
    indexer: Indexer = request.app.state.indexer
    await indexer.index_state(name, state, title or "")
    log.info("created %r", name)
    return JSONResponse({**doc_json(info), "title": title or "", "epoch": info.epoch}, 201)


async def create_doc(request: Request) -> Response:
    body = await json_body(request)
    title = optional_str(body, "title", MAX_TITLE)
    state = initial_state(
        title,
        optional_str(body, "markdown", MAX_BODY_BYTES),
        optional_str(body, "html", MAX_BODY_BYTES),
    )
    return await _new_document(request, state, title)


async def copy_doc(request: Request) -> Response:
    """POST: a new document with this one's content and title ("Copy of ..."); its history and
    comments stay with the original."""
    rooms: Rooms = request.app.state.rooms
    name = doc_name(request)
    await access.require(request, name, "viewer")
    info = await rooms.store.info(name)
    state = await rooms.store.durable_state(name)
    if info is None or state is None:
        raise HTTPError(404, f"no document named {name!r}")
    title = f"Copy of {info.title or info.preview or 'Untitled document'}"[:MAX_TITLE]

    def retitle(doc: Doc[Any]) -> None:
        doc.get(META, type=Map)[TITLE] = title

    copied = await asyncio.to_thread(content.with_change, state, retitle)
    return await _new_document(request, copied, title)


def in_trash(name: DocName) -> str:
    return f"{name!r} is in the trash: its owner can restore it from there"


async def open_doc(request: Request) -> Response:
    """PUT: the document's info; `?create=1` creates it first if it does not exist (the app's
    own "New"), so that a mistyped address never makes an empty document by itself. Tokens of
    JWT mode name documents their application decided exist."""
    rooms: Rooms = request.app.state.rooms
    name = doc_name(request)
    info = await rooms.store.info(name)
    if info is None:
        trash: TrashStore = request.app.state.rooms.store
        if await trash.trashed(name) is not None:
            raise HTTPError(410, in_trash(name))
        create = request.query_params.get("create") == "1" or access.gate(request).mode == "jwt"
        if not create:
            raise HTTPError(404, f"no document named {name!r}")
        await access.require_create(request, name)
        try:
            info = await rooms.store.ensure(name)
        except DocumentTrashed as exc:
            raise HTTPError(
                410, f"{name!r} is in the trash: its owner can restore it there"
            ) from exc
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
    """DELETE: to the trash (see /api/trash), restorable with its content, history, comments
    and epoch until it is emptied."""
    rooms: Rooms = request.app.state.rooms
    name = doc_name(request)
    await access.require(request, name, "owner")
    store: TrashStore = request.app.state.rooms.store
    if not await move_to_trash(rooms, store, name, time.time()):
        raise HTTPError(404, f"no document named {name!r}")
    log.info("moved %r to the trash", name)
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

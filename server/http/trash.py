"""The trash's routes: list it, restore a document, delete one for good. In accounts mode only
a document's owner may; documents on this server in JWT mode belong to the embedding application.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import access
from ..store.base import DocName, TrashedDoc, TrashStore
from ..sync.rooms import Rooms
from .docs import doc_json
from .errors import HTTPError
from .params import doc_name, page_limit

log = logging.getLogger("coedit.api")


def _store(request: Request) -> TrashStore:
    store: TrashStore = request.app.state.rooms.store
    return store


def trashed_json(entry: TrashedDoc) -> dict[str, object]:
    return {**doc_json(entry.info), "deleted_at": entry.deleted_at}


async def _owner_id(request: Request) -> int | None:
    """Whose trash the caller sees: everyone's in open mode (None), their own in accounts mode."""
    keeper = access.gate(request)
    if keeper.mode == "jwt":
        raise HTTPError(403, "documents here are managed by the application that embeds them")
    if keeper.mode == "open":
        return None
    user = await keeper.user(request)
    if user is None:
        raise HTTPError(401, "sign in to see your trash")
    return user.id


async def _own_trashed(request: Request) -> tuple[DocName, TrashedDoc]:
    name = doc_name(request)
    owner = await _owner_id(request)
    entry = await _store(request).trashed(name)
    # Someone else's trashed document is as absent as one that does not exist.
    if entry is None or (owner is not None and entry.owner_id not in (owner, None)):
        raise HTTPError(404, f"no document named {name!r} in your trash")
    return name, entry


async def list_trash(request: Request) -> Response:
    owner = await _owner_id(request)
    entries = await _store(request).list_trash(owner, page_limit(request, 100, 500))
    return JSONResponse({"docs": [trashed_json(e) for e in entries]})


async def restore(request: Request) -> Response:
    name, entry = await _own_trashed(request)
    if not await _store(request).restore(name):
        raise HTTPError(404, f"no document named {name!r} in your trash")
    log.info("restored %r from the trash", name)
    return JSONResponse({**doc_json(entry.info), "epoch": entry.info.epoch})


async def purge(request: Request) -> Response:
    name, _ = await _own_trashed(request)
    rooms: Rooms = request.app.state.rooms
    if not await rooms.delete(name):
        raise HTTPError(404, f"no document named {name!r} in your trash")
    log.info("deleted %r for good", name)
    return Response(status_code=204)


ROUTES = [
    Route("/api/trash", list_trash, methods=["GET"]),
    Route("/api/trash/{name}/restore", restore, methods=["POST"]),
    Route("/api/trash/{name}", purge, methods=["DELETE"]),
]

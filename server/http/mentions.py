"""`GET /api/mentions` (a signed-in user's mentions, newest first, read or not),
`POST /api/mentions/read`, and `GET /api/docs/{name}/comments/people` (who may be mentioned)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..access import gate
from ..comments.mentions import mentions_of
from ..comments.model import read_threads
from ..store.base import DocName, MentionStore, comments_name
from ..sync.integrate import new_doc
from ..sync.rooms import Rooms
from .errors import HTTPError
from .params import doc_name, json_body

# Documents looked through for one list: the user's most recently changed.
MAX_DOCS = 200


async def _user(request: Request) -> Any:
    keeper = gate(request)
    if keeper.mode != "accounts":
        raise HTTPError(404, "mentions need accounts (--auth accounts)")
    user = await keeper.user(request)
    if user is None:
        raise HTTPError(401, "sign in to see your mentions")
    return user


async def list_mentions(request: Request) -> Response:
    user = await _user(request)
    rooms: Rooms = request.app.state.rooms
    store: Any = rooms.store
    docs = await gate(request).accounts.list_docs_for(user, MAX_DOCS)
    found: list[dict[str, Any]] = []
    for info in docs:
        state = await rooms.store.durable_state(comments_name(info.name))
        if state is None:
            continue
        doc = new_doc()
        doc.apply_update(state)
        for mention in mentions_of(f"user:{user.username}", read_threads(doc)):
            found.append({"doc": info.name, "title": info.title, **mention})
    mentions: MentionStore = store
    read = await mentions.mentions_read(user, [DocName(m["doc"]) for m in found])
    for mention in found:
        mention["read"] = (mention["doc"], mention["comment"]) in read
    found.sort(key=lambda m: m.get("created_at") or 0, reverse=True)
    unread = sum(1 for m in found if not m["read"])
    return JSONResponse({"mentions": found, "unread": unread})


async def mark_read(request: Request) -> Response:
    user = await _user(request)
    body = await json_body(request)
    name, ids = body.get("doc"), body.get("comments")
    if not isinstance(name, str) or not isinstance(ids, list) or not ids:
        raise HTTPError(422, 'send {"doc": "<name>", "comments": ["<comment id>", ...]}')
    if len(ids) > 1000 or not all(isinstance(i, str) and 0 < len(i) <= 200 for i in ids):
        raise HTTPError(422, "comments are up to 1,000 comment ids")
    await gate(request).require(request, DocName(name), "viewer")
    rooms: Rooms = request.app.state.rooms
    mentions: MentionStore = rooms.store  # type: ignore[assignment]
    await mentions.mark_mentions_read(user, DocName(name), ids)
    return Response(status_code=204)


async def people(request: Request) -> Response:
    name = doc_name(request)
    keeper = gate(request)
    await keeper.require(request, name, "viewer")
    if keeper.mode != "accounts":
        return JSONResponse({"people": []})
    rooms: Rooms = request.app.state.rooms
    mentions: MentionStore = rooms.store  # type: ignore[assignment]
    return JSONResponse({"people": [{"username": u} for u in await mentions.readers(name)]})


ROUTES = [
    Route("/api/mentions", list_mentions, methods=["GET"]),
    Route("/api/mentions/read", mark_read, methods=["POST"]),
    Route("/api/docs/{name}/comments/people", people, methods=["GET"]),
]

"""`/api/docs/{name}/comments...`: a document's comments over HTTP, through the live comments
document (open editors see each change as soon as it is stored, and the API sees theirs).

Every change is first made on a copy and held to the same policy as the WebSocket's
(`comments.policy.decide`); a refusal is a 403 and changes nothing.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..access import Grant, gate
from ..auth import colour_for
from ..comments.edit import (
    Change,
    NotFound,
    api_thread,
    api_threads,
    comment_author,
    delete_comment,
    edit_comment,
    new_id,
    reply,
    set_resolved,
    start_thread,
    text_blocks,
)
from ..comments.guard import actor_for
from ..comments.mentions import mentioned
from ..comments.model import MAX_BODY, MAX_NAME, read_thread, read_threads
from ..comments.policy import Actor, decide
from ..store.base import DocName, MentionStore, comments_name
from ..sync.integrate import new_doc
from ..sync.rooms import Rooms
from ..types import Role
from .errors import HTTPError
from .params import doc_name, json_body

AUTHOR_KEY_HEADER = "x-coedit-author-key"


async def _caller(request: Request, needed: Role) -> tuple[DocName, Grant, Actor]:
    name = doc_name(request)
    grant = await gate(request).require(request, name, needed)
    rooms: Rooms = request.app.state.rooms
    if await rooms.store.info(name) is None:
        raise HTTPError(404, f"no document named {name!r}")
    key = request.headers.get(AUTHOR_KEY_HEADER)
    role = grant.role or "viewer"
    return name, grant, actor_for(role, grant.user, grant.display_name, key)


def _body(data: dict[str, Any], key: str = "body") -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise HTTPError(422, f"{key} must be text of 1 to {MAX_BODY} characters")
    if len(value) > MAX_BODY:
        raise HTTPError(413, f"{key} is longer than {MAX_BODY} characters")
    return value


def _author(actor: Actor, data: dict[str, Any]) -> dict[str, str]:
    if actor.id is None:
        raise HTTPError(403, f"sign in, or send an {AUTHOR_KEY_HEADER} header, to comment")
    name = actor.name
    if name is None:
        given = data.get("name")
        name = given.strip()[:MAX_NAME] if isinstance(given, str) and given.strip() else "Someone"
    return {"id": actor.id, "name": name, "color": colour_for(name)}


async def _mentions(request: Request, name: DocName, body: str) -> list[str]:
    """The readers a body mentions as @username (accounts mode)."""
    if gate(request).mode != "accounts" or "@" not in body:
        return []
    store: MentionStore = request.app.state.rooms.store
    return mentioned(body, await store.readers(name))


async def _apply(
    request: Request, name: DocName, actor: Actor, thread_id: str, change: Change
) -> dict[str, Any]:
    """Make `change` (to one thread) on the live comments document if the policy allows it;
    the thread after it."""
    rooms: Rooms = request.app.state.rooms
    async with rooms.borrow(comments_name(name)) as room:
        trial = new_doc()
        trial.apply_update(room.doc.get_update())
        try:
            change(trial)
        except NotFound as exc:
            raise HTTPError(404, str(exc)) from exc
        before, after = read_thread(room.doc, thread_id), read_thread(trial, thread_id)
        why = decide(
            actor,
            {} if before is None else {thread_id: before},
            {} if after is None else {thread_id: after},
        )
        if why is not None:
            raise HTTPError(403, why)
        await room.apply_server_change(change)
        thread: dict[str, Any] = read_thread(room.doc, thread_id)
        return thread


async def _answer(request: Request, name: DocName, thread: dict[str, Any], status: int) -> Response:
    rooms: Rooms = request.app.state.rooms
    async with rooms.borrow(name) as text:
        body = api_thread(thread, text.doc, text_blocks(text.doc))
    return JSONResponse(body, status_code=status)


async def list_comments(request: Request) -> Response:
    name, _, _ = await _caller(request, "viewer")
    rooms: Rooms = request.app.state.rooms
    async with rooms.borrow(comments_name(name)) as room:
        threads = read_threads(room.doc)
    async with rooms.borrow(name) as text:
        listed = api_threads(threads, text.doc)
    return JSONResponse({"threads": listed})


async def create_thread(request: Request) -> Response:
    name, _, actor = await _caller(request, "commenter")
    data = await json_body(request)
    body = _body(data)
    quote = data.get("quote")
    if not isinstance(quote, str) or not quote.strip():
        raise HTTPError(422, "quote must be text from the document")
    rooms: Rooms = request.app.state.rooms
    async with rooms.borrow(name) as text:
        if not any(quote in block for block in text_blocks(text.doc)):
            raise HTTPError(422, "the quote does not occur in the document's text")
    thread_id = new_id()
    author, mentions = _author(actor, data), await _mentions(request, name, body)
    change = start_thread(thread_id, quote, body, author, mentions)
    thread = await _apply(request, name, actor, thread_id, change)
    return await _answer(request, name, thread, 201)


async def create_reply(request: Request) -> Response:
    name, _, actor = await _caller(request, "commenter")
    data = await json_body(request)
    thread_id = request.path_params["thread"]
    body = _body(data)
    mentions = await _mentions(request, name, body)
    change = reply(thread_id, new_id(), body, _author(actor, data), mentions)
    thread = await _apply(request, name, actor, thread_id, change)
    return await _answer(request, name, thread, 201)


async def patch_thread(request: Request) -> Response:
    name, _, actor = await _caller(request, "commenter")
    resolved = (await json_body(request)).get("resolved")
    if not isinstance(resolved, bool):
        raise HTTPError(422, 'send {"resolved": true} or {"resolved": false}')
    thread_id = request.path_params["thread"]
    thread = await _apply(request, name, actor, thread_id, set_resolved(thread_id, resolved))
    return await _answer(request, name, thread, 200)


async def patch_reply(request: Request) -> Response:
    name, _, actor = await _caller(request, "commenter")
    thread_id, comment_id = request.path_params["thread"], request.path_params["comment"]
    change = edit_comment(thread_id, comment_id, _body(await json_body(request)))
    thread = await _apply(request, name, actor, thread_id, change)
    return await _answer(request, name, thread, 200)


async def delete_reply(request: Request) -> Response:
    name, _, actor = await _caller(request, "commenter")
    thread_id, comment_id = request.path_params["thread"], request.path_params["comment"]
    rooms: Rooms = request.app.state.rooms
    async with rooms.borrow(comments_name(name)) as room:
        try:
            own = (
                actor.id is not None and comment_author(room.doc, thread_id, comment_id) == actor.id
            )
        except NotFound as exc:
            raise HTTPError(404, str(exc)) from exc
    await _apply(request, name, actor, thread_id, delete_comment(thread_id, comment_id, own))
    return Response(status_code=204)


ROUTES = [
    Route("/api/docs/{name}/comments", list_comments, methods=["GET"]),
    Route("/api/docs/{name}/comments", create_thread, methods=["POST"]),
    Route("/api/docs/{name}/comments/{thread}", patch_thread, methods=["PATCH"]),
    Route("/api/docs/{name}/comments/{thread}/replies", create_reply, methods=["POST"]),
    Route("/api/docs/{name}/comments/{thread}/replies/{comment}", patch_reply, methods=["PATCH"]),
    Route("/api/docs/{name}/comments/{thread}/replies/{comment}", delete_reply, methods=["DELETE"]),
]

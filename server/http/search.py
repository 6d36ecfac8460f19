"""`GET /api/search?q=...&limit=`: documents whose title or text has every word (as a prefix),
best first, among those the caller may read."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import access
from ..search import query_words
from ..store.base import DocName, SearchStore
from .errors import HTTPError
from .params import page_limit

MAX_QUERY = 500


async def search(request: Request) -> Response:
    query = request.query_params.get("q", "")
    if len(query) > MAX_QUERY:
        raise HTTPError(400, f"q is longer than {MAX_QUERY} characters")
    limit = page_limit(request, 20, 100)
    keeper = access.gate(request)
    user_id: int | None = None
    only: DocName | None = None
    if keeper.mode == "accounts":
        user = await keeper.user(request)
        if user is None:
            raise HTTPError(401, "sign in to search your documents")
        user_id = user.id
    elif keeper.mode == "jwt":
        # A token opens one document: that is all its holder may search.
        claims = keeper.jwt_document(request)
        if claims is None:
            raise HTTPError(401, "this server needs a signed token (?token=...)")
        only = claims
    words = query_words(query)
    store: SearchStore = request.app.state.rooms.store
    hits = await store.search(words, limit, user_id=user_id, only=only) if words else []
    return JSONResponse(
        {
            "results": [
                {
                    "name": h.name,
                    "title": h.title,
                    "snippet": h.snippet,
                    "updated_at": h.updated_at,
                    "preview": h.preview,
                }
                for h in hits
            ]
        }
    )


ROUTES = [Route("/api/search", search, methods=["GET"])]

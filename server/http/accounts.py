"""HTTP routes for accounts and sharing: sign-up, sign-in, shares with users, share links.

Imports starlette; storage only through the AccountStore protocol.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import access
from ..access import SESSION_COOKIE, gate, origin_allowed
from ..auth import (
    CredentialError,
    RateLimiter,
    check_username,
    hash_password,
    new_token,
    token_digest,
    verify_password,
)
from ..closecodes import Close
from ..config import Settings
from ..store.base import AccountStore, DocName, Link, User
from ..sync.rooms import Rooms
from ..types import Revocation
from .errors import HTTPError, error
from .params import doc_name, json_body, optional_str

log = logging.getLogger("coedit.accounts")

SIGNIN_WINDOW_SECONDS = 300.0
SHARE_ROLES = ("viewer", "commenter", "editor")


def _accounts(request: Request) -> AccountStore:
    store: AccountStore = request.app.state.rooms.store
    return store


def _require_mode(request: Request) -> None:
    if gate(request).mode != "accounts":
        raise HTTPError(404, "accounts are off on this server (start it with --auth accounts)")


def _credentials(body: dict[str, Any]) -> tuple[str, str]:
    username = optional_str(body, "username", 100)
    password = optional_str(body, "password", 1024)
    if not username or not password:
        raise HTTPError(400, 'send {"username": ..., "password": ...}')
    return username, password


def _limiter(request: Request) -> RateLimiter:
    state = request.app.state
    if not hasattr(state, "signin_limiter"):
        state.signin_limiter = RateLimiter(state.settings.signin_attempts, SIGNIN_WINDOW_SECONDS)
    limiter: RateLimiter = state.signin_limiter
    return limiter


async def _start_session(request: Request, username: str, user_id: int) -> Response:
    settings = request.app.state.settings
    token = new_token()
    expires = time.time() + settings.session_days * 86400
    await _accounts(request).create_session(User(user_id, username), token_digest(token), expires)
    response = JSONResponse({"user": {"username": username}})
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(settings.session_days * 86400),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


async def me(request: Request) -> Response:
    keeper = gate(request)
    user = await keeper.user(request)
    return JSONResponse(
        {"mode": keeper.mode, "user": None if user is None else {"username": user.username}}
    )


async def signup(request: Request) -> Response:
    _require_mode(request)
    username, password = _credentials(await json_body(request))
    if not _limiter(request).allow(f"ip:{_client(request)}"):
        raise HTTPError(429, "too many attempts; wait a few minutes")
    try:
        check_username(username)
        password_hash = hash_password(password)
    except CredentialError as exc:
        raise HTTPError(400, str(exc)) from exc
    user = await _accounts(request).create_user(username, password_hash)
    log.info("signed up %r", user.username)
    response = await _start_session(request, user.username, user.id)
    response.status_code = 201
    return response


async def signin(request: Request) -> Response:
    _require_mode(request)
    username, password = _credentials(await json_body(request))
    limiter = _limiter(request)
    # Both keys count every attempt: one address cannot try many names, nor many addresses
    # one name.
    allowed_ip = limiter.allow(f"ip:{_client(request)}")
    allowed_user = limiter.allow(f"user:{username.lower()}")
    if not (allowed_ip and allowed_user):
        raise HTTPError(429, "too many sign-in attempts; wait a few minutes")
    found = await _accounts(request).find_user(username)
    if found is None or not verify_password(found[1], password):
        raise HTTPError(401, "wrong username or password")
    user = found[0]
    log.info("signed in %r", user.username)
    return await _start_session(request, user.username, user.id)


async def signout(request: Request) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await _accounts(request).delete_session(token_digest(token))
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# -- sharing -------------------------------------------------------------------------------


def _link_json(link: Link) -> dict[str, object]:
    return {"id": link.id, "role": link.role, "token": link.token, "created_at": link.created_at}


async def _owner_only(request: Request) -> DocName:
    _require_mode(request)
    name = doc_name(request)
    await access.require(request, name, "owner")
    return name


async def list_shares(request: Request) -> Response:
    name = await _owner_only(request)
    accounts = _accounts(request)
    users = [{"username": u, "role": r} for u, r in await accounts.shares(name)]
    links = [_link_json(link) for link in await accounts.links(name)]
    return JSONResponse({"users": users, "links": links})


async def put_share(request: Request) -> Response:
    name = await _owner_only(request)
    body = await json_body(request)
    role = body.get("role")
    if role not in SHARE_ROLES:
        raise HTTPError(400, 'role must be "viewer", "commenter" or "editor"')
    return await _set_share(request, name, role)


async def delete_share(request: Request) -> Response:
    name = await _owner_only(request)
    await _set_share(request, name, None)
    return Response(status_code=204)


async def _set_share(request: Request, name: DocName, role: str | None) -> Response:
    username: str = request.path_params["username"]
    user = await _accounts(request).set_share(name, username, role)
    rooms: Rooms = request.app.state.rooms
    # Their open connections carry the old role: drop them so they come back with the new one.
    rooms.close_where(
        name,
        Revocation(user_id=user.id),
        Close.REVOKED,
        "your access to this document changed",
    )
    return JSONResponse({"username": user.username, "role": role})


async def create_link(request: Request) -> Response:
    name = await _owner_only(request)
    role = (await json_body(request)).get("role")
    if role not in SHARE_ROLES:
        raise HTTPError(400, 'role must be "viewer", "commenter" or "editor"')
    link = await _accounts(request).active_link(name, role, new_token())
    return JSONResponse(_link_json(link), status_code=201)


async def revoke_link(request: Request) -> Response:
    name = await _owner_only(request)
    raw = request.path_params["link_id"]
    if not raw.isdigit():
        raise HTTPError(404, f"no link {raw!r}")
    link_id = int(raw)
    if not await _accounts(request).revoke_link(name, link_id):
        raise HTTPError(404, f"no active link {link_id} on this document")
    rooms: Rooms = request.app.state.rooms
    dropped = rooms.close_where(
        name,
        Revocation(link_id=link_id),
        Close.REVOKED,
        "this share link was revoked",
    )
    log.info("revoked link %d of %r (%d connections closed)", link_id, name, dropped)
    return Response(status_code=204)


ROUTES = [
    Route("/api/auth/me", me, methods=["GET"]),
    Route("/api/auth/signup", signup, methods=["POST"]),
    Route("/api/auth/signin", signin, methods=["POST"]),
    Route("/api/auth/signout", signout, methods=["POST"]),
    Route("/api/docs/{name}/shares", list_shares, methods=["GET"]),
    Route("/api/docs/{name}/shares/{username}", put_share, methods=["PUT"]),
    Route("/api/docs/{name}/shares/{username}", delete_share, methods=["DELETE"]),
    Route("/api/docs/{name}/links", create_link, methods=["POST"]),
    Route("/api/docs/{name}/links/{link_id}", revoke_link, methods=["DELETE"]),
]


class SameOriginWrites:
    """Cookie-authenticated writes must come from our own pages (no cross-site forms/fetches)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            request = HTTPConnection(scope)
            cookie = request.headers.get("cookie", "")
            if SESSION_COOKIE in cookie and not origin_allowed(request, self.settings):
                # A middleware runs outside the exception handler: it answers by itself.
                response = error(403, "cross-site request refused")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

"""Who may do what to a document: one Gatekeeper decides roles for HTTP and WebSocket alike.

Imports starlette only for the request type; storage is reached through the store protocols.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, cast

from starlette.requests import HTTPConnection

from .auth import CredentialError, colour_for, decode_jwt, token_digest
from .config import Settings
from .store.base import Access, AccountStore, DocName, User
from .types import Role

RANK: dict[str, int] = {"viewer": 1, "commenter": 2, "editor": 3, "owner": 4}
SESSION_COOKIE = "coedit_session"
SHARE_HEADER = "x-coedit-share"


class AccessDenied(Exception):
    """The caller may not do this; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Grant:
    """A caller's standing on one document, and what it rests on (to revoke it later)."""

    role: Role | None
    user: User | None = None
    link_id: int | None = None
    display_name: str | None = None
    exists: bool = True
    refusal: tuple[int, str] = (403, "you do not have access to this document")

    def stamp(self) -> dict[str, Any] | None:
        """What the server writes into this caller's presence, overriding the client."""
        if self.role is None or (self.display_name is None and RANK[self.role] >= RANK["editor"]):
            return None
        stamp: dict[str, Any] = {"role": self.role}
        if self.display_name is not None:
            stamp["name"] = self.display_name
            stamp["color"] = colour_for(self.display_name)
        return stamp


def role_from(access: Access, user: User | None) -> Role | None:
    """A caller's role from what the store says of the document (accounts mode)."""
    return best(
        "owner" if access.is_owner else None,
        access.share,
        access.link_role,
        # Documents from before accounts mode have no owner: any signed-in user edits them.
        "editor" if user is not None and not access.owned else None,
    )


def best(*roles: str | None) -> Role | None:
    present = [r for r in roles if r is not None]
    return cast(Role, max(present, key=RANK.__getitem__)) if present else None


class Gatekeeper:
    """Resolves roles under the configured mode: open, accounts or jwt."""

    def __init__(
        self,
        settings: Settings,
        accounts: AccountStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.mode = settings.auth
        self._settings = settings
        self.accounts = accounts
        self._clock = clock

    async def user(self, conn: HTTPConnection) -> User | None:
        """The signed-in user (accounts mode), from the session cookie."""
        if self.mode != "accounts":
            return None
        token = conn.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        return await self.accounts.session_user(token_digest(token))

    async def grant(self, conn: HTTPConnection, name: DocName) -> Grant:
        if self.mode == "open":
            # Whoever reaches the server has every right, as on a trusted LAN.
            return Grant("owner")
        if self.mode == "jwt":
            return self._jwt_grant(conn, name)
        return await self._account_grant(conn, name)

    @staticmethod
    def _token(conn: HTTPConnection) -> str | None:
        token = conn.query_params.get("token")
        header = conn.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            token = header[7:].strip()
        return token or None

    def jwt_document(self, conn: HTTPConnection) -> DocName | None:
        """The document a valid token opens (JWT mode), or None."""
        token = self._token(conn)
        if token is None:
            return None
        try:
            claims = decode_jwt(token, self._settings.jwt_secret, now=self._clock())
        except CredentialError:
            return None
        return DocName(claims.doc)

    def _jwt_grant(self, conn: HTTPConnection, name: DocName) -> Grant:
        token = self._token(conn)
        if token is None:
            return Grant(None, refusal=(401, "this server needs a signed token (?token=...)"))
        try:
            claims = decode_jwt(token, self._settings.jwt_secret, now=self._clock())
        except CredentialError as exc:
            return Grant(None, refusal=(403, str(exc)))
        if claims.doc != name:
            return Grant(None, refusal=(403, "the token is for another document"))
        return Grant(cast(Role, claims.role), display_name=claims.name or None)

    async def _account_grant(self, conn: HTTPConnection, name: DocName) -> Grant:
        user = await self.user(conn)
        link_token = conn.query_params.get("share") or conn.headers.get(SHARE_HEADER)
        access = await self.accounts.access(name, user, link_token)
        display = None if user is None else user.username
        if not access.exists:
            refusal = (404, f"no document named {name!r}")
            return Grant(None, user=user, display_name=display, exists=False, refusal=refusal)
        role = role_from(access, user)
        if role is None:
            refusal = (401, "sign in to open this document") if user is None else (403, "")
            if refusal[1] == "":
                refusal = (403, "this document has not been shared with you")
            return Grant(None, user=user, display_name=display, refusal=refusal)
        link_id = access.link_id if access.link_role == role else None
        return Grant(role, user=user, link_id=link_id, display_name=display)

    async def standing_role(
        self, name: DocName, user: User | None, link_id: int | None
    ) -> Role | None:
        """What a connection's grant (its user, its share link) is worth now, accounts mode:
        to close connections whose access was cut while no revocation could reach them."""
        access = await self.accounts.access(name, user, None)
        if not access.exists:
            return None
        if link_id is not None:
            active = {link.id: link.role for link in await self.accounts.links(name)}
            access = replace(access, link_id=link_id, link_role=active.get(link_id))
        return role_from(access, user)

    async def require(self, conn: HTTPConnection, name: DocName, needed: Role) -> Grant:
        """The caller's grant, or AccessDenied when its role is below `needed`."""
        grant = await self.grant(conn, name)
        if grant.role is None:
            raise AccessDenied(*grant.refusal)
        if RANK[grant.role] < RANK[needed]:
            raise AccessDenied(403, f"this needs the {needed} role; you are a {grant.role}")
        return grant

    async def require_create(self, conn: HTTPConnection, name: DocName | None = None) -> None:
        """AccessDenied unless the caller may create documents (`name`: a chosen name)."""
        if self.mode == "accounts" and await self.user(conn) is None:
            raise AccessDenied(401, "sign in to create documents")
        if self.mode == "jwt":
            if name is None:
                raise AccessDenied(403, "documents are created by the application's tokens")
            grant = self._jwt_grant(conn, name)
            if grant.role is None:
                raise AccessDenied(*grant.refusal)
            if grant.role != "editor":
                raise AccessDenied(403, "creating a document needs an editor token for its name")

    async def created(self, conn: HTTPConnection, name: DocName) -> None:
        """Record the signed-in caller as the owner of a document they just created."""
        user = await self.user(conn)
        if user is not None:
            await self.accounts.set_owner(name, user)


def origin_allowed(conn: HTTPConnection, settings: Settings) -> bool:
    """Whether the page that sent this request or WebSocket may act with the caller's cookies:
    ours, or one of `--allowed-origins`. Browsers always send Origin; other clients (Node,
    Python) usually do not, and carry no cookie of ours a foreign page could borrow."""
    origin = conn.headers.get("origin")
    if origin is None:
        return True
    origin = origin.rstrip("/")
    scheme = "https" if conn.url.scheme in ("https", "wss") else "http"
    own = f"{scheme}://{conn.headers.get('host', '')}"
    return origin == own or origin in settings.extra_origins


def gate(conn: HTTPConnection) -> Gatekeeper:
    keeper: Gatekeeper = conn.app.state.gate
    return keeper


async def require(conn: HTTPConnection, name: DocName, needed: Role) -> Role:
    """The caller's role, or AccessDenied (401/403/404) when it is below `needed`."""
    grant = await gate(conn).require(conn, name, needed)
    assert grant.role is not None
    return grant.role


async def require_create(conn: HTTPConnection, name: DocName | None = None) -> None:
    await gate(conn).require_create(conn, name)


async def created(conn: HTTPConnection, name: DocName) -> None:
    await gate(conn).created(conn, name)

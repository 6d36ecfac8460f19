"""Who may do what to a document: roles and their checks; imports starlette only for requests.

Open mode (the default) lets whoever reaches the server edit; accounts and JWT modes arrive with
the sharing work and plug in here, so every route and the WebSocket ask one place.
"""

from __future__ import annotations

from typing import Literal

from starlette.requests import HTTPConnection

from .store.base import DocName

Role = Literal["viewer", "editor", "owner"]
RANK: dict[Role, int] = {"viewer": 1, "editor": 2, "owner": 3}


class AccessDenied(Exception):
    """The caller may not do this; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def role_for(conn: HTTPConnection, name: DocName) -> Role | None:
    """The caller's role on a document, or None when they may not even read it."""
    del conn, name
    # Open mode: whoever reaches the server has every right, as on a trusted LAN.
    return "owner"


async def require_create(conn: HTTPConnection) -> None:
    """AccessDenied unless the caller may create documents."""
    del conn


async def created(conn: HTTPConnection, name: DocName) -> None:
    """Record the caller as the owner of a document they just created."""
    del conn, name


async def require(conn: HTTPConnection, name: DocName, needed: Role) -> Role:
    """The caller's role, or AccessDenied (401/403) when it is below `needed`."""
    role = await role_for(conn, name)
    if role is None:
        raise AccessDenied(403, "you do not have access to this document")
    if RANK[role] < RANK[needed]:
        raise AccessDenied(403, f"this needs the {needed} role; you are a {role}")
    return role

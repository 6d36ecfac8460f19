"""The names every layer shares: who a connected client is (`Peer`), what its access rests on
(`Standing`), and the roles a caller may have (`Role`).

Stdlib and the store's value types only: the sync engine, the WebSocket edge and the HTTP routes
all import it, and it imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from .store.base import User

# What a caller may do with a document: read; read and comment (the text stays read-only);
# read and write; and, in accounts mode, share, rename and delete too.
Role = Literal["viewer", "commenter", "editor", "owner"]


class Standing(Protocol):
    """What a peer's access rests on (an `access.Grant`), so that revoking it finds the peer."""

    @property
    def user(self) -> User | None: ...

    @property
    def link_id(self) -> int | None: ...


class Peer(Protocol):
    """A connected client as the room sees it; the transport owns queueing and closing."""

    @property
    def label(self) -> str: ...

    @property
    def grant(self) -> Standing | None:
        """None for the server's own stand-ins and in tests: nothing to revoke."""

    def send(self, frame: bytes) -> None:
        """Queue a frame without blocking; a transport that is too far behind closes itself."""

    def close(self, code: int, reason: str) -> None:
        """Ask the transport to close with this WebSocket close code."""


@dataclass(frozen=True, slots=True)
class Revocation:
    """Whose connections to a document lose their standing: a user's (their role changed) or a
    share link's holders'. Plain data, so that other instances can apply it too."""

    user_id: int | None = None
    link_id: int | None = None

    def matches(self, grant: Standing) -> bool:
        if self.link_id is not None:
            return grant.link_id == self.link_id
        return self.user_id is not None and grant.user is not None and grant.user.id == self.user_id

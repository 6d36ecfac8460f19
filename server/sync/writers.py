"""Which writer each client id of a document belongs to.

A Yjs client id says whose clocks a struct takes, and y-websocket lets any connection send any
client's structs: an update claiming exactly a writer's next clocks, arriving before the
writer's own, took them (the first to integrate wins; the writer's own were then skipped). So a
connection that names its writer (`?author_key=`, a secret the browser keeps; the editor always
sends it, any client may) binds each client id it is the first to use, by announcing it in its
awareness or by writing its structs, to that writer; from then on only connections of the same
writer may write that id's structs. An id first used by a connection without a key stays open
to anyone: a stock client has no key to bind, and binding its id to one connection would lock
it out after a reconnect. Bindings are stored with the document, so restarts, reloads and
other instances keep them.

Pure: the room feeds it what it sees and stores the bindings it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from ..closecodes import Close
from .lib0 import ProtocolError
from .yupdate import MAX_CLIENT_ID

__all__ = ["OPEN", "Writers"]

OPEN = ""  # the binding of an id first used without a key: anyone may write it


class Writers:
    """The bindings of one document's client ids, as far as this instance knows them."""

    def __init__(self, known: Mapping[int, str] | None = None) -> None:
        self._owners: dict[int, str] = dict(known or {})
        # Ids shown in presence that have written nothing yet: held only while shown (stored,
        # one row per tab ever opened would grow without bound), bound for good at the first
        # struct.
        self._shown: dict[int, str] = {}
        # Ids whose structs came from another instance before this one knew their binding:
        # written here only once the store has told.
        self.unknown: set[int] = set()

    def __len__(self) -> int:
        return len(self._owners)

    def owner(self, client: int) -> str | None:
        return self._owners.get(client)

    def check_structs(
        self, clients: Iterable[int], writer: str | None, has: Callable[[int], bool]
    ) -> dict[int, str]:
        """Whether a connection of `writer` (None: no key) may write structs of `clients`;
        returns the bindings it makes (ids new to the document), to store. Raises
        ProtocolError (1008) for another writer's id, or (1013) for an id whose binding the
        store has not told yet. `has(client)`: the document already holds structs of it."""
        new = []
        for client in clients:
            owner = self._owners.get(client)
            if owner is None:
                if client in self.unknown:
                    raise ProtocolError(
                        Close.TRY_AGAIN, f"checking who writes client id {client}, reconnect"
                    )
                owner = self._shown.get(client)
                new.append(client)
            if owner is not None and owner != OPEN and owner != writer:
                raise ProtocolError(Close.POLICY, f"client id {client} is another writer's")
        claims = {}
        for client in new:
            shown = self._shown.pop(client, None)
            # An id the document already holds structs of predates bindings (or its binding
            # was lost in a crash before it was stored): whoever wrote them is unknown.
            who = shown if shown is not None else OPEN if writer is None or has(client) else writer
            self._owners[client] = claims[client] = who
        return {client: who for client, who in claims.items() if client <= MAX_CLIENT_ID}

    def announce(self, client: int, writer: str | None, has: Callable[[int], bool]) -> None:
        """A connection of `writer` shows its presence under `client`, an id this instance has
        never shown: it is that writer's while shown, and for good once it writes."""
        if client in self._owners or client in self.unknown or client in self._shown:
            return
        self._shown[client] = OPEN if writer is None or has(client) else writer

    def forget(self, clients: Iterable[int]) -> None:
        """These ids are no longer shown: those that wrote nothing are nobody's again."""
        for client in clients:
            self._shown.pop(client, None)

    def written_elsewhere(self, clients: Iterable[int]) -> set[int]:
        """Another instance stored structs of `clients`; returns the ids to ask the store about."""
        new = {client for client in clients if client not in self._owners}
        self.unknown |= new
        return new

    def learn(self, stored: Mapping[int, str]) -> dict[int, tuple[str, str]]:
        """Take the store's bindings (they win over what this instance assumed). Returns the
        ids this instance had bound otherwise, with (assumed, stored)."""
        overruled = {}
        for client, who in stored.items():
            assumed = self._owners.get(client)
            if assumed is not None and assumed != who:
                overruled[client] = (assumed, who)
            self._owners[client] = who
            self.unknown.discard(client)
        return overruled

"""What instances sharing one store say to each other (several instances, see server.mesh): the
interface of the bus and of whoever listens to it; `bus_redis` is the one implementation.

The bus carries committed rows (byte for byte as stored), awareness frames and control events,
never a sync step 2 nor a live document's state: it speeds delivery up, and every instance can do
without it by reading the store (see server.mesh)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from .store.base import CommittedRow, DocName


class BusListener(Protocol):
    """What the bus hands over, in the order it read it; an instance never hears itself."""

    def rows(self, name: DocName, rows: list[tuple[int, bytes | None]]) -> None:
        """Other instances committed these rows of the document, (seq, update) in the order
        the bus carried them (None: too big for the bus, read it from the store)."""

    def awareness(self, name: DocName, instance: str, frame: bytes) -> None:
        """Awareness changes another instance's peers made (a y-websocket awareness frame)."""

    def query(self, name: DocName) -> None:
        """An instance loaded the document and asks for everyone's awareness states."""

    def control(self, instance: str, event: dict[str, Any]) -> None:
        """A control event (revocation, deletion) another instance published."""

    def heartbeat(self, instance: str) -> None:
        """The instance is alive."""

    def reconnected(self) -> None:
        """The bus was unreachable and is back: what it carried meanwhile is lost."""


class Bus(Protocol):
    """Publishing never blocks nor fails: what cannot be sent is dropped (the store has it)."""

    @property
    def healthy(self) -> bool:
        """False while the bus is unreachable; instances then poll the store."""
        ...

    async def start(self, listener: BusListener) -> None: ...

    async def close(self) -> None: ...

    def follow(self, name: DocName) -> None:
        """Start reading the document's events (it is loaded here)."""

    def unfollow(self, name: DocName) -> None: ...

    def following(self) -> Sequence[DocName]: ...

    def publish_rows(self, rows: Sequence[CommittedRow]) -> None: ...

    def publish_awareness(self, name: DocName, frame: bytes) -> None: ...

    def publish_query(self, name: DocName) -> None: ...

    def publish_control(self, event: dict[str, Any]) -> None: ...

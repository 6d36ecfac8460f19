"""Where a live room stands in its document's shared log (several instances on one store): the
rows it has applied, counted by their per-document sequence number, and the order the others'
rows must be applied in. Pure: the mesh feeds it what the bus and the store say."""

from __future__ import annotations


class Follower:
    """Rows are applied in sequence order, each once. ``applied`` is the highest sequence number
    below which the room has every row; rows this instance wrote itself are in its Doc already
    (they were integrated before they were stored) and only move the mark; rows from other
    instances that arrive ahead of a missing one wait for it, and the wait is a gap the mesh
    repairs from the store."""

    def __init__(self, head: int) -> None:
        self.applied = head
        self._own: set[int] = set()  # this instance's rows above the mark
        self._waiting: dict[int, bytes] = {}  # other instances' rows above the mark

    @property
    def gap(self) -> bool:
        """Rows above the mark are known but one before them is missing."""
        return bool(self._waiting) or bool(self._own)

    def own(self, seq: int) -> list[bytes]:
        """This instance committed row `seq`; returns other instances' rows now due, in order."""
        if seq > self.applied:
            self._own.add(seq)
        return self._advance()

    def offer(self, seq: int, update: bytes) -> list[bytes]:
        """Another instance committed row `seq`; returns the rows now due, in order (none if it
        was applied already or must wait for a predecessor)."""
        if seq > self.applied and seq not in self._own:
            self._waiting.setdefault(seq, update)
        return self._advance()

    def _advance(self) -> list[bytes]:
        due: list[bytes] = []
        while True:
            following = self.applied + 1
            if following in self._own:
                self._own.discard(following)
            elif following in self._waiting:
                due.append(self._waiting.pop(following))
            else:
                return due
            self.applied = following

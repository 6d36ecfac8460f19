"""Fake peers for unit tests of room logic."""

from __future__ import annotations

from dataclasses import dataclass, field

from server.sync.protocol import Message, decode
from server.types import Standing


@dataclass(eq=False)
class FakePeer:
    """Records what a room sends it; closing only records the code."""

    label: str = "fake"
    frames: list[bytes] = field(default_factory=list)
    closed: tuple[int, str] | None = None
    grant: Standing | None = None

    def send(self, frame: bytes) -> None:
        if self.closed is None:
            self.frames.append(frame)

    def close(self, code: int, reason: str) -> None:
        if self.closed is None:
            self.closed = (code, reason)

    def messages(self) -> list[Message]:
        return [decode(f) for f in self.frames]

    def take(self) -> list[Message]:
        out = self.messages()
        self.frames.clear()
        return out

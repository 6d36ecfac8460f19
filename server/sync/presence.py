"""Who is here: one document's awareness states (cursors, names), who owns which, the budget
each connection has for relaying them, and the tombstones that keep removed states removed."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..closecodes import Close
from ..config import Settings
from ..types import Peer
from .lib0 import ProtocolError
from .protocol import (
    AwarenessEntry,
    AwarenessUpdate,
    encode_awareness,
    encode_awareness_entries,
)

# How long a departed client's awareness clock is remembered: y-protocols clients drop a state
# nobody renewed for 30 s, so an echo of it cannot come later than that.
TOMBSTONE_SECONDS = 30.0
# Tombstones kept per document at most, oldest forgotten first, whatever churns client ids.
MAX_TOMBSTONES = 10_000


@dataclass(slots=True)
class _State:
    clock: int
    state: str
    # The local connection that set it, or the id of the instance whose connection did (several
    # instances, see server.mesh); None for a tombstone.
    owner: Peer | str | None


@dataclass(slots=True)
class _Visitor:
    """One connection as presence sees it."""

    # Fields the server forces into this peer's awareness `user` (signed-in name and colour,
    # role), so that nobody can show up under another person's name.
    stamp: dict[str, Any] | None
    tokens: float
    refilled_at: float
    ids: set[int] = field(default_factory=set)
    # The display name from this peer's awareness state, for "who edited" in version history.
    name: str | None = None
    # The changes waiting for the relay budget: the latest entry per client id.
    pending: dict[int, AwarenessEntry] | None = None
    timer: asyncio.TimerHandle | None = None


class Presence:
    """Awareness for one document's peers (`peers` lists who gets relays)."""

    def __init__(
        self, settings: Settings, clock: Callable[[], float], peers: Callable[[], Iterable[Peer]]
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._peers = peers
        self.states: dict[int, _State] = {}
        self._visitors: dict[Peer, _Visitor] = {}
        # (expiry, client id, tombstone) in the order they were made, to forget them.
        self._tombstones: deque[tuple[float, int, _State]] = deque()
        # Given every awareness frame this instance's own peers caused, for the other instances.
        self.publish: Callable[[bytes], None] | None = None

    def join(self, peer: Peer, stamp: dict[str, Any] | None) -> None:
        self._visitors[peer] = _Visitor(
            stamp=stamp, tokens=float(self.settings.awareness_burst), refilled_at=self._clock()
        )
        if self.present:
            peer.send(self.snapshot())

    def leave(self, peer: Peer) -> None:
        state = self._visitors.pop(peer, None)
        if state is None:
            return
        if state.timer is not None:
            state.timer.cancel()
        # Removals still waiting for a token must reach the others too.
        gone = [e for e in (state.pending or {}).values() if e.removed]
        for client_id in state.ids:
            current = self.states.get(client_id)
            if current is not None and current.owner is peer and current.state != "null":
                clock = current.clock + 1
                self._bury(client_id, clock)
                gone.append(AwarenessEntry(client_id=client_id, clock=clock, state="null"))
        if gone:
            self._broadcast(encode_awareness_entries(gone))

    def query(self, peer: Peer) -> None:
        # y-websocket never sends it; an answer is O(everyone present), so a flood of them
        # shares the awareness budget and the excess goes unanswered.
        state = self._visitors[peer]
        if self.present and state.pending is None and self._token(state):
            peer.send(self.snapshot())

    def owned(self, peer: Peer) -> set[int]:
        """The awareness client ids `peer` shows its own presence under."""
        state = self._visitors.get(peer)
        return set() if state is None else set(state.ids)

    def name_of(self, peer: Peer) -> str | None:
        state = self._visitors.get(peer)
        return None if state is None else state.name

    def apply(self, peer: Peer, message: AwarenessUpdate) -> None:
        """Apply one awareness message; raises ProtocolError to have this peer closed."""
        self._forget_tombstones()
        state = self._visitors[peer]
        owned = state.ids
        # y-websocket clients resend every awareness change they receive: an entry another
        # live connection owns is an echo, theirs to change, and must not count against,
        # be stamped as, or be taken over by this connection.
        claimed = [e for e in message.entries if self._claimable(peer, e.client_id)]
        new_ids = {e.client_id for e in claimed if not e.removed} - owned
        if len(owned) + len(new_ids) > self.settings.max_awareness_ids:
            raise ProtocolError(Close.POLICY, "too many awareness client ids on one connection")
        accepted = [e for e in claimed if self._is_newer(e) and self._changes_something(e)]
        if not accepted:
            return
        pending = state.pending
        if pending is not None and len(pending.keys() | {e.client_id for e in accepted}) > (
            2 * self.settings.max_awareness_ids
        ):
            # Only a connection churning through client ids gets here: each waiting removal
            # would otherwise be kept until the next token, however many there are.
            raise ProtocolError(Close.POLICY, "too many awareness client ids on one connection")
        if state.stamp is not None:
            accepted = [_stamped(entry, state.stamp) for entry in accepted]
        for entry in accepted:
            self._store(peer, owned, entry)
        if pending is None and self._token(state):
            untouched = state.stamp is None and len(accepted) == len(message.entries)
            frame = (
                encode_awareness(message.payload)
                if untouched
                else encode_awareness_entries(accepted)
            )
            # The sender too, as the reference server does: y-websocket clients reconnect
            # after 30 s without a message, and their own 15 s awareness renewal echoed back
            # keeps an idle tab's connection alive.
            self._broadcast(frame)
            return
        # Over budget: coalesce rather than refuse. Stored already (joiners see the latest),
        # relayed once a token is due, only the newest entry per client id, so the others
        # miss intermediate cursor positions but never the final one.
        if pending is None:
            pending = state.pending = {}
        for entry in accepted:
            pending[entry.client_id] = entry
        if state.timer is None:
            wait = (1.0 - state.tokens) / self.settings.awareness_per_second
            state.timer = asyncio.get_running_loop().call_later(wait, self._relay_pending, peer)

    def _token(self, state: _Visitor) -> bool:
        now = self._clock()
        rate, burst = self.settings.awareness_per_second, float(self.settings.awareness_burst)
        elapsed = now - state.refilled_at
        state.tokens = min(burst, state.tokens + elapsed * rate)
        state.refilled_at = now
        if state.tokens < 1.0:
            return False
        state.tokens -= 1.0
        return True

    def _relay_pending(self, peer: Peer) -> None:
        state = self._visitors.get(peer)
        if state is None:
            return
        state.timer = None
        pending, state.pending = state.pending, None
        if not pending:
            return
        if not self._token(state):
            # The timer was set for when the next token is due; a clock read a moment later
            # may still be short of it. Spend what there is, so the rate holds and this relay
            # does not wait a second time.
            state.tokens = 0.0
        self._broadcast(encode_awareness_entries(pending.values()))

    def _claimable(self, peer: Peer, client_id: int) -> bool:
        current = self.states.get(client_id)
        owner = None if current is None else current.owner
        return owner is None or owner is peer or owner not in self._visitors

    def _is_newer(self, entry: AwarenessEntry) -> bool:
        # The y-protocols rule: a newer clock wins; an equal clock may only remove.
        current = self.states.get(entry.client_id)
        if current is None:
            return True
        if entry.clock > current.clock:
            return True
        return entry.clock == current.clock and entry.removed and current.state != "null"

    def _changes_something(self, entry: AwarenessEntry) -> bool:
        # Removing a state nobody shows (unknown, or already a tombstone) is a no-op for every
        # peer: storing it would let one message plant any number of tombstones.
        if not entry.removed:
            return True
        current = self.states.get(entry.client_id)
        return current is not None and current.state != "null"

    def _store(self, peer: Peer, owned: set[int], entry: AwarenessEntry) -> None:
        if entry.removed:
            self._bury(entry.client_id, entry.clock)
            owned.discard(entry.client_id)
            return
        self.states[entry.client_id] = _State(entry.clock, entry.state, peer)
        owned.add(entry.client_id)
        name = _display_name(entry.state)
        if name is not None:
            self._visitors[peer].name = name

    def _bury(self, client_id: int, clock: int) -> None:
        """Replace a client's state with a tombstone, which keeps its clock so that a late echo
        of the old state is not revived; tombstones are forgotten after TOMBSTONE_SECONDS."""
        tomb = _State(clock, "null", None)
        self.states[client_id] = tomb
        self._tombstones.append((self._clock() + TOMBSTONE_SECONDS, client_id, tomb))
        self._forget_tombstones()

    def _forget_tombstones(self) -> None:
        tombstones = self._tombstones
        now = self._clock()
        while tombstones and (tombstones[0][0] <= now or len(tombstones) > MAX_TOMBSTONES):
            _, cid, old = tombstones.popleft()
            if self.states.get(cid) is old:  # not revived or buried again since
                del self.states[cid]

    @property
    def present(self) -> int:
        """Awareness states currently shown (tombstones of departed clients aside)."""
        return sum(1 for s in self.states.values() if s.state != "null")

    def snapshot(self) -> bytes:
        """Every state shown now, as one awareness message."""
        return encode_awareness_entries(
            AwarenessEntry(client_id=cid, clock=s.clock, state=s.state)
            for cid, s in self.states.items()
            if s.state != "null"
        )

    def _broadcast(self, frame: bytes) -> None:
        self._send_local(frame)
        if self.publish is not None:
            self.publish(frame)

    def _send_local(self, frame: bytes) -> None:
        for peer in self._peers():
            peer.send(frame)

    def apply_remote(self, instance: str, entries: Iterable[AwarenessEntry]) -> None:
        """Entries another instance's peers caused (already stamped and budgeted there):
        stored as owned by that instance and shown to this instance's peers."""
        self._forget_tombstones()
        accepted = [
            e
            for e in entries
            if self._is_newer(e)
            and self._changes_something(e)
            # Only the instance that showed a state may remove it: a tab that reconnected
            # to another instance must not vanish when its old connection's removal arrives.
            and (not e.removed or self.states[e.client_id].owner == instance)
        ]
        for entry in accepted:
            if entry.removed:
                self._bury(entry.client_id, entry.clock)
            else:
                self.states[entry.client_id] = _State(entry.clock, entry.state, instance)
        if accepted:
            self._send_local(encode_awareness_entries(accepted))

    def drop_instance(self, instance: str) -> None:
        """An instance stopped without saying goodbye: remove what its peers showed."""
        gone = []
        for client_id, current in list(self.states.items()):
            if current.owner == instance and current.state != "null":
                clock = current.clock + 1
                self._bury(client_id, clock)
                gone.append(AwarenessEntry(client_id=client_id, clock=clock, state="null"))
        if gone:
            self._send_local(encode_awareness_entries(gone))

    def local_snapshot(self) -> bytes | None:
        """The states this instance's own peers show, as one awareness message (None: none)."""
        entries = [
            AwarenessEntry(client_id=cid, clock=s.clock, state=s.state)
            for cid, s in self.states.items()
            if s.state != "null" and s.owner is not None and not isinstance(s.owner, str)
        ]
        return encode_awareness_entries(entries) if entries else None


def _display_name(state: str) -> str | None:
    """`user.name` from an awareness state, the convention of y-prosemirror and Tiptap carets."""
    value = json.loads(state)
    user = value.get("user") if isinstance(value, dict) else None
    name = user.get("name") if isinstance(user, dict) else None
    return name[:200] if isinstance(name, str) else None


def _stamped(entry: AwarenessEntry, stamp: dict[str, Any]) -> AwarenessEntry:
    if entry.removed:
        return entry
    state = json.loads(entry.state)
    if not isinstance(state, dict):
        state = {}
    user = state.get("user")
    state["user"] = {**(user if isinstance(user, dict) else {}), **stamp}
    return AwarenessEntry(entry.client_id, entry.clock, json.dumps(state, separators=(",", ":")))

"""One live document: its pycrdt Doc, awareness states and peers; defines the Peer seam.

Must not import starlette, aiosqlite or uvicorn: a Room only talks to `Peer`s and a `DocumentStore`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pycrdt import Doc, Map

from ..closecodes import Close
from ..config import Settings
from ..content.schema import META, TITLE
from ..store.base import DocName, DocumentStore
from ..types import Peer, Role
from .integrate import HalfApplied, Integrator
from .lib0 import ProtocolError
from .protocol import (
    AwarenessEntry,
    AwarenessUpdate,
    Message,
    QueryAwareness,
    SyncStep1,
    SyncStep2,
    SyncUpdate,
    encode_awareness,
    encode_awareness_entries,
    encode_sync_step1,
    encode_sync_step2,
)
from .relay import Relay, Relayed, RelayGroup
from .yupdate import Dependencies, validate_update

log = logging.getLogger("coedit.room")

EMPTY_UPDATE = b"\x00\x00"
# How long a departed client's awareness clock is remembered: y-protocols clients drop a state
# nobody renewed for 30 s, so an echo of it cannot come later than that.
TOMBSTONE_SECONDS = 30.0
# Tombstones kept per document at most, oldest forgotten first, whatever churns client ids.
MAX_TOMBSTONES = 10_000


@dataclass(slots=True)
class _PeerState:
    group: RelayGroup
    role: Role = "editor"
    # Fields the server forces into this peer's awareness `user` (signed-in name and colour,
    # role), so that nobody can show up under another person's name.
    stamp: dict[str, Any] | None = None
    awareness_ids: set[int] = field(default_factory=set)
    # The display name from this peer's awareness state, for "who edited" in version history.
    name: str | None = None
    tokens: float = 0.0
    refilled_at: float = 0.0
    # Awareness relay budget, and the changes waiting for it: the latest entry per client id.
    awareness_tokens: float = 0.0
    awareness_refilled_at: float = 0.0
    awareness_pending: dict[int, AwarenessEntry] | None = None
    awareness_timer: asyncio.TimerHandle | None = None


@dataclass(slots=True)
class _AwarenessState:
    clock: int
    state: str
    owner: Peer | None


class Room:
    """Applies, persists and relays one document's messages; updates are relayed after commit."""

    def __init__(
        self,
        name: DocName,
        doc: Doc[Any],
        store: DocumentStore,
        settings: Settings,
        *,
        on_change: Callable[[Room], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.doc = doc
        self.store = store
        self.settings = settings
        self.peers: dict[Peer, _PeerState] = {}
        self.awareness: dict[int, _AwarenessState] = {}
        # (expiry, client id, tombstone) in the order they were made, to forget them.
        self._tombstones: deque[tuple[float, int, _AwarenessState]] = deque()
        self.failed = False
        # Rows and bytes appended since the last compaction, for the compaction thresholds.
        self.log_rows = 0
        self.log_bytes = 0
        self.snapshot_bytes = 0  # as stored, for the compaction policy (see Rooms)
        self.stored_title = ""
        # Display names of the peers whose updates committed since the last version was taken.
        self.editors: set[str] = set()
        # Future of the newest append: replies computed now may only leave once it has committed.
        self._tail: asyncio.Future[None] | None = None
        self._on_change = on_change
        self._relay = Relay(settings, lambda: self.failed)
        self._clock = clock
        # Keeps the Doc's state vector itself: reading it from pycrdt costs O(clients) per
        # update, which made a 600-client room fall seconds behind.
        self._integrator = Integrator(
            doc, max_held=settings.max_held_updates, max_held_bytes=settings.max_held_bytes
        )
        self._state_checked = clock()

    def join(self, peer: Peer, role: Role = "editor", stamp: dict[str, Any] | None = None) -> None:
        """Add a peer; a "viewer" gets every read but none of its writes are applied."""
        now = self._clock()
        group = self._relay.join(peer)
        self.peers[peer] = _PeerState(
            group=group,
            role=role,
            stamp=stamp,
            tokens=float(self.settings.step1_burst),
            refilled_at=now,
            awareness_tokens=float(self.settings.awareness_burst),
            awareness_refilled_at=now,
        )
        peer.send(encode_sync_step1(self.doc.get_state()))
        if self.present:
            peer.send(self._awareness_snapshot())

    def leave(self, peer: Peer) -> None:
        state = self.peers.pop(peer, None)
        if state is None:
            return
        self._relay.leave(peer, state.group)
        if state.awareness_timer is not None:
            state.awareness_timer.cancel()
        # Removals still waiting for a token must reach the others too.
        gone = [e for e in (state.awareness_pending or {}).values() if e.removed]
        for client_id in state.awareness_ids:
            current = self.awareness.get(client_id)
            if current is not None and current.owner is peer and current.state != "null":
                clock = current.clock + 1
                self._bury(client_id, clock)
                gone.append(AwarenessEntry(client_id=client_id, clock=clock, state="null"))
        if gone:
            self._broadcast(encode_awareness_entries(gone), exclude=None)

    def receive(self, peer: Peer, message: Message) -> None:
        """Handle one decoded message; raises ProtocolError to have this peer closed."""
        match message:
            case SyncStep1(state_vector=sv):
                self._take_step1_token(peer)
                self._send_after_commit(peer, encode_sync_step2(self.doc.get_update(sv)))
            case SyncStep2(update=update, deps=deps) | SyncUpdate(update=update, deps=deps):
                if self.peers[peer].role == "viewer":
                    # Never applied, stored or relayed. Not an error: a read-only client still
                    # answers the server's step 1 with whatever it holds locally.
                    log.debug("ignored a write from viewer %s on %r", peer.label, self.name)
                    return
                self._apply(peer, update, deps)
            case AwarenessUpdate():
                self._apply_awareness(peer, message)
            case QueryAwareness():
                # y-websocket never sends it; an answer is O(everyone present), so a flood of
                # them shares the awareness budget and the excess goes unanswered.
                state = self.peers[peer]
                if (
                    self.present
                    and state.awareness_pending is None
                    and self._awareness_token(state)
                ):
                    peer.send(self._awareness_snapshot())

    def retire(self, code: int, reason: str) -> None:
        """Take no more writes and close every peer: the room is leaving (its document was
        deleted); it is never used again."""
        self.failed = True
        self.close_all(code, reason)

    def take_editors(self) -> list[str]:
        """Who edited since the last version was taken, for the next one; cleared."""
        editors, self.editors = sorted(self.editors), set()
        return editors

    def give_back_editors(self, editors: list[str]) -> None:
        """A version was not taken after all: its editors count for the next one."""
        self.editors.update(editors)

    def close_all(self, code: int, reason: str) -> None:
        for peer in list(self.peers):
            peer.close(code, reason)

    def title(self) -> str | None:
        """The document's title as kept by the editor in the `meta` map, if any."""
        if META not in self.doc.keys():
            return None
        meta = self.doc.get(META, type=Map)
        value = meta.get(TITLE)
        return value if isinstance(value, str) else None

    def apply_server_change(self, mutate: Callable[[Doc[Any]], None]) -> asyncio.Future[None]:
        """Make a change on the server's own Doc (e.g. a restore); it is stored, then relayed to
        every peer. The returned future resolves once it has committed."""
        if self.failed:
            raise RuntimeError(f"document {self.name!r} is being reloaded")
        before = self.doc.get_state()
        try:
            with self.doc.transaction(origin="server"):
                mutate(self.doc)
        except BaseException:
            if self.doc.get_state() != before:
                # A half-made change would be neither stored nor relayed: start over cleanly.
                self._fail("a server-side change failed halfway")
            raise
        update = self.doc.get_update(before)
        self._integrator.changed(update)
        future = self.store.append(self.name, update)
        self._tail = future
        relay: list[tuple[Peer | None, Relayed]] = [
            (None, (update, validate_update(update).sections))
        ]
        future.add_done_callback(lambda f: self._committed(f, None, update, relay))
        return future

    def _apply(self, peer: Peer, update: bytes, deps: Dependencies | None) -> None:
        if update == EMPTY_UPDATE:
            return
        if self.failed:
            raise ProtocolError(Close.INTERNAL, "document is being reloaded, reconnect")
        released = self.integrate(update, deps)
        if released is not None:
            self._check_state()
        # Held updates are relayed only once integrated: some held pairs crash pycrdt clients.
        relay: list[tuple[Peer | None, Relayed]] = []
        if released is not None:
            own = deps if deps is not None else validate_update(update)
            relay.append((peer, (update, own.sections)))
            relay.extend((None, (u, d.sections)) for u, d in released)
        future = self.store.append(self.name, update)
        self._tail = future
        future.add_done_callback(lambda f: self._committed(f, peer, update, relay))

    def integrate(
        self, update: bytes, deps: Dependencies | None = None
    ) -> list[tuple[bytes, Dependencies]] | None:
        """Apply an update to the live Doc whole, or hold it until what it depends on has
        arrived (see server.sync.integrate); held updates are stored as usual, so nothing is lost.
        Returns None when the update is held, else the held updates it released. Raises
        ProtocolError for an update pycrdt would refuse: nothing of it was applied."""
        try:
            return self._integrator.integrate(update, deps)
        except HalfApplied as exc:
            # Only if pycrdt fails on what it was shown to accept: the live Doc no longer
            # matches the store, so rebuild from it.
            self._fail(str(exc))
            raise ProtocolError(
                Close.INVALID_PAYLOAD, "update rejected by the CRDT engine"
            ) from exc

    def load(self, state: bytes, held: tuple[bytes, ...] = ()) -> None:
        """Seed the live Doc when the room opens with a fold's result (see server.sync.fold)."""
        self._integrator.load(state, held)

    def _check_state(self) -> None:
        """Compare the kept state vector with pycrdt's, at most once a second (it is O(clients)).

        They differ only if pycrdt kept part of an update pending although its dependencies
        looked present: the live Doc is then not what the store holds, so start over from it.
        """
        now = self._clock()
        if now - self._state_checked < 1.0:
            return
        self._state_checked = now
        if self._integrator.drifted():
            self._fail("live state vector drifted from the updates applied")

    @property
    def held(self) -> int:
        """Updates stored but not yet integrated into the live Doc."""
        return len(self._integrator.held)

    def _committed(
        self,
        future: asyncio.Future[None],
        origin: Peer | None,
        update: bytes,
        relay: list[tuple[Peer | None, Relayed]],
    ) -> None:
        if future.cancelled() or future.exception() is not None:
            error = "cancelled" if future.cancelled() else repr(future.exception())
            self._fail(f"store append failed: {error}")
            return
        self.log_rows += 1
        self.log_bytes += len(update)
        if origin is not None:
            state = self.peers.get(origin)
            if state is not None and state.name is not None:
                self.editors.add(state.name)
        if relay:
            self._relay.committed(relay)
        if self._on_change is not None:
            self._on_change(self)

    def relay_window(self) -> float:
        """Seconds between two relays to a peer of this document (see Relay.window)."""
        return self._relay.window()

    def _fail(self, why: str) -> None:
        # The live doc now differs from the store: drop every peer so that they reconnect to a
        # fresh load and resend whatever the store is missing.
        if self.failed:
            return
        self.failed = True
        log.error("%s in %r; closing its clients", why, self.name)
        self.close_all(Close.INTERNAL, "storage failure, reconnect")

    def _send_after_commit(self, peer: Peer, frame: bytes) -> None:
        tail = self._tail
        if tail is None or tail.done():
            peer.send(frame)
            return

        def deliver(f: asyncio.Future[None]) -> None:
            if not f.cancelled() and f.exception() is None and peer in self.peers:
                peer.send(frame)

        tail.add_done_callback(deliver)

    def _take_step1_token(self, peer: Peer) -> None:
        state = self.peers[peer]
        now = self._clock()
        rate, burst = self.settings.step1_per_second, float(self.settings.step1_burst)
        state.tokens = min(burst, state.tokens + (now - state.refilled_at) * rate)
        state.refilled_at = now
        if state.tokens < 1.0:
            raise ProtocolError(Close.POLICY, "too many sync step 1 requests")
        state.tokens -= 1.0

    def _apply_awareness(self, peer: Peer, message: AwarenessUpdate) -> None:
        self._forget_tombstones()
        state = self.peers[peer]
        owned = state.awareness_ids
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
        pending = state.awareness_pending
        if pending is not None and len(pending.keys() | {e.client_id for e in accepted}) > (
            2 * self.settings.max_awareness_ids
        ):
            # Only a connection churning through client ids gets here: each waiting removal
            # would otherwise be kept until the next token, however many there are.
            raise ProtocolError(Close.POLICY, "too many awareness client ids on one connection")
        if state.stamp is not None:
            accepted = [_stamped(entry, state.stamp) for entry in accepted]
        for entry in accepted:
            self._store_awareness(peer, owned, entry)
        if pending is None and self._awareness_token(state):
            untouched = state.stamp is None and len(accepted) == len(message.entries)
            frame = (
                encode_awareness(message.payload)
                if untouched
                else encode_awareness_entries(accepted)
            )
            # The sender too, as the reference server does: y-websocket clients reconnect
            # after 30 s without a message, and their own 15 s awareness renewal echoed back
            # keeps an idle tab's connection alive.
            self._broadcast(frame, exclude=None)
            return
        # Over budget: coalesce rather than refuse. Stored already (joiners see the latest),
        # relayed once a token is due, only the newest entry per client id, so the others
        # miss intermediate cursor positions but never the final one.
        if pending is None:
            pending = state.awareness_pending = {}
        for entry in accepted:
            pending[entry.client_id] = entry
        if state.awareness_timer is None:
            wait = (1.0 - state.awareness_tokens) / self.settings.awareness_per_second
            state.awareness_timer = asyncio.get_running_loop().call_later(
                wait, self._relay_pending_awareness, peer
            )

    def _awareness_token(self, state: _PeerState) -> bool:
        now = self._clock()
        rate, burst = self.settings.awareness_per_second, float(self.settings.awareness_burst)
        elapsed = now - state.awareness_refilled_at
        state.awareness_tokens = min(burst, state.awareness_tokens + elapsed * rate)
        state.awareness_refilled_at = now
        if state.awareness_tokens < 1.0:
            return False
        state.awareness_tokens -= 1.0
        return True

    def _relay_pending_awareness(self, peer: Peer) -> None:
        state = self.peers.get(peer)
        if state is None:
            return
        state.awareness_timer = None
        pending, state.awareness_pending = state.awareness_pending, None
        if not pending:
            return
        if not self._awareness_token(state):
            # The timer was set for when the next token is due; a clock read a moment later
            # may still be short of it. Spend what there is, so the rate holds and this relay
            # does not wait a second time.
            state.awareness_tokens = 0.0
        self._broadcast(encode_awareness_entries(pending.values()), exclude=None)

    def _claimable(self, peer: Peer, client_id: int) -> bool:
        current = self.awareness.get(client_id)
        owner = None if current is None else current.owner
        return owner is None or owner is peer or owner not in self.peers

    def _is_newer(self, entry: AwarenessEntry) -> bool:
        # The y-protocols rule: a newer clock wins; an equal clock may only remove.
        current = self.awareness.get(entry.client_id)
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
        current = self.awareness.get(entry.client_id)
        return current is not None and current.state != "null"

    def _store_awareness(self, peer: Peer, owned: set[int], entry: AwarenessEntry) -> None:
        if entry.removed:
            self._bury(entry.client_id, entry.clock)
            owned.discard(entry.client_id)
            return
        self.awareness[entry.client_id] = _AwarenessState(entry.clock, entry.state, peer)
        owned.add(entry.client_id)
        name = _display_name(entry.state)
        if name is not None:
            self.peers[peer].name = name

    def _bury(self, client_id: int, clock: int) -> None:
        """Replace a client's state with a tombstone, which keeps its clock so that a late echo
        of the old state is not revived; tombstones are forgotten after TOMBSTONE_SECONDS."""
        tomb = _AwarenessState(clock, "null", None)
        self.awareness[client_id] = tomb
        self._tombstones.append((self._clock() + TOMBSTONE_SECONDS, client_id, tomb))
        self._forget_tombstones()

    def _forget_tombstones(self) -> None:
        tombstones = self._tombstones
        now = self._clock()
        while tombstones and (tombstones[0][0] <= now or len(tombstones) > MAX_TOMBSTONES):
            _, cid, old = tombstones.popleft()
            if self.awareness.get(cid) is old:  # not revived or buried again since
                del self.awareness[cid]

    @property
    def present(self) -> int:
        """Awareness states currently shown (tombstones of departed clients aside)."""
        return sum(1 for s in self.awareness.values() if s.state != "null")

    def _awareness_snapshot(self) -> bytes:
        return encode_awareness_entries(
            AwarenessEntry(client_id=cid, clock=s.clock, state=s.state)
            for cid, s in self.awareness.items()
            if s.state != "null"
        )

    def _broadcast(self, frame: bytes, exclude: Peer | None) -> None:
        for peer in self.peers:
            if peer is not exclude:
                peer.send(frame)


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

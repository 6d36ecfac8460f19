"""One live document: its pycrdt Doc and peers; applies, persists, then relays (`Relay`) what
they write, and hands their awareness to `Presence`.

Must not import starlette, aiosqlite or uvicorn: a Room only talks to `Peer`s and a `DocumentStore`.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from pycrdt import Doc, Map

from ..background import Background
from ..closecodes import Close
from ..config import Settings
from ..content.schema import META, TITLE
from ..store.base import DocName, DocumentNotFound, DocumentStore, StoreError
from ..types import Peer, Role
from .follow import Follower
from .integrate import HalfApplied, Integrator
from .lib0 import ProtocolError
from .presence import Presence
from .protocol import (
    AwarenessUpdate,
    Message,
    QueryAwareness,
    SyncStep1,
    SyncStep2,
    SyncUpdate,
    encode_sync_step1,
    encode_sync_step2,
)
from .relay import Relay, Relayed, RelayGroup, relayed
from .writers import OPEN, Writers
from .yupdate import Dependencies, update_dependencies, validate_update

log = logging.getLogger("coedit.room")

EMPTY_UPDATE = b"\x00\x00"


class WriteGuard(Protocol):
    """A document whose every write is checked against who sends it (comments): the room asks
    before it applies anything, and ignores what is refused as it does a viewer's writes."""

    def refusal(self, doc: Doc[Any], update: bytes, deps: Dependencies, actor: Any) -> str | None:
        """None when `actor` may apply `update` to `doc`, else why not; `doc` is unchanged."""

    def changed(self) -> None:
        """The room changed its Doc itself (`apply_server_change`)."""


@dataclass(slots=True)
class _PeerState:
    group: RelayGroup
    role: Role = "editor"
    tokens: float = 0.0
    refilled_at: float = 0.0
    # Who the peer writes as, for the guard (a `comments.policy.Actor`); None without a guard.
    actor: Any = None
    # Names the connection as the sender of the updates it holds back (see integrate.py).
    serial: int = 0
    # The writer the connection named (its key's digest), None without one (see writers.py).
    writer: str | None = None


_serials = itertools.count(1)


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
        guard: WriteGuard | None = None,
    ) -> None:
        self.name = name
        self.guard = guard
        self.doc = doc
        self.store = store
        self.settings = settings
        self.peers: dict[Peer, _PeerState] = {}
        self.failed = False
        # Rows and bytes appended since the last compaction, for the compaction thresholds.
        self.log_rows = 0
        self.log_bytes = 0
        self.snapshot_bytes = 0  # as stored, for the compaction policy (see Rooms)
        self.stored_title = ""
        # Display names of the peers whose updates committed since the last version was taken.
        self.editors: set[str] = set()
        # Future of the newest append: replies computed now may only leave once it has committed.
        self._tail: asyncio.Future[Any] | None = None
        self._on_change = on_change
        self._relay = Relay(settings, lambda: self.failed)
        self.presence = Presence(settings, clock, lambda: self.peers)
        self._clock = clock
        # Keeps the Doc's state vector itself: reading it from pycrdt costs O(clients) per
        # update, which made a 600-client room fall seconds behind.
        self._integrator = Integrator(
            doc, max_held=settings.max_held_updates, max_held_bytes=settings.max_held_bytes
        )
        self._state_checked = clock()
        # Where this room stands in a log several instances share (see server.mesh).
        self.follower = Follower(0)
        # Updates this room gave the store that have not finished committing (see `wrote`).
        self._in_flight: Counter[bytes] = Counter()
        self.writers = Writers()
        self.background = Background(log)

    def join(
        self,
        peer: Peer,
        role: Role = "editor",
        stamp: dict[str, Any] | None = None,
        actor: Any = None,
        writer: str | None = None,
    ) -> None:
        """Add a peer; a "viewer" gets every read but none of its writes are applied, and so
        does a "commenter" unless the room has a guard (a comments document) that allows it."""
        now = self._clock()
        group = self._relay.join(peer)
        self.peers[peer] = _PeerState(
            group=group,
            role=role,
            tokens=float(self.settings.step1_burst),
            refilled_at=now,
            actor=actor,
            serial=next(_serials),
            writer=writer,
        )
        peer.send(encode_sync_step1(self.doc.get_state()))
        self.presence.join(peer, stamp)

    def leave(self, peer: Peer) -> None:
        state = self.peers.pop(peer, None)
        if state is None:
            return
        self.writers.forget(self.presence.owned(peer))
        self._relay.leave(peer, state.group)
        self.presence.leave(peer)

    def receive(self, peer: Peer, message: Message) -> None:
        """Handle one decoded message; raises ProtocolError to have this peer closed."""
        match message:
            case SyncStep1(state_vector=sv):
                self._take_step1_token(peer)
                self._send_after_commit(peer, encode_sync_step2(self.doc.get_update(sv)))
            case SyncStep2(update=update, deps=deps) | SyncUpdate(update=update, deps=deps):
                state, name = self.peers[peer], self.name
                writes = ("commenter", "editor", "owner") if self.guard else ("editor", "owner")
                if state.role not in writes:
                    # Never applied, stored or relayed. Not an error: a read-only client still
                    # answers the server's step 1 with whatever it holds locally.
                    level = logging.DEBUG if update == EMPTY_UPDATE else logging.INFO
                    log.log(level, "ignored a write from %s %s on %r", state.role, peer.label, name)
                    return
                if self.guard is not None and update != EMPTY_UPDATE:
                    deps = deps if deps is not None else update_dependencies(update)
                    why = self.guard.refusal(self.doc, update, deps, state.actor)
                    if why is not None:
                        # Answered as a viewer's writes are: ignored, never stored or relayed.
                        log.info("refused a write from %s on %r: %s", peer.label, self.name, why)
                        return
                self._apply(peer, update, deps)
            case AwarenessUpdate():
                # Only ids this instance has never shown: y-websocket clients echo the
                # presence they receive (also another instance's), and an echo names an id
                # someone else announced first.
                new = {e.client_id for e in message.entries} - self.presence.states.keys()
                shown = self.presence.owned(peer)
                self.presence.apply(peer, message)
                now = self.presence.owned(peer)
                writer = self.peers[peer].writer
                for client in now & new:
                    self.writers.announce(client, writer, self._has)
                self.writers.forget(shown - now)
            case QueryAwareness():
                self.presence.query(peer)

    def retire(self, code: int, reason: str) -> None:
        """Take no more writes and close every peer: the room is leaving (its document was
        deleted); it is never used again."""
        self.failed = True
        self.close_all(code, reason)

    def log_found(self, rows: int, size: int, snapshot_bytes: int) -> None:
        """What the store held when the room was loaded, for the compaction policy (Rooms)."""
        self.log_rows, self.log_bytes, self.snapshot_bytes = rows, size, snapshot_bytes

    def log_compacted(self, rows: int, size: int, snapshot_bytes: int) -> None:
        """A compaction folded this many of the rows counted, into a snapshot of this size."""
        self.log_rows -= rows
        self.log_bytes -= size
        self.snapshot_bytes = snapshot_bytes

    def title_stored(self, title: str) -> None:
        """The title the store holds now (the home page lists it)."""
        self.stored_title = title

    def take_editors(self) -> list[str]:
        """Who edited since the last version was taken, for the next one; cleared."""
        editors, self.editors = sorted(self.editors), set()
        return editors

    def give_back_editors(self, editors: list[str]) -> None:
        """A version was not taken after all: its editors count for the next one."""
        self.editors.update(editors)

    def peer_roles(self) -> list[tuple[Peer, Role]]:
        """Each peer with the role it joined with."""
        return [(peer, state.role) for peer, state in self.peers.items()]

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
        if self.guard is not None:
            self.guard.changed()
        deps = self._integrator.changed(update)
        # Unknown sections and deletions (None): the relay never merges it (see relay.py).
        part: Relayed = (update, (), frozenset()) if deps is None else relayed(update, deps)
        return self._append([update], None, [(None, part)])[0]

    def _apply(self, peer: Peer, update: bytes, deps: Dependencies | None) -> None:
        if update == EMPTY_UPDATE:
            return
        if self.failed:
            raise ProtocolError(Close.INTERNAL, "document is being reloaded, reconnect")
        if deps is None:
            deps = update_dependencies(update)
        if deps.subdocs:
            # yrs never frees a Doc that holds a subdocument (a reference cycle): every trial
            # copy, reload and search index of the document would leak all of it (soak seed
            # 73: 70 MiB after 7,000 frames). No editor of Coedit's makes one, and this server
            # could not sync its content anyway (one WebSocket per document). Stored ones from
            # before are still folded.
            raise ProtocolError(Close.UNSUPPORTED, "subdocuments are not supported")
        state = self.peers[peer]
        clients = (client for client, _, _ in deps.sections)
        self._store_bindings(self.writers.check_structs(clients, state.writer, self._has))
        taken = self.integrate(update, deps, sender=state.serial)
        if taken is None:
            # Held: stored once released, right after what released it, so that the log is in
            # the order the Doc integrated (a reload then agrees even with a forged update
            # claiming the same clocks). Until then it reached nobody: a client that sent it
            # still has it and sends it again after a restart (its sync step 2).
            return
        self._check_state()
        # Held updates are relayed only once integrated: some held pairs crash pycrdt clients.
        # Stored and relayed as the Doc took them, so every peer and a reload integrate them
        # as the live Doc did.
        relay: list[tuple[Peer | None, Relayed]] = [
            (peer if index == 0 else None, relayed(u, d)) for index, (u, d) in enumerate(taken)
        ]
        stored = [u for u, _ in taken]
        self._append(stored, peer, relay)

    def apply_committed(self, updates: list[bytes]) -> None:
        """Rows another instance committed to this document's shared log, in their order:
        applied, then relayed to this room's peers at once (they are durable already)."""
        if self.failed:
            return
        relay: list[tuple[Peer | None, Relayed]] = []
        unstored: list[bytes] = []
        for update in updates:
            try:
                deps = validate_update(update)
                self._ask_for_bindings(client for client, _, _ in deps.sections)
                taken = self.integrate(update, deps)
            except ProtocolError as exc:
                # Another instance integrated it: refusing it here means this Doc is not what
                # the store holds any more.
                self._fail(f"a row committed by another instance was refused: {exc.reason}")
                return
            if taken is None:
                continue  # waits for a predecessor, like any update (see _apply)
            relay.extend((None, relayed(u, d)) for u, d in taken)
            # Updates of this room's own peers were held until now and never stored; stored
            # rows released again cost a duplicate row, which applies as a no-op.
            unstored.extend(u for u, _ in taken[1:])
        self._check_state()
        self.log_rows += len(updates)
        self.log_bytes += sum(len(update) for update in updates)
        if unstored:
            self._append(unstored, None, relay)
            return
        if relay:
            self._relay.committed(relay)
        if self._on_change is not None:
            self._on_change(self)

    def wrote(self, update: bytes) -> bool:
        """Whether this room is storing `update` (its Doc has it): a shared log's row this
        instance committed is in this room's Doc only if this room wrote it, not if a room
        that failed before it did (see server.mesh)."""
        return self._in_flight[update] > 0

    def _landed(self, update: bytes, _future: asyncio.Future[Any]) -> None:
        self._in_flight[update] -= 1
        if self._in_flight[update] <= 0:
            del self._in_flight[update]

    def _append(
        self,
        updates: list[bytes],
        origin: Peer | None,
        relay: list[tuple[Peer | None, Relayed]],
    ) -> list[asyncio.Future[None]]:
        """Store `updates` in order, then relay `relay`. Their futures settle in the order
        appended (the store's queue commits in order), so the last one's settles last."""
        futures = [self.store.append(self.name, update) for update in updates]
        for update, each in zip(updates, futures, strict=True):
            self._in_flight[update] += 1
            each.add_done_callback(functools.partial(self._landed, update))
        self._tail = futures[-1]
        # On the last future itself, never on a gather of them: a gather settles one turn of
        # the loop later, so a single update appended after these would reach peers first, and
        # a peer would get a client's later clocks before its earlier ones (the soak's seed
        # 30: a pycrdt reader then lost the later ones for good).
        futures[-1].add_done_callback(lambda _: self._committed(futures, origin, updates, relay))
        return futures

    def integrate(
        self, update: bytes, deps: Dependencies | None = None, sender: int | None = None
    ) -> list[tuple[bytes, Dependencies]] | None:
        """Apply an update to the live Doc whole, or hold it until what it depends on has
        arrived (see server.sync.integrate); a held update is stored once released.
        Returns None when the update is held, else what the Doc took (the update, then the
        held updates it released; see `Integrator.integrate`). Raises ProtocolError for an
        update pycrdt would refuse: nothing of it was applied."""
        try:
            return self._integrator.integrate(update, deps, sender)
        except HalfApplied as exc:
            # Only if pycrdt fails on what it was shown to accept: the live Doc no longer
            # matches the store, so rebuild from it.
            self._fail(str(exc))
            raise ProtocolError(
                Close.INVALID_PAYLOAD, "update rejected by the CRDT engine"
            ) from exc

    def _has(self, client: int) -> bool:
        return self._integrator.state.get(client, 0) > 0

    def _store_bindings(self, claims: dict[int, str]) -> None:
        """Store client-id bindings this instance made; the store's answer wins (another
        instance may have bound one of them first)."""
        if claims:
            self.background.spawn(self._bind(claims), f"binding writers of {self.name!r}")

    async def _bind(self, claims: dict[int, str]) -> None:
        try:
            stored = await self.store.bind_writers(self.name, claims)
        except DocumentNotFound:
            return  # deleted meanwhile: nothing to protect
        for client, (assumed, held) in self.writers.learn(stored).items():
            log.warning(
                "client id %d of %r was bound to %r by another instance, not %r",
                client,
                self.name,
                held or "anyone",
                assumed or "anyone",
            )

    def _ask_for_bindings(self, clients: Iterable[int]) -> None:
        """Structs of ids this instance has no binding for came from another instance: until
        the store tells whose they are, this instance's connections may not write them."""
        unknown = self.writers.written_elsewhere(clients)
        if unknown:
            self.background.spawn(self._learn(), f"reading the writers of {self.name!r}")

    async def _learn(self) -> None:
        for _ in range(50):
            self.writers.learn(await self.store.writers(self.name))
            if not self.writers.unknown:
                return
            await asyncio.sleep(0.1)  # its binding may commit just after its row
        log.warning(
            "%d client id(s) of %r written by another instance have no stored binding: open",
            len(self.writers.unknown),
            self.name,
        )
        self.writers.learn(dict.fromkeys(self.writers.unknown, OPEN))

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
        """Updates waiting for a predecessor: neither integrated nor stored yet."""
        return len(self._integrator.held)

    @property
    def held_bytes(self) -> int:
        return self._integrator.held_bytes

    def _committed(
        self,
        futures: list[asyncio.Future[None]],
        origin: Peer | None,
        stored: list[bytes],
        relay: list[tuple[Peer | None, Relayed]],
    ) -> None:
        failed = [f for f in futures if f.cancelled() or f.exception() is not None]
        if failed:
            exc = None if failed[0].cancelled() else failed[0].exception()
            # The store is unreachable (retried already): say "later", nothing was relayed.
            later = isinstance(exc, StoreError) and not isinstance(exc, DocumentNotFound)
            code = Close.TRY_AGAIN if later else Close.INTERNAL
            self._fail(f"store append failed: {exc!r}", code)
            return
        self.log_rows += len(stored)
        self.log_bytes += sum(len(update) for update in stored)
        if origin is not None:
            name = self.presence.name_of(origin)
            if name is not None:
                self.editors.add(name)
        if relay:
            self._relay.committed(relay)
        if self._on_change is not None:
            self._on_change(self)

    def relay_window(self) -> float:
        """Seconds between two relays to a peer of this document (see Relay.window)."""
        return self._relay.window()

    def resync(self, why: str, code: int = Close.INTERNAL) -> None:
        """The live Doc can no longer follow the store: its peers reconnect to a fresh load."""
        self._fail(why, code)

    def _fail(self, why: str, code: int = Close.INTERNAL) -> None:
        # The live doc now differs from the store: drop every peer so that they reconnect to a
        # fresh load and resend whatever the store is missing.
        if self.failed:
            return
        self.failed = True
        log.error("%s in %r; closing its clients", why, self.name)
        self.close_all(code, "storage failure, reconnect")

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

    @property
    def awareness(self) -> dict[int, Any]:
        """Awareness states by client id (tombstones of departed clients included)."""
        return self.presence.states

    @property
    def present(self) -> int:
        """Awareness states currently shown (tombstones of departed clients aside)."""
        return self.presence.present

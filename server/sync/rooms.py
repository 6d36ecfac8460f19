"""The registry of live rooms: single-flight load, guarded unload, debounced compaction, shutdown.

Must not import starlette, aiosqlite or uvicorn; it reaches storage only through DocumentStore.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from typing import Any, Protocol

from .. import memory
from ..background import Background
from ..closecodes import Close
from ..config import Settings
from ..store.base import DocName, DocumentNotFound, DocumentStore, comments_name, comments_parent
from ..types import Peer, Revocation, Role, Standing
from .fold import Folded, fold
from .follow import Follower
from .integrate import new_doc
from .room import Room, WriteGuard
from .writers import Writers

log = logging.getLogger("coedit.rooms")

# Arrivals are settled (see memory.settle) this long after the first of a burst...
SETTLE_AFTER_SECONDS = 1.0
# ...and the garbage departures leave in reference cycles is collected after this many.
RELEASE_AFTER_DEPARTURES = 1000


class ShuttingDown(RuntimeError):
    """The server is stopping and takes no new joins."""


class RoomHooks(Protocol):
    """Features that follow a room's life (version history) without the room knowing them."""

    def committed(self, room: Room) -> None:
        """An update to the room's document has committed."""

    async def emptied(self, room: Room) -> None:
        """The last peer left; everything it sent has committed. Runs before the unload."""


class _Borrower:
    """Stands in as a peer while server code uses a room, so it is neither unloaded nor empty."""

    label = "server"
    grant: Standing | None = None

    def send(self, frame: bytes) -> None:
        del frame

    def close(self, code: int, reason: str) -> None:
        del code, reason


class Rooms:
    """Owns every live Room; one Room object per name at any time."""

    def __init__(
        self,
        store: DocumentStore,
        settings: Settings,
        hooks: Sequence[RoomHooks] = (),
        fold: Callable[[list[bytes], bool], Awaitable[Folded]] | None = None,
        guard: Callable[[], WriteGuard] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.hooks = list(hooks)
        # Makes the check of every write to a comments room (`comments.guard.CommentGuard`), one
        # per room; None: nothing is checked.
        self._guard = guard
        # Big documents fold in a worker process; without one (unit tests) they fold inline.
        self._fold = fold
        self._release_timer: asyncio.TimerHandle | None = None
        self._settle_pending = False
        self._departures = 0
        self._rooms: dict[DocName, Room] = {}
        self._loading: dict[DocName, asyncio.Task[Room]] = {}
        self._unload_timers: dict[DocName, asyncio.TimerHandle] = {}
        self._compact_timers: dict[DocName, asyncio.TimerHandle] = {}
        self._compacting: dict[DocName, asyncio.Task[None]] = {}
        self._tasks = Background(log)
        self._closing = False
        self._drained = asyncio.Event()
        # Joined connections whose close has not finished; shutdown waits for them.
        self._connections = 0
        # Several instances (server.mesh): told of each room loaded, and of revocations and
        # deletions made here, so that the other instances apply them too.
        self.loaded: Callable[[Room], None] | None = None
        self.announce: Callable[[dict[str, Any]], None] | None = None
        self.follow_store: Callable[[Room], Awaitable[None]] | None = None
        # Set when a drain began: the load balancer should send new clients elsewhere.
        self.draining = False

    async def __aenter__(self) -> Rooms:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    @property
    def connections(self) -> int:
        """Connections joined and not yet finished closing."""
        return self._connections

    def __len__(self) -> int:
        return len(self._rooms)

    def live(self, name: DocName) -> Room | None:
        """The loaded room of this name, unless it failed (its next joiner reloads it)."""
        room = self._rooms.get(name)
        return None if room is None or room.failed else room

    def names(self) -> list[DocName]:
        return list(self._rooms)

    async def catch_up(self, room: Room) -> None:
        """Apply what other instances committed to the room's document so far (before server
        code changes the live Doc, e.g. a restore); nothing to do on a store of one machine."""
        if self.follow_store is not None:
            await self.follow_store(room)

    async def join(
        self,
        name: DocName,
        peer: Peer,
        role: Role = "editor",
        stamp: dict[str, Any] | None = None,
        actor: Any = None,
        writer: str | None = None,
    ) -> Room:
        """Add a peer to the named room, loading it once however many peers arrive together.
        `writer`: whom the connection writes for (see sync/writers.py), None if it named none."""
        while True:
            if self._closing:
                raise ShuttingDown("server is shutting down")
            room = self._rooms.get(name)
            if room is not None and room.failed:
                # Its live doc may hold updates the store refused; a fresh load starts clean.
                del self._rooms[name]
                room = None
            if room is not None:
                self._cancel(self._unload_timers, name)
                room.join(peer, role, stamp, actor, writer)
                self._connections += 1
                if not self._settle_pending:
                    # Once per burst of arrivals: they and their rooms stay a while.
                    self._settle_pending = True
                    asyncio.get_running_loop().call_later(SETTLE_AFTER_SECONDS, self._settle)
                return room
            task = self._loading.get(name)
            if task is None:
                task = asyncio.create_task(self._load(name), name=f"load {name!r}")
                self._loading[name] = task
                task.add_done_callback(lambda _t: self._loading.pop(name, None))
            # Shielded: one joiner giving up must not cancel the load the others wait for.
            await asyncio.shield(task)

    @contextlib.asynccontextmanager
    async def borrow(self, name: DocName) -> AsyncIterator[Room]:
        """Load (or share) the live room for server-side work such as a restore."""
        borrower = _Borrower()
        room = await self.join(name, borrower)
        try:
            yield room
        finally:
            self.leave(room, borrower)

    def leave(self, room: Room, peer: Peer) -> None:
        """Called once per successful join, when the peer's connection has finished closing."""
        room.leave(peer)
        self._connections -= 1
        self._departures += 1
        if self._departures >= RELEASE_AFTER_DEPARTURES:
            self._release_soon()
        else:
            # A departed connection's garbage holds what it last received (a frame of up to
            # max_message_bytes) and, settled, waits for a release: bound how long, not only
            # how many, at one full collection per this interval at most.
            self._release_soon(self.settings.memory_release_seconds)
        if self._closing and self._connections == 0:
            self._drained.set()
        if room.peers or self._closing or self._rooms.get(room.name) is not room:
            return
        self._cancel(self._unload_timers, room.name)
        self._unload_timers[room.name] = asyncio.get_running_loop().call_later(
            self.settings.unload_grace_seconds,
            lambda: self._spawn(self._unload(room), f"unload of {room.name!r}"),
        )

    async def delete(self, name: DocName) -> bool:
        """Close the document's clients with 4404 and remove it from memory and the store."""
        self.drop(name)
        await self.store.flush()
        deleted = await self.store.delete(name)
        if self.announce is not None:
            self.announce({"kind": "deleted", "name": name})
        return deleted

    def removed(self, name: DocName) -> None:
        """The document left (the trash): close its clients with 4404 here and on every
        instance."""
        self.drop(name)
        if self.announce is not None:
            self.announce({"kind": "deleted", "name": name})

    def drop(self, name: DocName) -> None:
        """Close the document's clients with 4404 and forget its rooms (it was deleted)."""
        for doomed in (name, comments_name(name)):  # its comments go with it
            room = self._rooms.pop(doomed, None)
            if room is not None:
                # No more appends from this room: its peers are leaving and it is out of the map.
                room.retire(Close.DELETED, "document deleted")
                self._cancel(self._unload_timers, doomed)
                self._cancel(self._compact_timers, doomed)

    def close_where(
        self, name: DocName, revoked: Revocation, code: int, reason: str, *, here: bool = False
    ) -> int:
        """Close the document's peers (its comments' too) whose grant the revocation matches,
        on every instance unless `here`; returns how many were closed on this one."""
        if self.announce is not None and not here:
            event = {"kind": "revoked", "name": name, "code": code, "reason": reason}
            self.announce({**event, "user_id": revoked.user_id, "link_id": revoked.link_id})
        rooms = [self._rooms.get(name), self._rooms.get(comments_name(name))]
        doomed = [
            peer
            for room in rooms
            if room is not None
            for peer in room.peers
            if peer.grant is not None and revoked.matches(peer.grant)
        ]
        for peer in doomed:
            peer.close(code, reason)
        return len(doomed)

    def close_all(self, code: int, reason: str) -> None:
        for room in self._rooms.values():
            room.close_all(code, reason)

    async def drain(self, delay: float, spread: float) -> None:
        """Leave without a reconnect storm (a rolling restart): say not ready, give the load
        balancer `delay` to notice, then close the clients with 1012 spread over `spread`, so
        that the other instances take them over at a steady pace."""
        self.draining = True
        await asyncio.sleep(delay)
        peers = [(room, peer) for room in self._rooms.values() for peer in room.peers]
        self._closing = True  # whoever still arrives is told to come back (1001)
        pause = spread / len(peers) if peers else 0.0
        for room, peer in peers:
            if peer in room.peers:
                peer.close(Close.SERVICE_RESTART, "server restarting, reconnect")
                await asyncio.sleep(pause)

    async def close_gracefully(self, timeout: float = 3.0) -> None:
        """Refuse new joins, close every client with 1001 and wait (bounded) for them to leave."""
        self._closing = True
        self.close_all(Close.GOING_AWAY, "server shutting down")
        if self._connections:
            try:
                await asyncio.wait_for(self._drained.wait(), timeout)
            except TimeoutError:
                log.warning("some clients did not close within %.1f s", timeout)

    async def shutdown(self) -> None:
        """Close every client with 1001, then flush and compact every loaded document."""
        await self.close_gracefully()
        for timers in (self._unload_timers, self._compact_timers):
            for handle in timers.values():
                handle.cancel()
            timers.clear()
        if self._release_timer is not None:
            self._release_timer.cancel()
            self._release_timer = None
        await self.store.flush()
        await self._tasks.wait()
        for room in list(self._rooms.values()):
            for hook in self._hooks(room):
                await hook.emptied(room)
            await self._compact(room)
        self._rooms.clear()

    async def _load(self, name: DocName) -> Room:
        # A document is created on first connect, so a link can be shared before anyone writes.
        info = await self.store.ensure(name)
        stored = await self.store.load(name)
        writers = await self.store.writers(name)
        commented = comments_parent(name) is not None
        room = Room(
            name,
            new_doc(),
            self.store,
            self.settings,
            on_change=self._changed,
            guard=self._guard() if commented and self._guard is not None else None,
        )
        parts = [] if stored is None else stored.parts
        if stored is not None and stored.snapshot_complete and parts == [stored.snapshot]:
            # Folded at compaction with nothing pending: one fast apply, no checks needed.
            room.load(parts[0])
        elif stored is not None and parts:
            legacy = stored.snapshot is not None and not stored.snapshot_complete
            folded = (
                await self._fold(parts, legacy) if self._fold is not None else fold(parts, legacy)
            )
            room.load(folded.state, folded.held)
        room.writers = Writers(writers)
        room.title_stored(info.title)
        if stored is not None:
            room.follower = Follower(stored.head_seq)
            room.log_found(
                len(stored.updates),
                sum(len(u) for u in stored.updates),
                len(stored.snapshot or b""),
            )
        self._rooms[name] = room
        if self.loaded is not None:
            self.loaded(room)
        log.debug("loaded %r (%d log rows)", name, room.log_rows)
        self._schedule_compaction(room)
        return room

    async def _unload(self, room: Room) -> None:
        self._unload_timers.pop(room.name, None)
        if room.peers or self._rooms.get(room.name) is not room:
            return
        await self.store.flush()
        for hook in self._hooks(room):
            await hook.emptied(room)
        # Re-check after the awaits: a peer may have joined meanwhile.
        if room.peers or self._rooms.get(room.name) is not room:
            return
        del self._rooms[room.name]
        self._cancel(self._compact_timers, room.name)
        log.debug("unloaded %r", room.name)
        await self._compact(room)
        self._release_soon()  # idle documents should leave memory, not just the map

    def _release_soon(self, delay: float = 1.0) -> None:
        # Once per burst of unloads or departures: a release already due sooner covers this.
        loop = asyncio.get_running_loop()
        timer = self._release_timer
        if timer is not None:
            if timer.when() <= loop.time() + delay:
                return
            timer.cancel()
        self._release_timer = loop.call_later(delay, self._release_memory)

    def _settle(self) -> None:
        self._settle_pending = False
        memory.settle()

    def _changed(self, room: Room) -> None:
        for hook in self._hooks(room):
            hook.committed(room)
        title = room.title()
        if title is not None and title != room.stored_title:
            # The home page lists titles from the store: keep it current, not just at compaction.
            room.title_stored(title)
            self._spawn(self._store_title(room.name, title), f"storing the title of {room.name!r}")
        self._schedule_compaction(room)

    async def _store_title(self, name: DocName, title: str) -> None:
        try:
            await self.store.set_title(name, title)
        except DocumentNotFound:
            log.debug("%r was deleted before its title was stored", name)

    def _schedule_compaction(self, room: Room) -> None:
        if self._closing or room.log_rows == 0 or room.name in self._compacting:
            return  # a running compaction looks again when it ends
        self._cancel(self._compact_timers, room.name)
        s = self.settings
        over = room.log_rows >= s.compact_max_rows or room.log_bytes >= s.compact_max_bytes
        # Each compaction rewrites the whole snapshot: at 1,000 rows a big, busy document was
        # rewritten several times a second (2,000 typists: a sixth of the server's core).
        # Waiting until the log is half the snapshot keeps the cost per appended byte bounded.
        due = over and (
            2 * room.log_bytes >= room.snapshot_bytes or room.log_rows >= s.compact_rows_limit
        )
        delay = 0.0 if due else s.compact_idle_seconds
        self._compact_timers[room.name] = asyncio.get_running_loop().call_later(
            delay, self._start_compaction, room
        )

    def _start_compaction(self, room: Room) -> asyncio.Task[None]:
        """The room's running compaction, or a new one: never two at once. (Every commit of a
        busy document used to start one while another ran; they queued up and refolded the
        whole snapshot back to back, a quarter of the server's core at 2,000 typists.)"""
        self._cancel(self._compact_timers, room.name)
        running = self._compacting.get(room.name)
        if running is not None:
            return running
        task = self._spawn(self._compact_now(room), f"compaction of {room.name!r}")
        self._compacting[room.name] = task
        task.add_done_callback(lambda done: self._compacted(room, done))
        return task

    def _compacted(self, room: Room, task: asyncio.Task[None]) -> None:
        # A failure is logged by Background, like any background task's.
        if self._compacting.get(room.name) is task:
            del self._compacting[room.name]
        succeeded = not task.cancelled() and task.exception() is None
        if succeeded and self._rooms.get(room.name) is room:
            # Commits made while it ran scheduled nothing: look at the log again now.
            self._schedule_compaction(room)

    async def _compact(self, room: Room) -> None:
        """Compact everything committed so far (unload, shutdown); failures are logged."""
        running = self._compacting.get(room.name)
        if running is not None:
            await asyncio.wait([running])  # it may have read the log before the last commits
        await asyncio.wait([self._start_compaction(room)])

    async def _compact_now(self, room: Room) -> None:
        # These rows have committed, so the compaction below folds them all; rows committed
        # meanwhile may be folded too and are counted until the next one (a little early).
        rows, size = room.log_rows, room.log_bytes
        await self.store.flush()
        try:
            snapshot_bytes = await self.store.compact(room.name)
        except DocumentNotFound:
            log.debug("%r was deleted before its compaction", room.name)
            return
        room.log_compacted(rows, size, snapshot_bytes)

    def _release_memory(self) -> None:
        self._release_timer = None
        self._departures = 0
        rooms = self._rooms.values()
        memory.release(sum(room.held for room in rooms), sum(room.held_bytes for room in rooms))

    def _spawn(
        self, coro: Coroutine[Any, Any, None], name: str = "background task"
    ) -> asyncio.Task[None]:
        return self._tasks.spawn(coro, name)

    def _hooks(self, room: Room) -> list[RoomHooks]:
        # Comments are not text: versions and the like follow the document's text only.
        return [] if comments_parent(room.name) is not None else self.hooks

    @staticmethod
    def _cancel(timers: dict[DocName, asyncio.TimerHandle], name: DocName) -> None:
        handle = timers.pop(name, None)
        if handle is not None:
            handle.cancel()

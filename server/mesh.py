"""This instance among the others that share its store (PostgreSQL): every instance serves every
document, and each live room applies every row of its document's log once, in sequence order.

The store is the record and the bus (Redis) only makes delivery fast. A row reaches this
instance's peers when it committed here (the room relays it) or when the bus or the store says
another instance committed it; a row the bus lost is a gap in the sequence, read back from the
store, and every `head_check_seconds` (faster while the bus is down) one query compares the
store's newest row of each loaded document with what its room applied. Awareness, revocations
and deletions travel over the bus only: without it they stay on their instance, and a stopped
instance's cursors are removed once it has been silent for `instance_dead_seconds` while the bus
was up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from .access import RANK
from .bus import Bus
from .closecodes import Close
from .config import Settings
from .store.base import (
    CommittedRow,
    DocName,
    DocumentNotFound,
    SharedLog,
    StoreError,
    User,
    comments_parent,
)
from .sync.lib0 import ProtocolError
from .sync.protocol import AwarenessUpdate, decode
from .sync.room import Room
from .sync.rooms import Rooms
from .types import Revocation, Role

# What a connection's standing (its user, its share link) is worth now; None: nothing.
Recheck = Callable[[DocName, User | None, int | None], Awaitable[Role | None]]

log = logging.getLogger("coedit.mesh")

# Two instances commit rows of one document at nearly the same time and publish them in either
# order: a row ahead of its predecessor waits this long for it before the store is asked.
GAP_WAIT_SECONDS = 0.1


class Mesh:
    def __init__(
        self,
        store: SharedLog,
        rooms: Rooms,
        bus: Bus | None,
        settings: Settings,
        instance: str,
        recheck: Recheck | None = None,
    ) -> None:
        self.store = store
        self.rooms = rooms
        self.bus = bus
        self.settings = settings
        self.instance = instance
        self._repairs: dict[Room, asyncio.Task[None] | asyncio.TimerHandle] = {}
        self._seen: dict[str, float] = {}  # other instances' last heartbeat
        self._bus_up_since = time.monotonic()
        self._poller: asyncio.Task[None] | None = None
        self._recheck = recheck
        self._rechecked = time.monotonic()

    async def start(self) -> None:
        self.store.on_commit(self._committed)
        self.rooms.loaded = self._loaded
        self.rooms.announce = self._announce
        self.rooms.follow_store = self.catch_up
        if self.bus is not None:
            await self.bus.start(self)
        self._poller = asyncio.get_running_loop().create_task(self._poll(), name="mesh poll")

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        for pending in list(self._repairs.values()):
            pending.cancel()
        if self.bus is not None:
            await self.bus.close()

    @property
    def degraded(self) -> bool:
        return self.bus is not None and not self.bus.healthy

    # -- rows ------------------------------------------------------------------------------

    def _committed(self, rows: list[CommittedRow]) -> None:
        for row in rows:
            room = self.rooms.live(row.name)
            if room is None:
                continue
            if room.wrote(row.update):
                self._apply(room, room.follower.own(row.seq))
            else:
                # Written by a room of this instance that failed meanwhile: new to this one.
                self._apply(room, room.follower.offer(row.seq, row.update))
        if self.bus is not None:
            self.bus.publish_rows(rows)

    def rows(self, name: DocName, rows: list[tuple[int, bytes | None]]) -> None:
        room = self.rooms.live(name)
        if room is None:
            return
        due: list[bytes] = []
        missing = False
        for seq, update in rows:
            if update is None:  # too big for the bus: read it from the store
                missing = missing or seq > room.follower.applied
                continue
            due.extend(room.follower.offer(seq, update))
        # Applied together: one relay turn and one change notice for the lot.
        self._apply(room, due)
        if missing:
            self._repair(room, 0.0)
        elif room.follower.gap:
            self._repair(room, GAP_WAIT_SECONDS)

    def _apply(self, room: Room, due: list[bytes]) -> None:
        if due:
            room.apply_committed(due)

    def _repair(self, room: Room, delay: float) -> None:
        if room in self._repairs:
            return
        loop = asyncio.get_running_loop()
        self._repairs[room] = loop.call_later(delay, self._start_repair, room)

    def _start_repair(self, room: Room) -> None:
        task = asyncio.get_running_loop().create_task(
            self._read_missing(room), name=f"catching up {room.name!r}"
        )
        self._repairs[room] = task
        task.add_done_callback(lambda t: self._repaired(room, t))

    def _repaired(self, room: Room, task: asyncio.Task[None]) -> None:
        if self._repairs.get(room) is task:
            del self._repairs[room]
        if not task.cancelled() and task.exception() is not None:
            log.error("catching up %r failed", room.name, exc_info=task.exception())

    async def _read_missing(self, room: Room) -> None:
        try:
            rows = await self.store.read_since(room.name, room.follower.applied)
        except DocumentNotFound:
            return  # deleted meanwhile; the deletion closes its peers
        except StoreError as exc:
            log.warning("catching up %r: %s (the next check tries again)", room.name, exc)
            return
        if self.rooms.live(room.name) is not room:
            return
        if rows is None:
            # Compaction folded rows this room never saw: its peers reconnect to a fresh load
            # (they lose nothing: each resends what the store lacks in its sync step 2).
            room.resync("fell behind a compaction of its shared log")
            return
        for seq, update in rows:
            self._apply(room, room.follower.offer(seq, update))

    async def catch_up(self, room: Room) -> None:
        """Apply every row the store holds now (before a change computed on the live Doc)."""
        heads = await self.store.heads([room.name])
        if heads.get(room.name, 0) > room.follower.applied:
            await self._read_missing(room)

    async def _poll(self) -> None:
        while True:
            healthy = self.bus is not None and self.bus.healthy
            s = self.settings
            await asyncio.sleep(s.head_check_seconds if healthy else s.degraded_poll_seconds)
            try:
                await self._check_heads()
            except StoreError as exc:
                # The store retried for its retry time already: nothing can be saved, so
                # nobody should keep typing into a page that looks live. Clients keep their
                # edits (IndexedDB) and reconnect once it answers again.
                log.error("the shared store is unreachable (%s): closing clients", exc)
                for name in self.rooms.names():
                    room = self.rooms.live(name)
                    if room is not None:
                        room.resync("the store is unreachable", Close.TRY_AGAIN)
            self._judge_instances()
            if self._recheck is not None and (
                time.monotonic() - self._rechecked >= self.settings.grant_recheck_seconds
            ):
                self._rechecked = time.monotonic()
                try:
                    await self._recheck_grants(self._recheck)
                except StoreError as exc:
                    log.warning("checking connections' access again: %s", exc)

    async def _check_heads(self) -> None:
        names = self.rooms.names()
        if self.bus is not None:
            for name in set(self.bus.following()) - set(names):
                self.bus.unfollow(name)
        if not names:
            return
        for name, head in (await self.store.heads(names)).items():
            room = self.rooms.live(name)
            if room is not None and head > room.follower.applied:
                self._repair(room, 0.0)

    async def _recheck_grants(self, recheck: Recheck) -> None:
        """Close (4403) connections whose access is below what they joined with: revocations
        reach other instances over the bus at once, and through this when it was down."""
        for name in self.rooms.names():
            room = self.rooms.live(name)
            if room is None:
                continue
            document = comments_parent(name) or name
            worth: dict[tuple[int | None, int | None], Role | None] = {}
            for peer, role in room.peer_roles():
                grant = peer.grant
                if grant is None or (grant.user is None and grant.link_id is None):
                    continue
                key = (None if grant.user is None else grant.user.id, grant.link_id)
                if key not in worth:
                    worth[key] = await recheck(document, grant.user, grant.link_id)
                now = worth[key]
                if now is None or RANK[now] < RANK[role]:
                    peer.close(Close.REVOKED, "your access to this document changed")

    # -- awareness -------------------------------------------------------------------------

    def _loaded(self, room: Room) -> None:
        bus = self.bus
        if bus is None:
            return
        bus.follow(room.name)
        room.presence.publish = lambda frame: bus.publish_awareness(room.name, frame)
        bus.publish_query(room.name)

    def awareness(self, name: DocName, instance: str, frame: bytes) -> None:
        room = self.rooms.live(name)
        if room is None:
            return
        try:
            message = decode(frame)
        except ProtocolError as exc:
            log.warning("ignored a malformed awareness frame from %s: %s", instance, exc)
            return
        if isinstance(message, AwarenessUpdate):
            room.presence.apply_remote(instance, message.entries)

    def query(self, name: DocName) -> None:
        room = self.rooms.live(name)
        if room is None or self.bus is None:
            return
        snapshot = room.presence.local_snapshot()
        if snapshot is not None:
            self.bus.publish_awareness(name, snapshot)

    def heartbeat(self, instance: str) -> None:
        self._seen[instance] = time.monotonic()

    def reconnected(self) -> None:
        # Silence while the bus was down says nothing about the others.
        now = time.monotonic()
        self._bus_up_since = now
        for instance in self._seen:
            self._seen[instance] = now
        for room in [r for n in self.rooms.names() if (r := self.rooms.live(n)) is not None]:
            self._repair(room, 0.0)

    def _judge_instances(self) -> None:
        if self.bus is None:
            return
        now = time.monotonic()
        if not self.bus.healthy:
            self._bus_up_since = now
            return
        dead_after = self.settings.instance_dead_seconds
        if now - self._bus_up_since < dead_after:
            return
        for instance, seen in list(self._seen.items()):
            if now - seen > dead_after:
                log.info("instance %s is silent: removing its clients' presence", instance)
                del self._seen[instance]
                for name in self.rooms.names():
                    room = self.rooms.live(name)
                    if room is not None:
                        room.presence.drop_instance(instance)

    # -- control events --------------------------------------------------------------------

    def _announce(self, event: dict[str, Any]) -> None:
        if self.bus is not None:
            self.bus.publish_control(event)

    def control(self, instance: str, event: dict[str, Any]) -> None:
        kind, name = event.get("kind"), DocName(str(event.get("name")))
        if kind == "deleted":
            self.rooms.drop(name)
        elif kind == "revoked":
            revoked = Revocation(user_id=event.get("user_id"), link_id=event.get("link_id"))
            code = int(event.get("code", Close.REVOKED))
            self.rooms.close_where(name, revoked, code, str(event.get("reason", "")), here=True)
        else:
            log.warning("ignored control event %r from %s", kind, instance)


@contextlib.asynccontextmanager
async def joined(
    settings: Settings, store: object, rooms: Rooms, recheck: Recheck | None = None
) -> AsyncIterator[Mesh | None]:
    """Join the other instances on a shared store (and bus) for as long as the server runs;
    None (nothing to join) on a store of one machine."""
    if not isinstance(store, SharedLog):
        yield None
        return
    instance = settings.instance_id or uuid.uuid4().hex[:12]
    bus: Bus | None = None
    if settings.bus:
        from .bus_redis import RedisBus  # only a deployment with a bus needs redis

        bus = RedisBus(settings.bus, instance, heartbeat_seconds=settings.instance_dead_seconds / 5)
    mesh = Mesh(store, rooms, bus, settings, instance, recheck)
    await mesh.start()
    try:
        yield mesh
    finally:
        await mesh.close()

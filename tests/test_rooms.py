"""Rooms' compaction policy, on the in-memory store with fake peers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pycrdt import Doc, Text

from server import access, memory
from server.config import Settings
from server.store.base import DocName
from server.store.memory import MemoryStore
from server.sync import rooms as rooms_module
from server.sync.protocol import decode, encode_update
from server.sync.room import Room
from server.sync.rooms import Rooms
from server.types import Revocation
from tests.fakes import FakePeer

NAME = DocName("big")
# Compacts at 10 rows, never for being idle; documents stay loaded.
AT_TEN_ROWS = Settings().with_overrides(
    {"compact_max_rows": 10, "compact_idle_seconds": 3600, "unload_grace_seconds": 3600}
)


def typing(doc: Doc[Any], count: int) -> list[bytes]:
    text = doc.get("t", type=Text)
    updates = []
    for _ in range(count):
        state = doc.get_state()
        text.insert(len(text), "ab")
        updates.append(doc.get_update(state))
    return updates


def receive(room: Room, peer: FakePeer, updates: list[bytes]) -> None:
    for update in updates:
        room.receive(peer, decode(encode_update(update)))


async def compaction_due(rooms: Rooms) -> bool:
    """Whether the compaction the last commit scheduled runs now rather than when idle."""
    await rooms.store.flush()
    await asyncio.sleep(0)  # let the commit callbacks schedule it
    timer = rooms._compact_timers.get(NAME)
    assert timer is not None, "every commit schedules a compaction"
    return timer.when() - asyncio.get_running_loop().time() < 60


@contextlib.asynccontextmanager
async def one_peer(
    store: MemoryStore, settings: Settings
) -> AsyncIterator[tuple[Rooms, Room, FakePeer]]:
    """Rooms over `store` with one peer in the room NAME, which it leaves at the end (else
    shutting down would wait for the fake peer to go)."""
    async with Rooms(store, settings) as rooms:
        peer = FakePeer()
        room = await rooms.join(NAME, peer)
        yield rooms, room, peer
        rooms.leave(room, peer)


@contextlib.asynccontextmanager
async def big_document(rows_limit: int) -> AsyncIterator[tuple[Rooms, Room, FakePeer, Doc[Any]]]:
    """A room whose stored snapshot is ~100 KB, compacting at 10 rows (or `rows_limit`)."""
    writer: Doc[Any] = Doc()
    writer.get("t", type=Text).insert(0, "x" * 100_000)
    settings = Settings().with_overrides(
        {
            "compact_max_rows": 10,
            "compact_rows_limit": rows_limit,
            "compact_idle_seconds": 3600,
            "unload_grace_seconds": 3600,
        }
    )
    async with MemoryStore() as store:
        await store.ensure(NAME)
        await store.append(NAME, writer.get_update())
        snapshot = await store.compact(NAME)
        assert snapshot > 100_000
        async with one_peer(store, settings) as (rooms, room, peer):
            assert room.snapshot_bytes == snapshot
            yield rooms, room, peer, writer


async def test_a_big_busy_document_compacts_when_its_log_is_half_its_snapshot() -> None:
    async with big_document(rows_limit=1_000) as (rooms, room, peer, writer):
        snapshot = room.snapshot_bytes
        for update in typing(writer, 20):  # over 10 rows, but far from half the snapshot
            room.receive(peer, decode(encode_update(update)))
        assert not await compaction_due(rooms)
        state = writer.get_state()
        writer.get("t", type=Text).insert(0, "y" * (snapshot // 2))
        room.receive(peer, decode(encode_update(writer.get_update(state))))
        assert await compaction_due(rooms)
        async with asyncio.timeout(10):
            while (await rooms.store.log_stats(NAME)).rows:  # noqa: ASYNC110 (no event for it)
                await asyncio.sleep(0.01)
        assert room.snapshot_bytes > snapshot


async def test_the_row_limit_compacts_whatever_the_snapshot() -> None:
    async with big_document(rows_limit=30) as (rooms, room, peer, writer):
        updates = typing(writer, 30)
        for update in updates[:29]:
            room.receive(peer, decode(encode_update(update)))
        assert not await compaction_due(rooms)
        room.receive(peer, decode(encode_update(updates[29])))
        assert await compaction_due(rooms)


async def test_a_small_document_still_compacts_at_the_row_threshold() -> None:
    writer: Doc[Any] = Doc()
    async with MemoryStore() as store, one_peer(store, AT_TEN_ROWS) as (rooms, room, peer):
        updates = typing(writer, 10)
        receive(room, peer, updates[:9])
        assert not await compaction_due(rooms)
        room.receive(peer, decode(encode_update(updates[9])))
        assert await compaction_due(rooms)


class GatedStore(MemoryStore):
    """Compactions wait at a gate, so that commits pile up while one runs."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.running = 0
        self.most_at_once = 0
        self.compactions = 0

    async def compact(self, name: DocName) -> int:
        self.running += 1
        self.compactions += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await self.gate.wait()
            return await super().compact(name)
        finally:
            self.running -= 1


async def test_commits_during_a_compaction_start_no_other_and_it_looks_again_after() -> None:
    writer: Doc[Any] = Doc()
    async with GatedStore() as store, one_peer(store, AT_TEN_ROWS) as (_, room, peer):
        updates = typing(writer, 100)
        receive(room, peer, updates[:10])
        async with asyncio.timeout(10):
            while not store.running:  # noqa: ASYNC110 (no event for it)
                await asyncio.sleep(0.001)
        for update in updates[10:]:  # 90 more commits, each over the threshold
            room.receive(peer, decode(encode_update(update)))
            await store.flush()
            await asyncio.sleep(0)
        assert store.compactions == 1
        store.gate.set()
        # One for the first ten rows; one more, once it ended, for the ninety behind it. (Waits
        # for the second to have run: the first may already have folded all hundred rows.)
        async with asyncio.timeout(10):
            while store.compactions < 2 or store.running:  # noqa: ASYNC110 (no event for it)
                await asyncio.sleep(0.001)
        assert (await store.log_stats(NAME)).rows == 0
        assert (store.compactions, store.most_at_once) == (2, 1)
        assert (room.log_rows, room.log_bytes) == (0, 0)


async def test_a_burst_of_arrivals_is_settled_once_and_many_departures_released(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(rooms_module, "SETTLE_AFTER_SECONDS", 0.01)
    monkeypatch.setattr(rooms_module, "RELEASE_AFTER_DEPARTURES", 3)
    monkeypatch.setattr(memory, "settle", lambda: calls.append("settle"))
    monkeypatch.setattr(memory, "release", lambda held=0, held_bytes=0: calls.append("release"))
    settings = Settings().with_overrides({"unload_grace_seconds": 3600})
    async with MemoryStore() as store, Rooms(store, settings) as rooms:
        peers = [FakePeer(str(i)) for i in range(4)]
        room = await rooms.join(NAME, peers[0])
        for peer in peers[1:]:
            await rooms.join(NAME, peer)
        async with asyncio.timeout(5):
            while not calls:  # noqa: ASYNC110 (no event for it)
                await asyncio.sleep(0.005)
        assert calls == ["settle"]
        for peer in peers[:3]:
            rooms.leave(room, peer)
        async with asyncio.timeout(5):
            while len(calls) < 2:  # noqa: ASYNC110 (no event for it)
                await asyncio.sleep(0.01)
        assert calls == ["settle", "release"]
        rooms.leave(room, peers[3])


async def test_close_where_matches_grants_and_leaves_peers_without_one() -> None:
    link = access.Grant("viewer", link_id=7)
    other = access.Grant("viewer", link_id=8)
    async with MemoryStore() as store, Rooms(store, AT_TEN_ROWS) as rooms:
        peers = [FakePeer(grant=link), FakePeer(grant=other), FakePeer()]
        room = await rooms.join(NAME, peers[0])
        for peer in peers[1:]:
            await rooms.join(NAME, peer)
        closed = rooms.close_where(NAME, Revocation(link_id=7), 4403, "revoked")
        assert closed == 1
        assert [peer.closed for peer in peers] == [(4403, "revoked"), None, None]
        assert rooms.close_where(DocName("not loaded"), Revocation(user_id=1), 4403, "") == 0
        for peer in peers:
            rooms.leave(room, peer)


async def test_a_lone_departure_is_released_within_the_release_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(memory, "settle", lambda: None)
    monkeypatch.setattr(memory, "release", lambda held=0, held_bytes=0: calls.append("release"))
    settings = Settings().with_overrides(
        {"unload_grace_seconds": 3600, "memory_release_seconds": 0.05}
    )
    async with MemoryStore() as store, Rooms(store, settings) as rooms:
        stays, leaves = FakePeer("stays"), FakePeer("leaves")
        room = await rooms.join(NAME, stays)
        await rooms.join(NAME, leaves)
        rooms.leave(room, leaves)
        async with asyncio.timeout(5):
            while not calls:  # noqa: ASYNC110 (no event for it)
                await asyncio.sleep(0.01)
        assert calls == ["release"]
        rooms.leave(room, stays)

"""Rooms' compaction policy, on the in-memory store with fake peers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from pycrdt import Doc, Text

from server.config import Settings
from server.protocol import decode, encode_update
from server.room import Room
from server.rooms import Rooms
from server.store.base import DocName
from server.store.memory import MemoryStore
from tests.fakes import FakePeer

NAME = DocName("big")


def typing(doc: Doc[Any], count: int) -> list[bytes]:
    text = doc.get("t", type=Text)
    updates = []
    for _ in range(count):
        state = doc.get_state()
        text.insert(len(text), "ab")
        updates.append(doc.get_update(state))
    return updates


async def compaction_due(rooms: Rooms) -> bool:
    """Whether the compaction the last commit scheduled runs now rather than when idle."""
    await rooms.store.flush()
    await asyncio.sleep(0)  # let the commit callbacks schedule it
    timer = rooms._compact_timers.get(NAME)
    assert timer is not None, "every commit schedules a compaction"
    return timer.when() - asyncio.get_running_loop().time() < 60


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
        async with Rooms(store, settings) as rooms:
            peer = FakePeer()
            room = await rooms.join(NAME, peer)
            assert room.snapshot_bytes == snapshot
            yield rooms, room, peer, writer
            rooms.leave(room, peer)  # else shutting down waits for the fake peer to go


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
    settings = Settings().with_overrides(
        {"compact_max_rows": 10, "compact_idle_seconds": 3600, "unload_grace_seconds": 3600}
    )
    async with MemoryStore() as store, Rooms(store, settings) as rooms:
        peer = FakePeer()
        room = await rooms.join(NAME, peer)
        updates = typing(writer, 10)
        for update in updates[:9]:
            room.receive(peer, decode(encode_update(update)))
        assert not await compaction_due(rooms)
        room.receive(peer, decode(encode_update(updates[9])))
        assert await compaction_due(rooms)
        rooms.leave(room, peer)

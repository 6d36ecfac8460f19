"""Deleting documents: to the trash (restorable, same epoch), back, and for good; the sweep that
empties the trash of documents older than the retention."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Protocol, Self

from .store.base import DocName, DocumentStore, StoreError, TrashStore
from .sync.rooms import Rooms

log = logging.getLogger("coedit.trash")

SWEEP_BATCH = 100


class TrashAndDocs(TrashStore, DocumentStore, Protocol):
    """A store holding documents and their trash (SqliteStore; PostgresStore alike)."""


async def move_to_trash(rooms: Rooms, store: TrashStore, name: DocName, now: float) -> bool:
    """Trash the document, then close its connections (4404) on every instance: a client that
    reconnects meanwhile finds it gone. Its last appends still land in it (kept in the trash)."""
    trashed = await store.trash(name, now)
    if trashed:
        rooms.removed(name)
    return trashed


class TrashSweeper:
    """Deletes for good what has been in the trash longer than the retention, every interval."""

    def __init__(
        self,
        store: TrashAndDocs,
        rooms: Rooms,
        *,
        retention_seconds: float,
        interval: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._rooms = rooms
        self._retention = retention_seconds
        self._interval = interval
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._loop(), name="trash sweeper")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def sweep(self) -> int:
        """Purge expired documents now; returns how many."""
        purged = 0
        while True:
            names = await self._store.expired_trash(self._clock() - self._retention, SWEEP_BATCH)
            if not names:
                return purged
            for name in names:
                if await self._rooms.delete(name):
                    purged += 1
            log.info("emptied %d documents from the trash", len(names))

    async def _loop(self) -> None:
        while True:
            try:
                await self.sweep()
            except StoreError as exc:
                log.warning("emptying the trash failed (tried again later): %s", exc)
            await asyncio.sleep(self._interval)

"""SqliteStore: the durable DocumentStore, AccountStore and FileStore on one SQLite file (WAL,
group-committed appends), composed of the parts beside it; the only package allowed to import
aiosqlite; it merges updates only through store.merge."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

from server.store.appendqueue import AppendQueue
from server.store.base import Fold, StoreError
from server.store.merge import fold_in_thread
from server.store.sqlite.accounts import SqliteAccounts
from server.store.sqlite.database import CHECKPOINT_SECONDS, Database
from server.store.sqlite.documents import SqliteDocuments
from server.store.sqlite.files import SqliteFiles
from server.store.sqlite.mentions import SqliteMentions
from server.store.sqlite.search import SqliteSearch
from server.store.sqlite.trash import SqliteTrash
from server.store.sqlite.versions import SqliteVersions
from server.store.sqlite.writers import SqliteWriters


class SqliteStore(
    SqliteDocuments,
    SqliteVersions,
    SqliteAccounts,
    SqliteMentions,
    SqliteFiles,
    SqliteTrash,
    SqliteSearch,
    SqliteWriters,
):
    """One Database (three connections, see there) behind every part's methods. Appended
    updates are written only by the group-commit writer task."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "FULL",
        batch_max: int = 2048,
        clock: Callable[[], float] = time.time,
        fold: Fold | None = None,
        checkpoint_seconds: float = CHECKPOINT_SECONDS,
    ) -> None:
        self._db = Database(path, synchronous=synchronous, checkpoint_seconds=checkpoint_seconds)
        self._clock = clock
        self._fold = fold if fold is not None else fold_in_thread
        self._queue = AppendQueue(
            self._commit_batch, batch_max=batch_max, label=f"sqlite store {self._db.path}"
        )
        # Serialises compactions so two of them never fold overlapping log prefixes.
        self._compact_lock = asyncio.Lock()

    @property
    def path(self) -> Path:
        return self._db.path

    @property
    def commits(self) -> int:
        return self._queue.commits

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._queue.started:
            raise StoreError(f"store for {self._db.path} was already opened; create a new one")
        await self._db.open()
        self._queue.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self._queue.close()
        finally:
            await self._db.close()

    async def ping(self) -> None:
        if not self._queue.running:
            raise StoreError(f"{self._db.path}: writer is not running")
        await self._db.read_one(f"pinging {self._db.path}", "SELECT 1")

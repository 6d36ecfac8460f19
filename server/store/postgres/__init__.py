"""PostgresStore: the durable DocumentStore, AccountStore, MentionStore and FileStore on one
PostgreSQL database, shared by several instances (SharedLog), composed of the parts beside it
like SqliteStore; the only package allowed to import asyncpg."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

from server.store.appendqueue import AppendQueue
from server.store.base import CommittedRow, Fold, StoreError
from server.store.merge import fold_in_thread
from server.store.postgres.accounts import PostgresAccounts
from server.store.postgres.database import Database
from server.store.postgres.documents import PostgresDocuments
from server.store.postgres.files import PostgresFiles
from server.store.postgres.mentions import PostgresMentions
from server.store.postgres.search import PostgresSearch
from server.store.postgres.trash import PostgresTrash
from server.store.postgres.versions import PostgresVersions
from server.store.postgres.writers import PostgresWriters

# Rows younger than this stay in the log at compaction: an instance a little behind reads
# them instead of reloading the whole document (see SharedLog.read_since).
KEEP_RECENT_SECONDS = 10.0


class PostgresStore(
    PostgresDocuments,
    PostgresVersions,
    PostgresAccounts,
    PostgresMentions,
    PostgresFiles,
    PostgresTrash,
    PostgresSearch,
    PostgresWriters,
):
    def __init__(
        self,
        dsn: str,
        *,
        batch_max: int = 2048,
        clock: Callable[[], float] = time.time,
        fold: Fold | None = None,
        retry_seconds: float = 5.0,
        keep_recent_seconds: float = KEEP_RECENT_SECONDS,
        max_connections: int = 10,
    ) -> None:
        self._db = Database(dsn, retry_seconds=retry_seconds, max_connections=max_connections)
        self._clock = clock
        self._fold = fold if fold is not None else fold_in_thread
        self._keep_recent_seconds = keep_recent_seconds
        self._queue = AppendQueue(
            self._commit_batch, batch_max=batch_max, label=f"postgres store {self._db.label}"
        )
        self._compact_lock = asyncio.Lock()
        self._on_commit: list[Callable[[list[CommittedRow]], None]] = []

    @property
    def commits(self) -> int:
        return self._queue.commits

    async def __aenter__(self) -> Self:
        if self._queue.started:
            raise StoreError(f"store for {self._db.label} was already opened; create a new one")
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

    async def migrate(self) -> int:
        """Bring the schema up to date (under a lock); returns its version."""
        return await self._db.migrate()

    async def ping(self) -> None:
        if not self._queue.running:
            raise StoreError(f"{self._db.label}: writer is not running")
        await self._db.fetch(f"pinging {self._db.label}", "SELECT 1")

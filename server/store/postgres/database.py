"""One PostgreSQL database through an asyncpg pool: opening and migrating it, and running work
on it in transactions, retried while PostgreSQL restarts; the only module importing asyncpg."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, Literal, TypeAlias, TypeVar

import asyncpg

from server.store.base import DocName, DocumentNotFound, StoreError
from server.store.postgres.schema import MIGRATIONS

logger = logging.getLogger(__name__)

T = TypeVar("T")
# What the parts' work gets: a connection lent by the pool.
Conn: TypeAlias = "asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"

# Held while migrating, so that instances started together migrate once.
MIGRATE_LOCK: Final = 0x636F6564  # "coed"
# A document's compaction runs on one instance at a time (pg_try_advisory_lock(COMPACT, id)).
COMPACT_LOCK: Final = 1
RETRY_PAUSE: Final = 0.2

# What a restart or a dropped connection raises: worth trying again on a fresh connection.
TRANSIENT: Final = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now
    asyncpg.exceptions.TransactionRollbackError,  # deadlock, serialization failure
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.InterfaceError,
    OSError,
    TimeoutError,
)
ERRORS: Final = (asyncpg.PostgresError, *TRANSIENT)


async def require_doc_id(conn: Conn, name: DocName) -> int:
    """The document's id, read inside the caller's transaction: DocumentNotFound if missing."""
    doc_id = await conn.fetchval("SELECT id FROM documents WHERE name = $1", name)
    if doc_id is None:
        raise DocumentNotFound(f"no document {name!r}")
    return int(doc_id)


def lock_key(doc_id: int) -> int:
    """An advisory lock's second key is 32-bit; document ids fold into it (a collision only
    makes two documents wait for each other)."""
    return int(doc_id % 2_147_483_647)


class Database:
    def __init__(self, dsn: str, *, retry_seconds: float = 5.0, max_connections: int = 10) -> None:
        self.dsn = dsn
        self.retry_seconds = retry_seconds
        self._max = max_connections
        self._pool: asyncpg.Pool | None = None

    @property
    def label(self) -> str:
        # The address without a password, for messages.
        head, _, tail = self.dsn.partition("@")
        return f"postgresql://…@{tail}" if tail else head

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.dsn, min_size=1, max_size=self._max, command_timeout=30
            )
        except ERRORS as exc:
            raise StoreError(f"cannot connect to {self.label}: {exc}") from exc
        await self.migrate()

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await asyncio.wait_for(pool.close(), 10)

    async def migrate(self) -> int:
        """Apply the steps this database lacks, under an advisory lock; returns its version.
        A database newer than this code is refused: it would misread it."""

        async def work(conn: Conn) -> int:
            await conn.execute("SELECT pg_advisory_lock($1)", MIGRATE_LOCK)
            try:
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS coedit_schema (version INTEGER NOT NULL)"
                )
                version = await conn.fetchval("SELECT max(version) FROM coedit_schema") or 0
                if version > len(MIGRATIONS):
                    raise StoreError(
                        f"{self.label} has schema version {version}, newer than this Coedit "
                        f"knows ({len(MIGRATIONS)}): upgrade Coedit"
                    )
                for number in range(version + 1, len(MIGRATIONS) + 1):
                    async with conn.transaction():
                        for statement in MIGRATIONS[number - 1]:
                            await conn.execute(statement)
                        await conn.execute("INSERT INTO coedit_schema VALUES ($1)", number)
                    logger.info("migrated %s to schema version %d", self.label, number)
                return len(MIGRATIONS)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATE_LOCK)

        return await self.run("migrating", work, transaction=False)

    async def run(
        self,
        action: str,
        work: Callable[[Conn], Awaitable[T]],
        *,
        transaction: bool = True,
        readonly: bool = False,
    ) -> T:
        """`work(connection)` in one transaction, tried again on a fresh connection for up to
        `retry_seconds` while PostgreSQL is unreachable; then StoreError, as for any failure.

        A transaction cut off at its commit may be tried twice: appends then store a row twice
        under two numbers, which applies as a no-op."""
        deadline = time.monotonic() + self.retry_seconds
        while True:
            pool = self._pool
            if pool is None:
                raise StoreError(f"{self.label}: store is not open")
            try:
                async with pool.acquire() as conn:
                    if not transaction:
                        return await work(conn)
                    isolation: Literal["repeatable_read", "read_committed"] = (
                        "repeatable_read" if readonly else "read_committed"
                    )
                    async with conn.transaction(isolation=isolation, readonly=readonly):
                        return await work(conn)
            except StoreError:
                raise
            except TRANSIENT as exc:
                if time.monotonic() >= deadline:
                    raise StoreError(f"{action} failed: {self.label} unreachable: {exc}") from exc
                logger.warning("%s: %s; trying again", action, exc)
                await asyncio.sleep(RETRY_PAUSE)
            except asyncpg.PostgresError as exc:
                raise StoreError(f"{action} failed: {exc}") from exc

    async def fetch(self, action: str, sql: str, *args: Any) -> list[asyncpg.Record]:
        async def work(conn: Conn) -> list[asyncpg.Record]:
            rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
            return rows

        return await self.run(action, work, transaction=False)

    async def fetchrow(self, action: str, sql: str, *args: Any) -> asyncpg.Record | None:
        async def work(conn: Conn) -> asyncpg.Record | None:
            row: asyncpg.Record | None = await conn.fetchrow(sql, *args)
            return row

        return await self.run(action, work, transaction=False)

"""One SQLite file opened as three connections (writer, reader, checkpointer): opening and
migrating it, transactions on it, and checkpoints off the commit path."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, Final, cast

import aiosqlite

from server.store.base import DocName, DocumentNotFound, StoreError
from server.store.sqlite.schema import MIGRATIONS

logger = logging.getLogger(__name__)

SYNCHRONOUS_LEVELS: Final = frozenset({"OFF", "NORMAL", "FULL", "EXTRA"})
BUSY_TIMEOUT_MS: Final = 5000
# Checkpoints (copying the WAL into the database file) run on their own connection at most this
# often; the writer would otherwise run one inside a commit every 1,000 pages, holding up every
# append queued behind it for 10-25 ms.
CHECKPOINT_SECONDS: Final = 1.0
# ...and the writer checkpoints by itself only past this many WAL pages (64 MiB), in case the
# background ones cannot keep up.
WRITER_CHECKPOINT_PAGES: Final = 16384


async def on_thread(conn: aiosqlite.Connection, function: Callable[..., Any], *args: Any) -> Any:
    """`function(sqlite3_connection, *args)` on the connection's own thread, in one round trip.

    A batch of appends is four statements; awaited one by one through aiosqlite's public calls,
    each is a hand-off to its thread and back, and at thousands of commits a second those
    hand-offs (thread wake-ups, GIL exchanges) cost the event loop more than the SQL. aiosqlite
    offers no public call for this; `_execute` is how its own methods reach the thread, in
    order with them. tests/test_store.py runs every append through it on the pinned version.
    """
    run = cast(Callable[..., Awaitable[Any]], conn._execute)
    return await run(function, conn._conn, *args)


def find_doc_id(db: sqlite3.Connection, name: DocName) -> int | None:
    """The id of the document named `name`, or None; on the connection's own thread (on_thread):
    the writer's batch of appends, Database.lookup_id and list_versions share it."""
    row = db.execute("SELECT id FROM documents WHERE name = ?", (name,)).fetchone()
    return None if row is None else int(row[0])


@contextmanager
def translate(action: str) -> Iterator[None]:
    # aiosqlite reports a closed connection as ValueError; UnicodeEncodeError (a ValueError)
    # comes from names holding lone surrogates.
    try:
        yield
    except (sqlite3.Error, ValueError) as exc:
        raise StoreError(f"{action} failed: {exc}") from exc


class Database:
    """Three connections: a writer (all writes, serialised by ``tx_lock``), a query-only
    reader, so loads are not queued behind a batch's fsync, and one that checkpoints."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "FULL",
        checkpoint_seconds: float = CHECKPOINT_SECONDS,
    ) -> None:
        level = synchronous.upper()
        if level not in SYNCHRONOUS_LEVELS:
            raise ValueError(
                f"synchronous must be one of {sorted(SYNCHRONOUS_LEVELS)}, got {synchronous!r}"
            )
        self.path = Path(path)
        self._synchronous = level
        self.writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._checkpointer: aiosqlite.Connection | None = None
        self._checkpoint_seconds = checkpoint_seconds
        self._checkpoints: asyncio.Task[None] | None = None
        self.written = asyncio.Event()  # set by every write, cleared by each checkpoint
        # Every statement on the writer connection runs under this lock: a statement issued while
        # another coroutine has a transaction open would silently join that transaction.
        self.tx_lock = asyncio.Lock()
        # Same for the reader: load() holds a read transaction across two queries.
        self._read_lock = asyncio.Lock()
        # name -> documents.id for the writer. Only touched while holding tx_lock, so it always
        # agrees with what the writer connection sees.
        self.doc_ids: dict[DocName, int] = {}

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        try:
            await asyncio.to_thread(self.path.parent.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create directory for {self.path}: {exc}") from exc
        try:
            with translate(f"opening {self.path}"):
                self.writer = await aiosqlite.connect(self.path, isolation_level=None)
                await self._configure_writer(self.writer)
                await self._migrate()
                self._reader = await aiosqlite.connect(self.path, isolation_level=None)
                await self._reader.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                await self._reader.execute("PRAGMA query_only = ON")
                self._checkpointer = await aiosqlite.connect(self.path, isolation_level=None)
                await self._checkpointer.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                await self._checkpointer.execute(f"PRAGMA synchronous = {self._synchronous}")
        except BaseException:
            await self._close_connections()
            raise
        self._checkpoints = asyncio.create_task(self._checkpoint_loop())

    async def close(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.cancel()
            await asyncio.wait([self._checkpoints])
        await self._close_connections()

    async def _close_connections(self) -> None:
        connections = (
            ("checkpointer of ", self._checkpointer),
            ("reader of ", self._reader),
            ("", self.writer),  # last: closing the last connection checkpoints the WAL
        )
        self.writer = self._reader = self._checkpointer = None
        self.doc_ids.clear()
        failures: list[StoreError] = []
        for role, conn in connections:
            if conn is not None:
                try:
                    with translate(f"closing {role}{self.path}"):
                        await conn.close()
                except StoreError as exc:  # still close the others; the first failure is raised
                    failures.append(exc)
        if failures:
            raise failures[0]

    async def _configure_writer(self, conn: aiosqlite.Connection) -> None:
        async with conn.execute("PRAGMA journal_mode = WAL") as cursor:
            row = await cursor.fetchone()
        if row is None or str(row[0]).lower() != "wal":
            raise StoreError(f"{self.path}: cannot enable WAL mode (journal_mode is {row!r})")
        # Both values are validated constants, never user text.
        await conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute(f"PRAGMA wal_autocheckpoint = {WRITER_CHECKPOINT_PAGES}")

    async def _checkpoint_loop(self) -> None:
        """Copies committed WAL frames into the database file, off the writer's connection: a
        PASSIVE checkpoint never blocks the writer, which keeps appending to the WAL meanwhile
        (and starts it over once everything is copied)."""
        while True:
            await self.written.wait()
            self.written.clear()
            try:
                await self.conn(self._checkpointer).execute("PRAGMA wal_checkpoint(PASSIVE)")
            except (sqlite3.Error, ValueError, StoreError):
                logger.exception(
                    "checkpoint of %s failed; the writer checkpoints itself past %d WAL pages",
                    self.path,
                    WRITER_CHECKPOINT_PAGES,
                )
            await asyncio.sleep(self._checkpoint_seconds)

    async def _migrate(self) -> None:
        latest = len(MIGRATIONS)
        for target in range(1, latest + 1):
            async with self.write_tx() as conn:
                # Read inside the transaction: another process may have migrated meanwhile.
                version = await self._user_version(conn)
                if version > latest:
                    raise StoreError(
                        f"{self.path} has schema version {version}, newer than this server "
                        f"supports ({latest})"
                    )
                if version >= target:
                    continue
                for statement in MIGRATIONS[target - 1]:
                    await conn.execute(statement)
                await conn.execute(f"PRAGMA user_version = {target:d}")
            logger.info("migrated %s to schema version %d", self.path, target)

    @staticmethod
    async def _user_version(conn: aiosqlite.Connection) -> int:
        async with conn.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        if row is None:
            raise StoreError("PRAGMA user_version returned nothing")
        return int(row[0])

    # -- transactions ----------------------------------------------------------------------

    def conn(self, conn: aiosqlite.Connection | None) -> aiosqlite.Connection:
        if conn is None:
            raise StoreError(f"{self.path} is not open")
        return conn

    @asynccontextmanager
    async def write_tx(self) -> AsyncIterator[aiosqlite.Connection]:
        # IMMEDIATE takes the write lock up front, so busy_timeout covers it instead of the
        # transaction failing half way when another process holds the lock.
        async with self.tx_lock, self._transaction(self.writer, "BEGIN IMMEDIATE") as conn:
            yield conn
        self.written.set()  # only once committed: it wakes the checkpointer

    @asynccontextmanager
    async def read_tx(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._read_lock, self._transaction(self._reader, "BEGIN") as conn:
            yield conn

    @asynccontextmanager
    async def _transaction(
        self, conn: aiosqlite.Connection | None, begin: str
    ) -> AsyncIterator[aiosqlite.Connection]:
        """`begin` ... COMMIT on `conn`, whose lock the caller holds."""
        conn = self.conn(conn)
        try:
            await conn.execute(begin)
            yield conn
            await conn.commit()
        except BaseException:
            # Also on cancellation: the next user of this connection must not find a
            # transaction left open. aiosqlite runs calls in order, so this rollback runs
            # after whatever statement the cancelled await had already queued.
            await self._rollback(conn)
            raise

    @asynccontextmanager
    async def read(self) -> AsyncIterator[aiosqlite.Connection]:
        """Single-statement reads: just the lock, so they never run inside load()'s snapshot."""
        async with self._read_lock:
            yield self.conn(self._reader)

    async def read_one(
        self, action: str, sql: str, params: Sequence[Any] = ()
    ) -> sqlite3.Row | None:
        """The first row of one read statement; failures raise StoreError naming `action`."""
        with translate(action):
            async with self.read() as conn, conn.execute(sql, params) as cursor:
                return await cursor.fetchone()

    async def read_all(
        self, action: str, sql: str, params: Sequence[Any] = ()
    ) -> Iterable[sqlite3.Row]:
        """Every row of one read statement; failures raise StoreError naming `action`."""
        with translate(action):
            async with self.read() as conn:
                return await conn.execute_fetchall(sql, params)

    async def _rollback(self, conn: aiosqlite.Connection) -> None:
        try:
            await conn.rollback()
        except (sqlite3.Error, ValueError):
            # The original error is what the caller needs to see; this one only explains why
            # the connection may be unusable from now on.
            logger.exception("rollback on %s failed", self.path)

    async def lookup_id(self, conn: aiosqlite.Connection, name: DocName) -> int | None:
        """The document's id, read inside write_tx (`conn` is the writer) and cached."""
        doc_id: int | None = await on_thread(conn, find_doc_id, name)
        if doc_id is not None:
            self.doc_ids[name] = doc_id
        return doc_id

    async def require_id(self, conn: aiosqlite.Connection, name: DocName) -> int:
        """lookup_id for writes that need the document: DocumentNotFound if it is missing."""
        doc_id = await self.lookup_id(conn, name)
        if doc_id is None:
            raise DocumentNotFound(f"no document {name!r}")
        return doc_id

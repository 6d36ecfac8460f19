"""Durable DocumentStore on one SQLite file (WAL, group-committed appends); the only module allowed
to import aiosqlite; it merges updates only through store.merge."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self, cast

import aiosqlite

from server.store.appendqueue import AppendQueue, PendingAppend
from server.store.base import (
    Access,
    DocInfo,
    DocName,
    DocumentNotFound,
    Fold,
    Link,
    LogStats,
    StoredDoc,
    StoreError,
    User,
    UserExists,
    UserNotFound,
    Version,
    VersionInfo,
    VersionKind,
    check_kind,
    check_limit,
)
from server.store.merge import fold_in_thread, full_state

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

# Step N (1-based) moves a database from user_version N-1 to N. Never edit a released step;
# append a new one.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        # AUTOINCREMENT so ids are never reused: a stale cached doc id can then only miss (and
        # fail loudly), never write into another document; and update ids stay strictly
        # increasing, which compaction relies on to delete exactly the rows it merged.
        # log_rows/log_bytes/snapshot_bytes are maintained in the same transactions as the rows
        # they count, so stats and sizes never need a scan. snapshot is the last column because
        # SQLite must walk a large blob's overflow pages to reach any column stored after it.
        """
        CREATE TABLE documents (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE,
            epoch TEXT NOT NULL,
            title TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            log_rows INTEGER NOT NULL DEFAULT 0,
            log_bytes INTEGER NOT NULL DEFAULT 0,
            snapshot_bytes INTEGER NOT NULL DEFAULT 0,
            snapshot BLOB
        ) STRICT
        """,
        "CREATE INDEX documents_by_updated ON documents (updated_at, name)",
        """
        CREATE TABLE updates (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            doc_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            data BLOB NOT NULL
        ) STRICT
        """,
        "CREATE INDEX updates_by_doc ON updates (doc_id, id)",
    ),
    (
        # Version history. AUTOINCREMENT so a version id is never reused: a link to a version
        # that thinning deleted then misses instead of showing another version. state is a
        # zlib-compressed full Yjs update and the last column (see snapshot above); size is its
        # length before compression; authors is a JSON array of display names.
        """
        CREATE TABLE versions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            doc_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            created_at REAL NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('auto', 'named', 'restore-backup')),
            label TEXT,
            authors TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(authors)),
            size INTEGER NOT NULL,
            state BLOB NOT NULL
        ) STRICT
        """,
        "CREATE INDEX versions_by_doc ON versions (doc_id, id)",
    ),
    (
        # Accounts and sharing. Sessions are stored as token digests, so a leaked database
        # hands out no sessions; share-link tokens are stored as they are, because the owner
        # copies the same link again later. Revoked links stay, marked, so that the room can
        # tell whose connections to drop.
        """
        CREATE TABLE users (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            username TEXT NOT NULL UNIQUE COLLATE NOCASE,
            password_hash TEXT NOT NULL,
            created_at REAL NOT NULL
        ) STRICT
        """,
        """
        CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            expires_at REAL NOT NULL
        ) STRICT
        """,
        "ALTER TABLE documents ADD COLUMN owner_id INTEGER REFERENCES users (id)",
        """
        CREATE TABLE shares (
            doc_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('viewer', 'editor')),
            PRIMARY KEY (doc_id, user_id)
        ) STRICT
        """,
        "CREATE INDEX shares_by_user ON shares (user_id)",
        """
        CREATE TABLE links (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            doc_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            token TEXT NOT NULL UNIQUE,
            role TEXT NOT NULL CHECK (role IN ('viewer', 'editor')),
            created_at REAL NOT NULL,
            revoked_at REAL
        ) STRICT
        """,
        "CREATE INDEX links_by_doc ON links (doc_id)",
    ),
    (
        # 1 when the snapshot was written by a Fold that found nothing pending: such a snapshot
        # loads with one apply and no validation walk.
        "ALTER TABLE documents ADD COLUMN snapshot_complete INTEGER NOT NULL DEFAULT 0",
    ),
)

# Level 6 (zlib's default): Yjs updates are mostly short strings and ids; higher levels cost
# several times the CPU for a few percent.
VERSION_COMPRESSION: Final = 6

_VERSION_COLUMNS: Final = "v.id, v.created_at, v.kind, v.label, v.authors, v.size"  # _version()

_INFO_COLUMNS: Final = (
    "name, title, epoch, created_at, updated_at, snapshot_bytes + log_bytes"  # matches _info()
)


async def _on_thread(conn: aiosqlite.Connection, function: Callable[..., Any], *args: Any) -> Any:
    """`function(sqlite3_connection, *args)` on the connection's own thread, in one round trip.

    A batch of appends is four statements; awaited one by one through aiosqlite's public calls,
    each is a hand-off to its thread and back, and at thousands of commits a second those
    hand-offs (thread wake-ups, GIL exchanges) cost the event loop more than the SQL. aiosqlite
    offers no public call for this; `_execute` is how its own methods reach the thread, in
    order with them. tests/test_store.py runs every append through it on the pinned version.
    """
    run = cast(Callable[..., Awaitable[Any]], conn._execute)
    return await run(function, conn._conn, *args)


def _append_rows(
    db: sqlite3.Connection,
    batch: Sequence[PendingAppend],
    known: dict[DocName, int | None],
    now: float,
) -> dict[DocName, int]:
    """One transaction appending a batch, run on the writer's thread; returns the id of each
    document found (a name missing from the result has no document: its appends are skipped).
    """
    found: dict[DocName, int] = {}
    missing: set[DocName] = set()
    rows: list[tuple[int, bytes]] = []
    touched: dict[int, list[int]] = {}  # doc id -> [rows, bytes]
    db.execute("BEGIN IMMEDIATE")
    try:
        for item in batch:
            if item.name in missing:
                continue
            doc_id = found.get(item.name, known.get(item.name))
            if doc_id is None:
                row = db.execute("SELECT id FROM documents WHERE name = ?", (item.name,)).fetchone()
                if row is None:
                    missing.add(item.name)
                    continue
                doc_id = int(row[0])
            found[item.name] = doc_id
            rows.append((doc_id, item.update))
            counts = touched.setdefault(doc_id, [0, 0])
            counts[0] += 1
            counts[1] += len(item.update)
        if rows:
            db.executemany("INSERT INTO updates (doc_id, data) VALUES (?, ?)", rows)
            db.executemany(
                "UPDATE documents SET updated_at = ?, log_rows = log_rows + ?,"
                " log_bytes = log_bytes + ? WHERE id = ?",
                [(now, n, size, doc_id) for doc_id, (n, size) in touched.items()],
            )
        db.execute("COMMIT")
    except BaseException:
        try:
            if db.in_transaction:
                db.execute("ROLLBACK")
        except sqlite3.Error:
            # The original error is what the caller needs; this one only explains why the
            # connection may be unusable from now on.
            logger.exception("rollback of a batch of appends failed")
        raise
    return found


def _info(row: sqlite3.Row | tuple[Any, ...]) -> DocInfo:
    name, title, epoch, created_at, updated_at, size = row
    return DocInfo(DocName(name), title, epoch, created_at, updated_at, size)


def _version(row: sqlite3.Row | tuple[Any, ...]) -> VersionInfo:
    version_id, created_at, kind, label, authors, size = row
    return VersionInfo(version_id, created_at, kind, label, tuple(json.loads(authors)), size)


@contextmanager
def _translate(action: str) -> Iterator[None]:
    # aiosqlite reports a closed connection as ValueError; UnicodeEncodeError (a ValueError)
    # comes from names holding lone surrogates.
    try:
        yield
    except (sqlite3.Error, ValueError) as exc:
        raise StoreError(f"{action} failed: {exc}") from exc


class SqliteStore:
    """Three connections: a writer (all writes, serialised by ``_tx_lock``), a query-only
    reader, so loads are not queued behind a batch's fsync, and one that checkpoints. Appended
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
        level = synchronous.upper()
        if level not in SYNCHRONOUS_LEVELS:
            raise ValueError(
                f"synchronous must be one of {sorted(SYNCHRONOUS_LEVELS)}, got {synchronous!r}"
            )
        self._path = Path(path)
        self._synchronous = level
        self._clock = clock
        self._fold = fold if fold is not None else fold_in_thread
        self._queue = AppendQueue(
            self._commit_batch, batch_max=batch_max, label=f"sqlite store {self._path}"
        )
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._checkpointer: aiosqlite.Connection | None = None
        self._checkpoint_seconds = checkpoint_seconds
        self._checkpoints: asyncio.Task[None] | None = None
        self._written = asyncio.Event()  # set by every write, cleared by each checkpoint
        # Every statement on the writer connection runs under this lock: a statement issued while
        # another coroutine has a transaction open would silently join that transaction.
        self._tx_lock = asyncio.Lock()
        # Same for the reader: load() holds a read transaction across two queries.
        self._read_lock = asyncio.Lock()
        # Serialises compactions so two of them never fold overlapping log prefixes.
        self._compact_lock = asyncio.Lock()
        # name -> documents.id for the writer. Only touched while holding _tx_lock, so it always
        # agrees with what the writer connection sees.
        self._doc_ids: dict[DocName, int] = {}

    @property
    def path(self) -> Path:
        return self._path

    @property
    def commits(self) -> int:
        return self._queue.commits

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._queue.started:
            raise StoreError(f"store for {self._path} was already opened; create a new one")
        try:
            await asyncio.to_thread(self._path.parent.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create directory for {self._path}: {exc}") from exc
        try:
            with _translate(f"opening {self._path}"):
                self._writer = await aiosqlite.connect(self._path, isolation_level=None)
                await self._configure_writer(self._writer)
                await self._migrate()
                self._reader = await aiosqlite.connect(self._path, isolation_level=None)
                await self._reader.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                await self._reader.execute("PRAGMA query_only = ON")
                self._checkpointer = await aiosqlite.connect(self._path, isolation_level=None)
                await self._checkpointer.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                await self._checkpointer.execute(f"PRAGMA synchronous = {self._synchronous}")
        except BaseException:
            await self._close_connections()
            raise
        self._queue.start()
        self._checkpoints = asyncio.create_task(self._checkpoint_loop())
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
            if self._checkpoints is not None:
                self._checkpoints.cancel()
                await asyncio.wait([self._checkpoints])
            await self._close_connections()

    async def _close_connections(self) -> None:
        connections = (
            ("checkpointer of ", self._checkpointer),
            ("reader of ", self._reader),
            ("", self._writer),  # last: closing the last connection checkpoints the WAL
        )
        self._writer = self._reader = self._checkpointer = None
        self._doc_ids.clear()
        failures: list[StoreError] = []
        for role, conn in connections:
            if conn is not None:
                try:
                    with _translate(f"closing {role}{self._path}"):
                        await conn.close()
                except StoreError as exc:  # still close the others; the first failure is raised
                    failures.append(exc)
        if failures:
            raise failures[0]

    async def _configure_writer(self, conn: aiosqlite.Connection) -> None:
        async with conn.execute("PRAGMA journal_mode = WAL") as cursor:
            row = await cursor.fetchone()
        if row is None or str(row[0]).lower() != "wal":
            raise StoreError(f"{self._path}: cannot enable WAL mode (journal_mode is {row!r})")
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
            await self._written.wait()
            self._written.clear()
            try:
                await self._conn(self._checkpointer).execute("PRAGMA wal_checkpoint(PASSIVE)")
            except (sqlite3.Error, ValueError, StoreError):
                logger.exception(
                    "checkpoint of %s failed; the writer checkpoints itself past %d WAL pages",
                    self._path,
                    WRITER_CHECKPOINT_PAGES,
                )
            await asyncio.sleep(self._checkpoint_seconds)

    async def _migrate(self) -> None:
        latest = len(MIGRATIONS)
        for target in range(1, latest + 1):
            async with self._write_tx() as conn:
                # Read inside the transaction: another process may have migrated meanwhile.
                version = await self._user_version(conn)
                if version > latest:
                    raise StoreError(
                        f"{self._path} has schema version {version}, newer than this server "
                        f"supports ({latest})"
                    )
                if version >= target:
                    continue
                for statement in MIGRATIONS[target - 1]:
                    await conn.execute(statement)
                await conn.execute(f"PRAGMA user_version = {target:d}")
            logger.info("migrated %s to schema version %d", self._path, target)

    @staticmethod
    async def _user_version(conn: aiosqlite.Connection) -> int:
        async with conn.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        if row is None:
            raise StoreError("PRAGMA user_version returned nothing")
        return int(row[0])

    # -- transactions ----------------------------------------------------------------------

    def _conn(self, conn: aiosqlite.Connection | None) -> aiosqlite.Connection:
        if conn is None:
            raise StoreError(f"{self._path} is not open")
        return conn

    @asynccontextmanager
    async def _write_tx(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._tx_lock:
            conn = self._conn(self._writer)
            try:
                # IMMEDIATE takes the write lock up front, so busy_timeout covers it instead of
                # the transaction failing half way when another process holds the lock.
                await conn.execute("BEGIN IMMEDIATE")
                yield conn
                await conn.commit()
                self._written.set()
            except BaseException:
                # Also on cancellation: the next user of this connection must not find a
                # transaction left open. aiosqlite runs calls in order, so this rollback runs
                # after whatever statement the cancelled await had already queued.
                await self._rollback(conn)
                raise

    @asynccontextmanager
    async def _read_tx(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._read_lock:
            conn = self._conn(self._reader)
            try:
                await conn.execute("BEGIN")
                yield conn
                await conn.commit()
            except BaseException:
                await self._rollback(conn)
                raise

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[aiosqlite.Connection]:
        """Single-statement reads: just the lock, so they never run inside load()'s snapshot."""
        async with self._read_lock:
            yield self._conn(self._reader)

    async def _rollback(self, conn: aiosqlite.Connection) -> None:
        try:
            await conn.rollback()
        except (sqlite3.Error, ValueError):
            # The original error is what the caller needs to see; this one only explains why
            # the connection may be unusable from now on.
            logger.exception("rollback on %s failed", self._path)

    # -- appends (writer task only) ----------------------------------------------------------

    def append(self, name: DocName, update: bytes) -> asyncio.Future[None]:
        return self._queue.append(name, update)

    async def flush(self) -> None:
        await self._queue.flush()

    async def _commit_batch(self, batch: Sequence[PendingAppend]) -> list[StoreError | None]:
        async with self._tx_lock:
            conn = self._conn(self._writer)
            known = {item.name: self._doc_ids.get(item.name) for item in batch}
            try:
                found = await _on_thread(conn, _append_rows, batch, known, self._clock())
                self._written.set()
            except BaseException:
                # The cache may be what broke the batch (e.g. a row deleted behind our back);
                # start the next batch from the database's truth.
                self._doc_ids.clear()
                raise
        outcomes: list[StoreError | None] = []
        for item in batch:
            doc_id = found.get(item.name)
            if doc_id is None:
                outcomes.append(DocumentNotFound(f"no document {item.name!r}"))
            else:
                self._doc_ids[item.name] = doc_id
                outcomes.append(None)
        return outcomes

    async def _lookup_id(self, conn: aiosqlite.Connection, name: DocName) -> int | None:
        async with conn.execute("SELECT id FROM documents WHERE name = ?", (name,)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        doc_id = int(row[0])
        self._doc_ids[name] = doc_id
        return doc_id

    # -- reads -----------------------------------------------------------------------------

    async def load(self, name: DocName) -> StoredDoc | None:
        with _translate(f"loading {name!r}"):
            async with self._read_tx() as conn:
                async with conn.execute(
                    "SELECT id, epoch, snapshot_complete, snapshot FROM documents WHERE name = ?",
                    (name,),
                ) as cursor:
                    row = await cursor.fetchone()
                if row is None:
                    return None
                doc_id, epoch, complete, snapshot = row
                updates = await conn.execute_fetchall(
                    "SELECT data FROM updates WHERE doc_id = ? ORDER BY id", (doc_id,)
                )
        return StoredDoc(snapshot, [data for (data,) in updates], epoch, bool(complete))

    async def info(self, name: DocName) -> DocInfo | None:
        with _translate(f"reading info of {name!r}"):
            async with self._read() as conn:
                async with conn.execute(
                    f"SELECT {_INFO_COLUMNS} FROM documents WHERE name = ?", (name,)
                ) as cursor:
                    row = await cursor.fetchone()
        return None if row is None else _info(row)

    async def log_stats(self, name: DocName) -> LogStats:
        with _translate(f"reading log stats of {name!r}"):
            async with self._read() as conn:
                async with conn.execute(
                    "SELECT log_rows, log_bytes FROM documents WHERE name = ?", (name,)
                ) as cursor:
                    row = await cursor.fetchone()
        if row is None:
            raise DocumentNotFound(f"no document {name!r}")
        return LogStats(rows=row[0], bytes=row[1])

    async def list_docs(self, limit: int, before: tuple[float, str] | None = None) -> list[DocInfo]:
        check_limit(limit)
        if before is None:
            sql = (
                f"SELECT {_INFO_COLUMNS} FROM documents ORDER BY updated_at DESC, name DESC LIMIT ?"
            )
            params: tuple[Any, ...] = (limit,)
        else:
            sql = (
                f"SELECT {_INFO_COLUMNS} FROM documents WHERE (updated_at, name) < (?, ?)"
                " ORDER BY updated_at DESC, name DESC LIMIT ?"
            )
            params = (before[0], before[1], limit)
        with _translate("listing documents"):
            async with self._read() as conn:
                rows = await conn.execute_fetchall(sql, params)
        return [_info(row) for row in rows]

    async def ping(self) -> None:
        if not self._queue.running:
            raise StoreError(f"{self._path}: writer is not running")
        with _translate(f"pinging {self._path}"):
            async with self._read() as conn:
                async with conn.execute("SELECT 1") as cursor:
                    await cursor.fetchone()

    # -- other writes ----------------------------------------------------------------------

    async def ensure(self, name: DocName) -> DocInfo:
        # Nearly every call finds the row, and the reader does not wait behind a batch's fsync.
        existing = await self.info(name)
        if existing is not None:
            return existing
        now = self._clock()
        with _translate(f"creating {name!r}"):
            async with self._write_tx() as conn:
                await conn.execute(
                    "INSERT INTO documents (name, epoch, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
                    (name, uuid.uuid4().hex, now, now),
                )
                async with conn.execute(
                    f"SELECT id, {_INFO_COLUMNS} FROM documents WHERE name = ?", (name,)
                ) as cursor:
                    row = await cursor.fetchone()
                if row is None:
                    raise StoreError(f"document {name!r} vanished right after its insert")
                self._doc_ids[name] = int(row[0])
        return _info(tuple(row)[1:])

    async def set_title(self, name: DocName, title: str) -> None:
        with _translate(f"setting title of {name!r}"):
            async with self._write_tx() as conn:
                cursor = await conn.execute(
                    "UPDATE documents SET title = ?, updated_at = ? WHERE name = ?",
                    (title, self._clock(), name),
                )
                if cursor.rowcount == 0:
                    raise DocumentNotFound(f"no document {name!r}")

    async def delete(self, name: DocName) -> bool:
        with _translate(f"deleting {name!r}"):
            async with self._write_tx() as conn:
                # The updates rows go with it through ON DELETE CASCADE.
                cursor = await conn.execute("DELETE FROM documents WHERE name = ?", (name,))
                self._doc_ids.pop(name, None)
                return cursor.rowcount > 0

    async def compact(self, name: DocName) -> int:
        async with self._compact_lock:
            with _translate(f"reading log of {name!r} for compaction"):
                async with self._read_tx() as conn:
                    async with conn.execute(
                        "SELECT id, epoch, snapshot, snapshot_complete FROM documents"
                        " WHERE name = ?",
                        (name,),
                    ) as cursor:
                        row = await cursor.fetchone()
                    if row is None:
                        raise DocumentNotFound(f"no document {name!r}")
                    doc_id, epoch, snapshot, complete = row
                    log = await conn.execute_fetchall(
                        "SELECT id, data FROM updates WHERE doc_id = ? ORDER BY id", (doc_id,)
                    )
            entries = list(log)
            if not entries:
                return len(snapshot or b"")
            last_id = entries[-1][0]
            log_bytes = sum(len(data) for _, data in entries)
            parts = [data for _, data in entries]
            if snapshot is not None:
                parts.insert(0, snapshot)
            try:
                merged, held = await self._fold(parts, snapshot is not None and not complete)
            except ValueError as exc:
                raise StoreError(
                    f"cannot compact {name!r}: its log holds an invalid update"
                ) from exc
            with _translate(f"writing compacted snapshot of {name!r}"):
                async with self._write_tx() as conn:
                    cursor = await conn.execute(
                        "UPDATE documents SET snapshot = ?, snapshot_bytes = ?,"
                        " snapshot_complete = 1,"
                        " log_rows = log_rows - ?, log_bytes = log_bytes - ?"
                        " WHERE id = ? AND epoch = ?",
                        (
                            merged,
                            len(merged),
                            len(entries) - len(held),
                            log_bytes - sum(len(update) for update in held),
                            doc_id,
                            epoch,
                        ),
                    )
                    if cursor.rowcount == 0:
                        logger.info("%r was deleted while being compacted", name)
                        return 0
                    cursor = await conn.execute(
                        "DELETE FROM updates WHERE doc_id = ? AND id <= ?", (doc_id, last_id)
                    )
                    if cursor.rowcount != len(entries):
                        # Someone else removed log rows after we read them (another process
                        # compacting); committing would lose their snapshot's contents.
                        raise StoreError(
                            f"log of {name!r} changed during compaction "
                            f"({cursor.rowcount} rows to delete, {len(entries)} merged)"
                        )
                    # Updates still waiting for a predecessor stay rows of their own, as the
                    # live room holds them: merged into the snapshot, pycrdt would show part of
                    # them on the next load. After rows written meanwhile: order does not
                    # change what a CRDT integrates.
                    await conn.executemany(
                        "INSERT INTO updates (doc_id, data) VALUES (?, ?)",
                        [(doc_id, update) for update in held],
                    )
            return len(merged)

    # -- versions ----------------------------------------------------------------------------

    async def durable_state(self, name: DocName) -> bytes | None:
        await self.flush()
        return await full_state(name, await self.load(name))

    async def add_version(
        self,
        name: DocName,
        *,
        kind: VersionKind,
        state: bytes,
        created_at: float,
        label: str | None = None,
        authors: Sequence[str] = (),
    ) -> VersionInfo:
        check_kind(kind)
        names = list(authors)
        compressed = await asyncio.to_thread(zlib.compress, state, VERSION_COMPRESSION)
        with _translate(f"recording a version of {name!r}"):
            async with self._write_tx() as conn:
                doc_id = await self._lookup_id(conn, name)
                if doc_id is None:
                    raise DocumentNotFound(f"no document {name!r}")
                cursor = await conn.execute(
                    "INSERT INTO versions (doc_id, created_at, kind, label, authors, size, state)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (doc_id, created_at, kind, label, json.dumps(names), len(state), compressed),
                )
                version_id = cursor.lastrowid
        if version_id is None:
            raise StoreError(f"recording a version of {name!r} returned no row id")
        return VersionInfo(version_id, created_at, kind, label, tuple(names), len(state))

    async def list_versions(
        self, name: DocName, *, limit: int | None = None, before: int | None = None
    ) -> list[VersionInfo]:
        if limit is not None:
            check_limit(limit)
        sql = f"SELECT {_VERSION_COLUMNS} FROM versions v WHERE v.doc_id = ?"
        if before is not None:
            sql += " AND v.id < ?"
        # LIMIT -1 is SQLite for "no limit".
        sql += " ORDER BY v.id DESC LIMIT ?"
        with _translate(f"listing versions of {name!r}"):
            async with self._read_tx() as conn:
                async with conn.execute(
                    "SELECT id FROM documents WHERE name = ?", (name,)
                ) as cursor:
                    row = await cursor.fetchone()
                if row is None:
                    raise DocumentNotFound(f"no document {name!r}")
                params: tuple[Any, ...] = (row[0],) if before is None else (row[0], before)
                rows = await conn.execute_fetchall(sql, (*params, -1 if limit is None else limit))
        return [_version(r) for r in rows]

    async def get_version(self, name: DocName, version_id: int) -> Version | None:
        with _translate(f"reading version {version_id} of {name!r}"):
            async with self._read() as conn:
                async with conn.execute(
                    f"SELECT {_VERSION_COLUMNS}, v.state FROM versions v"
                    " JOIN documents d ON d.id = v.doc_id WHERE d.name = ? AND v.id = ?",
                    (name, version_id),
                ) as cursor:
                    row = await cursor.fetchone()
        if row is None:
            return None
        info = _version(tuple(row)[:-1])
        try:
            state = await asyncio.to_thread(zlib.decompress, row[-1])
        except zlib.error as exc:
            raise StoreError(f"version {version_id} of {name!r} is corrupt: {exc}") from exc
        return Version(info, state)

    async def delete_versions(self, name: DocName, ids: Sequence[int]) -> int:
        unique = sorted(set(ids))
        if not unique:
            return 0
        with _translate(f"deleting versions of {name!r}"):
            async with self._write_tx() as conn:
                doc_id = await self._lookup_id(conn, name)
                if doc_id is None:
                    return 0
                cursor = await conn.executemany(
                    "DELETE FROM versions WHERE id = ? AND doc_id = ?",
                    [(version_id, doc_id) for version_id in unique],
                )
                return cursor.rowcount

    # -- accounts and sharing ------------------------------------------------------------------

    async def create_user(self, username: str, password_hash: str) -> User:
        with _translate(f"creating user {username!r}"):
            async with self._write_tx() as conn:
                cursor = await conn.execute(
                    "INSERT INTO users (username, password_hash, created_at) VALUES (?, ?, ?)"
                    " ON CONFLICT (username) DO NOTHING",
                    (username, password_hash, self._clock()),
                )
                if cursor.rowcount == 0:
                    raise UserExists(f"the username {username!r} is taken")
                user_id = cursor.lastrowid
        assert user_id is not None
        return User(user_id, username)

    async def find_user(self, username: str) -> tuple[User, str] | None:
        """The user and their password hash."""
        with _translate(f"reading user {username!r}"):
            async with self._read() as conn:
                async with conn.execute(
                    "SELECT id, username, password_hash FROM users WHERE username = ?",
                    (username,),
                ) as cursor:
                    row = await cursor.fetchone()
        return None if row is None else (User(row[0], row[1]), row[2])

    async def create_session(self, user: User, token_hash: str, expires_at: float) -> None:
        with _translate("creating a session"):
            async with self._write_tx() as conn:
                await conn.execute("DELETE FROM sessions WHERE expires_at < ?", (self._clock(),))
                await conn.execute(
                    "INSERT INTO sessions (token_hash, user_id, expires_at) VALUES (?, ?, ?)",
                    (token_hash, user.id, expires_at),
                )

    async def session_user(self, token_hash: str) -> User | None:
        with _translate("reading a session"):
            async with self._read() as conn:
                async with conn.execute(
                    "SELECT u.id, u.username FROM sessions s JOIN users u ON u.id = s.user_id"
                    " WHERE s.token_hash = ? AND s.expires_at > ?",
                    (token_hash, self._clock()),
                ) as cursor:
                    row = await cursor.fetchone()
        return None if row is None else User(row[0], row[1])

    async def delete_session(self, token_hash: str) -> None:
        with _translate("deleting a session"):
            async with self._write_tx() as conn:
                await conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    async def set_owner(self, name: DocName, user: User) -> None:
        with _translate(f"setting the owner of {name!r}"):
            async with self._write_tx() as conn:
                cursor = await conn.execute(
                    "UPDATE documents SET owner_id = ? WHERE name = ?", (user.id, name)
                )
                if cursor.rowcount == 0:
                    raise DocumentNotFound(f"no document {name!r}")

    async def access(self, name: DocName, user: User | None, link_token: str | None) -> Access:
        """Everything that decides a caller's role on one document, in one read."""
        with _translate(f"reading access to {name!r}"):
            async with self._read() as conn:
                async with conn.execute(
                    "SELECT id, owner_id FROM documents WHERE name = ?", (name,)
                ) as cursor:
                    row = await cursor.fetchone()
                if row is None:
                    return Access(exists=False)
                doc_id, owner_id = row
                share = None
                if user is not None:
                    async with conn.execute(
                        "SELECT role FROM shares WHERE doc_id = ? AND user_id = ?",
                        (doc_id, user.id),
                    ) as cursor:
                        found = await cursor.fetchone()
                    share = None if found is None else found[0]
                link: tuple[int, str] | None = None
                if link_token:
                    async with conn.execute(
                        "SELECT id, role FROM links WHERE doc_id = ? AND token = ?"
                        " AND revoked_at IS NULL",
                        (doc_id, link_token),
                    ) as cursor:
                        found = await cursor.fetchone()
                    link = None if found is None else (found[0], found[1])
        return Access(
            exists=True,
            owned=owner_id is not None,
            is_owner=user is not None and owner_id == user.id,
            share=share,
            link_id=None if link is None else link[0],
            link_role=None if link is None else link[1],
        )

    async def list_docs_for(
        self, user: User, limit: int, before: tuple[float, str] | None = None
    ) -> list[DocInfo]:
        """Documents the user owns or has been shared, newest first (paged like list_docs)."""
        check_limit(limit)
        where = "(owner_id = ? OR id IN (SELECT doc_id FROM shares WHERE user_id = ?))"
        params: tuple[Any, ...] = (user.id, user.id)
        if before is not None:
            where += " AND (updated_at, name) < (?, ?)"
            params += (before[0], before[1])
        sql = (
            f"SELECT {_INFO_COLUMNS} FROM documents WHERE {where}"
            " ORDER BY updated_at DESC, name DESC LIMIT ?"
        )
        with _translate("listing documents"):
            async with self._read() as conn:
                rows = await conn.execute_fetchall(sql, (*params, limit))
        return [_info(row) for row in rows]

    async def set_share(self, name: DocName, username: str, role: str | None) -> User:
        """Share with a user as viewer/editor, or unshare (role None). Raises UserNotFound."""
        with _translate(f"sharing {name!r}"):
            async with self._write_tx() as conn:
                doc_id = await self._lookup_id(conn, name)
                if doc_id is None:
                    raise DocumentNotFound(f"no document {name!r}")
                async with conn.execute(
                    "SELECT id, username FROM users WHERE username = ?", (username,)
                ) as cursor:
                    row = await cursor.fetchone()
                if row is None:
                    raise UserNotFound(f"no user named {username!r}")
                user = User(row[0], row[1])
                if role is None:
                    await conn.execute(
                        "DELETE FROM shares WHERE doc_id = ? AND user_id = ?", (doc_id, user.id)
                    )
                else:
                    await conn.execute(
                        "INSERT INTO shares (doc_id, user_id, role) VALUES (?, ?, ?)"
                        " ON CONFLICT (doc_id, user_id) DO UPDATE SET role = excluded.role",
                        (doc_id, user.id, role),
                    )
        return user

    async def shares(self, name: DocName) -> list[tuple[str, str]]:
        """(username, role) of everyone the document is shared with."""
        with _translate(f"listing shares of {name!r}"):
            async with self._read() as conn:
                rows = await conn.execute_fetchall(
                    "SELECT u.username, s.role FROM shares s JOIN users u ON u.id = s.user_id"
                    " JOIN documents d ON d.id = s.doc_id WHERE d.name = ? ORDER BY u.username",
                    (name,),
                )
        return [(row[0], row[1]) for row in rows]

    async def active_link(self, name: DocName, role: str, token: str) -> Link:
        """The document's unrevoked link with this role; created with `token` if none."""
        with _translate(f"creating a link to {name!r}"):
            async with self._write_tx() as conn:
                doc_id = await self._lookup_id(conn, name)
                if doc_id is None:
                    raise DocumentNotFound(f"no document {name!r}")
                async with conn.execute(
                    "SELECT id, role, token, created_at FROM links"
                    " WHERE doc_id = ? AND role = ? AND revoked_at IS NULL",
                    (doc_id, role),
                ) as cursor:
                    row = await cursor.fetchone()
                if row is not None:
                    return Link(row[0], row[1], row[2], row[3])
                now = self._clock()
                cursor = await conn.execute(
                    "INSERT INTO links (doc_id, token, role, created_at) VALUES (?, ?, ?, ?)",
                    (doc_id, token, role, now),
                )
                link_id = cursor.lastrowid
        assert link_id is not None
        return Link(link_id, role, token, now)

    async def links(self, name: DocName) -> list[Link]:
        """The document's unrevoked links."""
        with _translate(f"listing links of {name!r}"):
            async with self._read() as conn:
                rows = await conn.execute_fetchall(
                    "SELECT l.id, l.role, l.token, l.created_at FROM links l"
                    " JOIN documents d ON d.id = l.doc_id"
                    " WHERE d.name = ? AND l.revoked_at IS NULL ORDER BY l.id",
                    (name,),
                )
        return [Link(row[0], row[1], row[2], row[3]) for row in rows]

    async def revoke_link(self, name: DocName, link_id: int) -> bool:
        with _translate(f"revoking a link to {name!r}"):
            async with self._write_tx() as conn:
                cursor = await conn.execute(
                    "UPDATE links SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"
                    " AND doc_id = (SELECT id FROM documents WHERE name = ?)",
                    (self._clock(), link_id, name),
                )
                return cursor.rowcount > 0

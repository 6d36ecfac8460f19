"""Documents and their update logs on SQLite: appends (the writer's hot path), reads,
writes and compaction."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Final

from server.store.appendqueue import AppendQueue, PendingAppend
from server.store.base import (
    DocInfo,
    DocName,
    DocumentNotFound,
    DocumentTrashed,
    Fold,
    LogStats,
    StoredDoc,
    StoreError,
    check_limit,
    comments_name,
    comments_parent,
)
from server.store.merge import full_state, held_in_place
from server.store.sqlite.database import Database, find_doc_id, on_thread, translate

logger = logging.getLogger(__name__)

INFO_COLUMNS: Final = (  # matches doc_info()
    "name, title, epoch, created_at, updated_at, snapshot_bytes + log_bytes, preview"
)
# Documents in the trash are absent to everything but the trash's own methods.
LIVE: Final = "deleted_at IS NULL"


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
                doc_id = find_doc_id(db, item.name)
                if doc_id is None:
                    missing.add(item.name)
                    continue
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


def doc_info(row: sqlite3.Row | tuple[Any, ...]) -> DocInfo:
    name, title, epoch, created_at, updated_at, size, preview = row
    return DocInfo(DocName(name), title, epoch, created_at, updated_at, size, preview)


class SqliteDocuments:
    """The DocumentStore methods on documents and their logs; part of SqliteStore."""

    _db: Database
    _queue: AppendQueue
    _clock: Callable[[], float]
    _fold: Fold
    _compact_lock: asyncio.Lock

    # -- appends (writer task only) ----------------------------------------------------------

    def append(self, name: DocName, update: bytes) -> asyncio.Future[None]:
        return self._queue.append(name, update)

    async def flush(self) -> None:
        await self._queue.flush()

    async def _commit_batch(self, batch: Sequence[PendingAppend]) -> list[StoreError | None]:
        async with self._db.tx_lock:
            conn = self._db.conn(self._db.writer)
            known = {item.name: self._db.doc_ids.get(item.name) for item in batch}
            try:
                found = await on_thread(conn, _append_rows, batch, known, self._clock())
                self._db.written.set()
            except BaseException:
                # The cache may be what broke the batch (e.g. a row deleted behind our back);
                # start the next batch from the database's truth.
                self._db.doc_ids.clear()
                raise
        outcomes: list[StoreError | None] = []
        for item in batch:
            doc_id = found.get(item.name)
            if doc_id is None:
                outcomes.append(DocumentNotFound(f"no document {item.name!r}"))
            else:
                self._db.doc_ids[item.name] = doc_id
                outcomes.append(None)
        return outcomes

    # -- reads -----------------------------------------------------------------------------

    async def load(self, name: DocName) -> StoredDoc | None:
        with translate(f"loading {name!r}"):
            async with self._db.read_tx() as conn:
                async with conn.execute(
                    "SELECT id, epoch, snapshot_complete, snapshot FROM documents"
                    f" WHERE name = ? AND {LIVE}",
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
        row = await self._db.read_one(
            f"reading info of {name!r}",
            f"SELECT {INFO_COLUMNS} FROM documents WHERE name = ? AND {LIVE}",
            (name,),
        )
        return None if row is None else doc_info(row)

    async def log_stats(self, name: DocName) -> LogStats:
        row = await self._db.read_one(
            f"reading log stats of {name!r}",
            "SELECT log_rows, log_bytes FROM documents WHERE name = ?",
            (name,),
        )
        if row is None:
            raise DocumentNotFound(f"no document {name!r}")
        return LogStats(rows=row[0], bytes=row[1])

    async def list_docs(self, limit: int, before: tuple[float, str] | None = None) -> list[DocInfo]:
        check_limit(limit)
        if before is None:
            sql = (
                f"SELECT {INFO_COLUMNS} FROM documents WHERE parent_id IS NULL AND {LIVE}"
                " ORDER BY updated_at DESC, name DESC LIMIT ?"
            )
            params: tuple[Any, ...] = (limit,)
        else:
            sql = (
                f"SELECT {INFO_COLUMNS} FROM documents"
                f" WHERE parent_id IS NULL AND {LIVE} AND (updated_at, name) < (?, ?)"
                " ORDER BY updated_at DESC, name DESC LIMIT ?"
            )
            params = (before[0], before[1], limit)
        rows = await self._db.read_all("listing documents", sql, params)
        return [doc_info(row) for row in rows]

    # -- other writes ----------------------------------------------------------------------

    async def ensure(self, name: DocName) -> DocInfo:
        # Nearly every call finds the row, and the reader does not wait behind a batch's fsync.
        existing = await self.info(name)
        if existing is not None:
            return existing
        now = self._clock()
        parent = comments_parent(name)
        with translate(f"creating {name!r}"):
            async with self._db.write_tx() as conn:
                if parent is not None:
                    async with conn.execute(
                        f"SELECT 1 FROM documents WHERE name = ? AND {LIVE}", (parent,)
                    ) as cursor:
                        if await cursor.fetchone() is None:
                            raise DocumentNotFound(f"no document {parent!r} to hold comments for")
                await conn.execute(
                    "INSERT INTO documents (name, epoch, created_at, updated_at, parent_id)"
                    " VALUES (?, ?, ?, ?, (SELECT id FROM documents WHERE name = ?))"
                    " ON CONFLICT (name) DO NOTHING",
                    (name, uuid.uuid4().hex, now, now, parent),
                )
                async with conn.execute(
                    f"SELECT id, deleted_at, {INFO_COLUMNS} FROM documents WHERE name = ?",
                    (name,),
                ) as cursor:
                    row = await cursor.fetchone()
                if row is None:
                    raise StoreError(f"document {name!r} vanished right after its insert")
                if row[1] is not None:
                    raise DocumentTrashed(f"{name!r} is in the trash")
                self._db.doc_ids[name] = int(row[0])
        return doc_info(tuple(row)[2:])

    async def set_title(self, name: DocName, title: str) -> None:
        with translate(f"setting title of {name!r}"):
            async with self._db.write_tx() as conn:
                cursor = await conn.execute(
                    "UPDATE documents SET title = ?, updated_at = ? WHERE name = ?",
                    (title, self._clock(), name),
                )
                if cursor.rowcount == 0:
                    raise DocumentNotFound(f"no document {name!r}")

    async def delete(self, name: DocName) -> bool:
        with translate(f"deleting {name!r}"):
            async with self._db.write_tx() as conn:
                # The updates rows, and its comments' document, go with it through ON DELETE
                # CASCADE; its search row (a virtual table takes no foreign key) by hand.
                await conn.execute(
                    "DELETE FROM doc_search"
                    " WHERE rowid = (SELECT id FROM documents WHERE name = ?)",
                    (name,),
                )
                cursor = await conn.execute("DELETE FROM documents WHERE name = ?", (name,))
                self._db.doc_ids.pop(name, None)
                self._db.doc_ids.pop(comments_name(name), None)
                return cursor.rowcount > 0

    async def compact(self, name: DocName) -> int:
        async with self._compact_lock:
            with translate(f"reading log of {name!r} for compaction"):
                async with self._db.read_tx() as conn:
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
            entries = [(row_id, data) for row_id, data in log]
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
            with translate(f"writing compacted snapshot of {name!r}"):
                async with self._db.write_tx() as conn:
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
                    keep, loose = held_in_place(entries, held)
                    deleted = 0
                    low = 0  # rows (low, high) between two held ones go
                    for high in [*keep, last_id + 1]:
                        cursor = await conn.execute(
                            "DELETE FROM updates WHERE doc_id = ? AND id > ? AND id < ?",
                            (doc_id, low, high),
                        )
                        deleted += cursor.rowcount
                        low = high
                    if deleted != len(entries) - len(keep):
                        # Someone else removed log rows after we read them (another process
                        # compacting); committing would lose their snapshot's contents.
                        raise StoreError(
                            f"log of {name!r} changed during compaction "
                            f"({deleted} rows deleted, {len(entries) - len(keep)} merged)"
                        )
                    # Only an old raw snapshot's held part is no row: it waits after the rest.
                    await conn.executemany(
                        "INSERT INTO updates (doc_id, data) VALUES (?, ?)",
                        [(doc_id, update) for update in loose],
                    )
            return len(merged)

    async def durable_state(self, name: DocName) -> bytes | None:
        await self.flush()
        return await full_state(name, await self.load(name), self._fold)

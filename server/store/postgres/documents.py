"""Documents and their update logs on PostgreSQL: appends numbered per document, reads, writes,
compaction by compare-and-set, and what instances sharing the store read (SharedLog)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Final

import asyncpg

from server.store.appendqueue import AppendQueue, PendingAppend
from server.store.base import (
    CommittedRow,
    DocInfo,
    DocName,
    DocumentNotFound,
    DocumentTrashed,
    Fold,
    LogStats,
    StoredDoc,
    StoreError,
    check_limit,
    comments_parent,
)
from server.store.merge import full_state, held_in_place
from server.store.postgres.database import COMPACT_LOCK, Conn, Database, lock_key

logger = logging.getLogger(__name__)

INFO_COLUMNS: Final = (
    "name, title, epoch, created_at, updated_at, snapshot_bytes + log_bytes, preview"
)
# Documents in the trash are absent to everything but the trash's own methods.
LIVE: Final = "deleted_at IS NULL"


def doc_info(row: asyncpg.Record) -> DocInfo:
    name, title, epoch, created_at, updated_at, size, preview = tuple(row)[:7]
    return DocInfo(DocName(name), title, epoch, created_at, updated_at, int(size), preview)


class PostgresDocuments:
    """The DocumentStore and SharedLog methods on documents and their logs; part of
    PostgresStore."""

    _db: Database
    _queue: AppendQueue
    _clock: Callable[[], float]
    _fold: Fold
    _compact_lock: asyncio.Lock
    _keep_recent_seconds: float
    _on_commit: list[Callable[[list[CommittedRow]], None]]

    # -- appends ---------------------------------------------------------------------------

    def append(self, name: DocName, update: bytes) -> asyncio.Future[None]:
        return self._queue.append(name, update)

    async def flush(self) -> None:
        await self._queue.flush()

    def on_commit(self, callback: Callable[[list[CommittedRow]], None]) -> None:
        self._on_commit.append(callback)

    async def _commit_batch(self, batch: Sequence[PendingAppend]) -> list[StoreError | None]:
        names = sorted({item.name for item in batch})
        now = self._clock()

        async def work(conn: Conn) -> dict[DocName, int]:
            # Locked in id order, so two instances' batches never deadlock; the row locks make
            # each document's numbers follow commit order.
            found = {
                DocName(r["name"]): int(r["id"])
                for r in await conn.fetch(
                    "SELECT id, name FROM documents WHERE name = ANY($1::text[])"
                    " ORDER BY id FOR UPDATE",
                    names,
                )
            }
            counts: dict[int, list[int]] = {}
            for item in batch:
                doc_id = found.get(item.name)
                if doc_id is not None:
                    entry = counts.setdefault(doc_id, [0, 0])
                    entry[0] += 1
                    entry[1] += len(item.update)
            if not counts:
                return {}
            ids = sorted(counts)
            heads = {
                int(r["id"]): int(r["head_seq"])
                for r in await conn.fetch(
                    "UPDATE documents d SET head_seq = d.head_seq + v.n,"
                    " log_rows = d.log_rows + v.n, log_bytes = d.log_bytes + v.size,"
                    " updated_at = $4"
                    " FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS v(id, n, size)"
                    " WHERE d.id = v.id RETURNING d.id, d.head_seq",
                    ids,
                    [counts[i][0] for i in ids],
                    [counts[i][1] for i in ids],
                    now,
                )
            }
            # Each document's first new number; the batch's rows take them in order.
            first = {i: heads[i] - counts[i][0] + 1 for i in ids}
            taken = dict(first)
            doc_ids: list[int] = []
            seqs: list[int] = []
            data: list[bytes] = []
            for item in batch:
                doc_id = found.get(item.name)
                if doc_id is not None:
                    doc_ids.append(doc_id)
                    seqs.append(taken[doc_id])
                    taken[doc_id] += 1
                    data.append(item.update)
            await conn.execute(
                "INSERT INTO updates (doc_id, seq, committed_at, data)"
                " SELECT d, s, $4, u FROM unnest($1::bigint[], $2::bigint[], $3::bytea[])"
                " AS v(d, s, u)",
                doc_ids,
                seqs,
                data,
                now,
            )
            return {name: first[doc_id] for name, doc_id in found.items() if doc_id in first}

        firsts = await self._db.run("appending updates", work)
        committed: list[CommittedRow] = []
        outcomes: list[StoreError | None] = []
        for item in batch:
            seq = firsts.get(item.name)
            if seq is None:
                outcomes.append(DocumentNotFound(f"no document {item.name!r}"))
                continue
            firsts[item.name] = seq + 1
            committed.append(CommittedRow(item.name, seq, item.update))
            outcomes.append(None)
        for callback in self._on_commit:
            try:
                callback(committed)
            except Exception:
                # What listens is delivery to other instances; the rows are durable whatever
                # happens to it, and their senders must hear so.
                logger.exception("a commit listener failed")
        return outcomes

    # -- reads -----------------------------------------------------------------------------

    async def load(self, name: DocName) -> StoredDoc | None:
        async def work(conn: Conn) -> StoredDoc | None:
            row = await conn.fetchrow(
                "SELECT id, epoch, snapshot_complete, snapshot, head_seq FROM documents"
                f" WHERE name = $1 AND {LIVE}",
                name,
            )
            if row is None:
                return None
            rows = await conn.fetch(
                "SELECT data FROM updates WHERE doc_id = $1 ORDER BY seq", row["id"]
            )
            return StoredDoc(
                row["snapshot"],
                [r["data"] for r in rows],
                row["epoch"],
                row["snapshot_complete"],
                head_seq=int(row["head_seq"]),
            )

        # One snapshot of the database: the rows and the number of the newest agree.
        return await self._db.run(f"loading {name!r}", work, readonly=True)

    async def read_since(self, name: DocName, after_seq: int) -> list[tuple[int, bytes]] | None:
        async def work(conn: Conn) -> list[tuple[int, bytes]] | None:
            row = await conn.fetchrow(
                "SELECT id, snapshot_seq FROM documents WHERE name = $1", name
            )
            if row is None:
                raise DocumentNotFound(f"no document {name!r}")
            if after_seq < row["snapshot_seq"]:
                return None
            rows = await conn.fetch(
                "SELECT seq, data FROM updates WHERE doc_id = $1 AND seq > $2 ORDER BY seq",
                row["id"],
                after_seq,
            )
            return [(int(r["seq"]), bytes(r["data"])) for r in rows]

        return await self._db.run(f"reading the log of {name!r}", work, readonly=True)

    async def heads(self, names: Sequence[DocName]) -> dict[DocName, int]:
        rows = await self._db.fetch(
            "reading the newest rows",
            "SELECT name, head_seq FROM documents WHERE name = ANY($1::text[])",
            list(names),
        )
        return {DocName(r["name"]): int(r["head_seq"]) for r in rows}

    async def claim_version(self, name: DocName, now: float, spacing: float) -> bool:
        row = await self._db.fetchrow(
            f"claiming a version of {name!r}",
            "UPDATE documents SET version_claimed_at = $2 WHERE name = $1"
            " AND (version_claimed_at IS NULL OR version_claimed_at <= $2::float8 - $3::float8)"
            " RETURNING id",
            name,
            now,
            spacing,
        )
        return row is not None

    async def info(self, name: DocName) -> DocInfo | None:
        row = await self._db.fetchrow(
            f"reading info of {name!r}",
            f"SELECT {INFO_COLUMNS} FROM documents WHERE name = $1 AND {LIVE}",
            name,
        )
        return None if row is None else doc_info(row)

    async def log_stats(self, name: DocName) -> LogStats:
        row = await self._db.fetchrow(
            f"reading log stats of {name!r}",
            "SELECT log_rows, log_bytes FROM documents WHERE name = $1",
            name,
        )
        if row is None:
            raise DocumentNotFound(f"no document {name!r}")
        return LogStats(rows=int(row[0]), bytes=int(row[1]))

    async def list_docs(self, limit: int, before: tuple[float, str] | None = None) -> list[DocInfo]:
        check_limit(limit)
        if before is None:
            rows = await self._db.fetch(
                "listing documents",
                f"SELECT {INFO_COLUMNS} FROM documents WHERE parent_id IS NULL AND {LIVE}"
                " ORDER BY updated_at DESC, name DESC LIMIT $1",
                limit,
            )
        else:
            rows = await self._db.fetch(
                "listing documents",
                f"SELECT {INFO_COLUMNS} FROM documents"
                f" WHERE parent_id IS NULL AND {LIVE} AND (updated_at, name) < ($1, $2)"
                " ORDER BY updated_at DESC, name DESC LIMIT $3",
                before[0],
                before[1],
                limit,
            )
        return [doc_info(row) for row in rows]

    # -- other writes ----------------------------------------------------------------------

    async def ensure(self, name: DocName) -> DocInfo:
        existing = await self.info(name)
        if existing is not None:
            return existing
        now = self._clock()
        parent = comments_parent(name)

        async def work(conn: Conn) -> DocInfo:
            if parent is not None:
                sql = f"SELECT 1 FROM documents WHERE name = $1 AND {LIVE}"
                if await conn.fetchval(sql, parent) is None:
                    raise DocumentNotFound(f"no document {parent!r} to hold comments for")
            await conn.execute(
                "INSERT INTO documents (name, epoch, created_at, updated_at, parent_id)"
                " VALUES ($1, $2, $3, $3, (SELECT id FROM documents WHERE name = $4))"
                " ON CONFLICT (name) DO NOTHING",
                name,
                uuid.uuid4().hex,
                now,
                parent,
            )
            row = await conn.fetchrow(
                f"SELECT {INFO_COLUMNS}, deleted_at FROM documents WHERE name = $1", name
            )
            if row is None:
                raise StoreError(f"document {name!r} vanished right after its insert")
            if row["deleted_at"] is not None:
                raise DocumentTrashed(f"{name!r} is in the trash")
            return doc_info(row)

        return await self._db.run(f"creating {name!r}", work)

    async def set_title(self, name: DocName, title: str) -> None:
        async def work(conn: Conn) -> None:
            status = await conn.execute(
                "UPDATE documents SET title = $1, updated_at = $2 WHERE name = $3",
                title,
                self._clock(),
                name,
            )
            if status == "UPDATE 0":
                raise DocumentNotFound(f"no document {name!r}")

        await self._db.run(f"setting title of {name!r}", work)

    async def delete(self, name: DocName) -> bool:
        async def work(conn: Conn) -> bool:
            # Its log, versions and comments' document go with it (ON DELETE CASCADE).
            status: str = await conn.execute("DELETE FROM documents WHERE name = $1", name)
            return status != "DELETE 0"

        return await self._db.run(f"deleting {name!r}", work)

    async def compact(self, name: DocName) -> int:
        """Fold the rows older than `keep_recent_seconds` into the snapshot. Another instance
        compacting the same document at the same time makes this one a no-op (an advisory
        lock), and a snapshot written meanwhile makes its write miss (compare-and-set on
        `snapshot_seq`): never two folds of one prefix, never a lost row."""
        async with self._compact_lock:
            row = await self._db.fetchrow(
                f"reading {name!r} for compaction",
                "SELECT id, snapshot_bytes FROM documents WHERE name = $1",
                name,
            )
            if row is None:
                raise DocumentNotFound(f"no document {name!r}")
            doc_id, size = int(row["id"]), int(row["snapshot_bytes"])

            async def locked(conn: Conn) -> int:
                key = lock_key(doc_id)
                taken = await conn.fetchval(
                    "SELECT pg_try_advisory_lock($1, $2)", COMPACT_LOCK, key
                )
                if not taken:
                    return size  # another instance is compacting it
                try:
                    return await self._compact_locked(conn, name, doc_id)
                finally:
                    await conn.execute("SELECT pg_advisory_unlock($1, $2)", COMPACT_LOCK, key)

            return await self._db.run(f"compacting {name!r}", locked, transaction=False)

    async def _compact_locked(self, conn: Conn, name: DocName, doc_id: int) -> int:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            row = await conn.fetchrow(
                "SELECT epoch, snapshot, snapshot_seq, snapshot_complete FROM documents"
                " WHERE id = $1",
                doc_id,
            )
            if row is None:
                raise DocumentNotFound(f"no document {name!r}")
            log = await conn.fetch(
                "SELECT seq, committed_at, data FROM updates WHERE doc_id = $1 ORDER BY seq",
                doc_id,
            )
        snapshot, before = row["snapshot"], int(row["snapshot_seq"])
        # Recent rows stay, for instances a little behind (read_since); only a prefix of the
        # numbers is folded, whatever the instances' clocks wrote as commit times.
        cutoff = self._clock() - self._keep_recent_seconds
        entries: list[tuple[int, bytes]] = []
        for r in log:
            if r["committed_at"] > cutoff:
                break
            entries.append((int(r["seq"]), bytes(r["data"])))
        if not entries or entries[-1][0] <= before:
            return len(snapshot or b"")
        upto = entries[-1][0]
        parts = [data for _, data in entries]
        if snapshot is not None:
            parts.insert(0, snapshot)
        try:
            pending_first = snapshot is not None and not row["snapshot_complete"]
            merged, held = await self._fold(parts, pending_first)
        except ValueError as exc:
            raise StoreError(f"cannot compact {name!r}: its log holds an invalid update") from exc
        keep, loose = held_in_place(entries, held)
        kept = set(keep)
        folded = [e for e in entries if e[0] not in kept]
        folded_bytes = sum(len(data) for _, data in folded)
        async with conn.transaction():
            status = await conn.execute(
                "UPDATE documents SET snapshot = $1, snapshot_bytes = $2, snapshot_seq = $3,"
                " snapshot_complete = TRUE, log_rows = log_rows - $4, log_bytes = log_bytes - $5"
                " WHERE id = $6 AND epoch = $7 AND snapshot_seq = $8",
                merged,
                len(merged),
                upto,
                len(folded),
                folded_bytes,
                doc_id,
                row["epoch"],
                before,
            )
            if status == "UPDATE 0":
                logger.info("%r was compacted elsewhere or deleted meanwhile", name)
                return len(merged)
            deleted = await conn.execute(
                "DELETE FROM updates WHERE doc_id = $1 AND seq = ANY($2::bigint[])",
                doc_id,
                [seq for seq, _ in folded],
            )
            if deleted != f"DELETE {len(folded)}":
                raise StoreError(f"log of {name!r} changed during compaction ({deleted})")
            if loose:
                # Parts of an old raw snapshot that still wait: rows of their own, numbered.
                head = await conn.fetchval(
                    "UPDATE documents SET head_seq = head_seq + $2, log_rows = log_rows + $2,"
                    " log_bytes = log_bytes + $3 WHERE id = $1 RETURNING head_seq",
                    doc_id,
                    len(loose),
                    sum(len(u) for u in loose),
                )
                await conn.executemany(
                    "INSERT INTO updates (doc_id, seq, committed_at, data) VALUES ($1, $2, $3, $4)",
                    [
                        (doc_id, head - len(loose) + 1 + i, self._clock(), update)
                        for i, update in enumerate(loose)
                    ],
                )
        return len(merged)

    async def durable_state(self, name: DocName) -> bytes | None:
        await self.flush()
        return await full_state(name, await self.load(name), self._fold)

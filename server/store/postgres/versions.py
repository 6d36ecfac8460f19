"""Version history on PostgreSQL: recording, listing, reading and deleting versions."""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import Sequence
from typing import Final

import asyncpg

from server.store.base import (
    DocName,
    DocumentNotFound,
    RestoredFrom,
    StoreError,
    Version,
    VersionInfo,
    VersionKind,
    check_kind,
    check_limit,
)
from server.store.postgres.database import Conn, Database, require_doc_id

VERSION_COMPRESSION: Final = 6  # as SQLite's (see there)

_VERSION_COLUMNS: Final = (
    "v.id, v.created_at, v.kind, v.label, v.authors, v.size,"
    " v.restored_id, v.restored_label, v.restored_at, v.backup_id, v.undone_at"
)


def _version(row: asyncpg.Record) -> VersionInfo:
    version_id, created_at, kind, label, authors, size, r_id, r_label, r_at, backup, undone = tuple(
        row
    )[:11]
    restored = None if r_id is None else RestoredFrom(r_id, r_label, r_at, backup)
    names = tuple(json.loads(authors))
    return VersionInfo(version_id, created_at, kind, label, names, size, restored, undone)


class PostgresVersions:
    """The DocumentStore methods on versions; part of PostgresStore."""

    _db: Database

    async def add_version(
        self,
        name: DocName,
        *,
        kind: VersionKind,
        state: bytes,
        created_at: float,
        label: str | None = None,
        authors: Sequence[str] = (),
        restored: RestoredFrom | None = None,
    ) -> VersionInfo:
        check_kind(kind)
        names = list(authors)
        compressed = await asyncio.to_thread(zlib.compress, state, VERSION_COMPRESSION)
        r = restored

        async def work(conn: Conn) -> int:
            doc_id = await require_doc_id(conn, name)
            version_id = await conn.fetchval(
                "INSERT INTO versions (doc_id, created_at, kind, label, authors, size,"
                " restored_id, restored_label, restored_at, backup_id, state)"
                " VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, $11) RETURNING id",
                *(doc_id, created_at, kind, label, json.dumps(names), len(state)),
                *((None,) * 4 if r is None else (r.id, r.label, r.created_at, r.backup)),
                compressed,
            )
            return int(version_id)

        version_id = await self._db.run(f"recording a version of {name!r}", work)
        return VersionInfo(version_id, created_at, kind, label, tuple(names), len(state), restored)

    async def list_versions(
        self, name: DocName, *, limit: int | None = None, before: int | None = None
    ) -> list[VersionInfo]:
        if limit is not None:
            check_limit(limit)

        async def work(conn: Conn) -> list[asyncpg.Record]:
            doc_id = await require_doc_id(conn, name)
            rows: list[asyncpg.Record] = await conn.fetch(
                f"SELECT {_VERSION_COLUMNS} FROM versions v WHERE v.doc_id = $1"
                " AND NOT EXISTS (SELECT 1 FROM versions r WHERE r.backup_id = v.id)"
                " AND ($2::bigint IS NULL OR v.id < $2) ORDER BY v.id DESC LIMIT $3",
                doc_id,
                before,
                limit,
            )
            return rows

        rows = await self._db.run(f"listing versions of {name!r}", work, readonly=True)
        return [_version(r) for r in rows]

    async def get_version(self, name: DocName, version_id: int) -> Version | None:
        row = await self._db.fetchrow(
            f"reading version {version_id} of {name!r}",
            f"SELECT {_VERSION_COLUMNS}, v.state FROM versions v"
            " JOIN documents d ON d.id = v.doc_id WHERE d.name = $1 AND v.id = $2",
            name,
            version_id,
        )
        if row is None:
            return None
        info = _version(row)
        try:
            state = await asyncio.to_thread(zlib.decompress, row["state"])
        except zlib.error as exc:
            raise StoreError(f"version {version_id} of {name!r} is corrupt: {exc}") from exc
        return Version(info, state)

    async def mark_undone(self, name: DocName, version_id: int, at: float) -> None:
        async def work(conn: Conn) -> None:
            doc_id = await require_doc_id(conn, name)
            status = await conn.execute(
                "UPDATE versions SET undone_at = $1 WHERE id = $2 AND doc_id = $3",
                at,
                version_id,
                doc_id,
            )
            if status != "UPDATE 1":
                raise DocumentNotFound(f"{name!r} has no version {version_id}")

        await self._db.run(f"marking version {version_id} of {name!r} undone", work)

    async def delete_versions(self, name: DocName, ids: Sequence[int]) -> int:
        unique = sorted(set(ids))
        if not unique:
            return 0
        status = await self._db.fetchrow(
            f"deleting versions of {name!r}",
            "WITH gone AS (DELETE FROM versions WHERE id = ANY($1::bigint[])"
            " AND doc_id = (SELECT id FROM documents WHERE name = $2) RETURNING 1)"
            " SELECT count(*) FROM gone",
            unique,
            name,
        )
        return 0 if status is None else int(status[0])

"""The trash on PostgreSQL (the TrashStore): a deleted_at on the document's row, as on SQLite."""

from __future__ import annotations

from typing import Final

import asyncpg

from server.store.base import DocName, TrashedDoc, check_limit
from server.store.postgres.database import Database
from server.store.postgres.documents import INFO_COLUMNS, doc_info

_COLUMNS: Final = f"{INFO_COLUMNS}, deleted_at, owner_id"


def _trashed(row: asyncpg.Record) -> TrashedDoc:
    return TrashedDoc(doc_info(row), row["deleted_at"], row["owner_id"])


class PostgresTrash:
    """The TrashStore methods; part of PostgresStore."""

    _db: Database

    async def trash(self, name: DocName, at: float) -> bool:
        row = await self._db.fetchrow(
            f"moving {name!r} to the trash",
            "UPDATE documents SET deleted_at = $1 WHERE name = $2 AND deleted_at IS NULL"
            " AND parent_id IS NULL RETURNING id",
            at,
            name,
        )
        return row is not None

    async def restore(self, name: DocName) -> bool:
        row = await self._db.fetchrow(
            f"restoring {name!r} from the trash",
            "UPDATE documents SET deleted_at = NULL WHERE name = $1 AND deleted_at IS NOT NULL"
            " RETURNING id",
            name,
        )
        return row is not None

    async def trashed(self, name: DocName) -> TrashedDoc | None:
        row = await self._db.fetchrow(
            f"reading {name!r} in the trash",
            f"SELECT {_COLUMNS} FROM documents WHERE name = $1 AND deleted_at IS NOT NULL",
            name,
        )
        return None if row is None else _trashed(row)

    async def list_trash(self, owner_id: int | None, limit: int) -> list[TrashedDoc]:
        check_limit(limit)
        rows = await self._db.fetch(
            "listing the trash",
            f"SELECT {_COLUMNS} FROM documents WHERE deleted_at IS NOT NULL"
            " AND ($1::bigint IS NULL OR owner_id = $1) ORDER BY deleted_at DESC, name LIMIT $2",
            owner_id,
            limit,
        )
        return [_trashed(row) for row in rows]

    async def expired_trash(self, before: float, limit: int) -> list[DocName]:
        rows = await self._db.fetch(
            "listing expired trash",
            "SELECT name FROM documents WHERE deleted_at < $1 ORDER BY deleted_at LIMIT $2",
            before,
            limit,
        )
        return [DocName(row[0]) for row in rows]

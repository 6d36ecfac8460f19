"""The trash on SQLite (the TrashStore): a deleted_at on the document's row, nothing moved."""

from __future__ import annotations

from typing import Any, Final

from server.store.base import DocInfo, DocName, TrashedDoc, check_limit
from server.store.sqlite.database import Database, translate
from server.store.sqlite.documents import INFO_COLUMNS, doc_info

_COLUMNS: Final = f"{INFO_COLUMNS}, deleted_at, owner_id"


def _trashed(row: Any) -> TrashedDoc:
    values = tuple(row)
    info: DocInfo = doc_info(values[:-2])
    return TrashedDoc(info, values[-2], values[-1])


class SqliteTrash:
    """The TrashStore methods; part of SqliteStore."""

    _db: Database

    async def trash(self, name: DocName, at: float) -> bool:
        with translate(f"moving {name!r} to the trash"):
            async with self._db.write_tx() as conn:
                cursor = await conn.execute(
                    "UPDATE documents SET deleted_at = ? WHERE name = ? AND deleted_at IS NULL"
                    " AND parent_id IS NULL",
                    (at, name),
                )
                return cursor.rowcount > 0

    async def restore(self, name: DocName) -> bool:
        with translate(f"restoring {name!r} from the trash"):
            async with self._db.write_tx() as conn:
                cursor = await conn.execute(
                    "UPDATE documents SET deleted_at = NULL WHERE name = ?"
                    " AND deleted_at IS NOT NULL",
                    (name,),
                )
                return cursor.rowcount > 0

    async def trashed(self, name: DocName) -> TrashedDoc | None:
        row = await self._db.read_one(
            f"reading {name!r} in the trash",
            f"SELECT {_COLUMNS} FROM documents WHERE name = ? AND deleted_at IS NOT NULL",
            (name,),
        )
        return None if row is None else _trashed(row)

    async def list_trash(self, owner_id: int | None, limit: int) -> list[TrashedDoc]:
        check_limit(limit)
        rows = await self._db.read_all(
            "listing the trash",
            f"SELECT {_COLUMNS} FROM documents WHERE deleted_at IS NOT NULL"
            " AND (? IS NULL OR owner_id = ?) ORDER BY deleted_at DESC, name LIMIT ?",
            (owner_id, owner_id, limit),
        )
        return [_trashed(row) for row in rows]

    async def expired_trash(self, before: float, limit: int) -> list[DocName]:
        rows = await self._db.read_all(
            "listing expired trash",
            "SELECT name FROM documents WHERE deleted_at IS NOT NULL AND deleted_at < ?"
            " ORDER BY deleted_at LIMIT ?",
            (before, limit),
        )
        return [DocName(row[0]) for row in rows]

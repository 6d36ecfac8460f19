"""Version history on SQLite: recording, listing, reading and deleting versions."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import zlib
from collections.abc import Sequence
from typing import Any, Final

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
from server.store.sqlite.database import Database, find_doc_id, on_thread, translate

# Level 6 (zlib's default): Yjs updates are mostly short strings and ids; higher levels cost
# several times the CPU for a few percent.
VERSION_COMPRESSION: Final = 6

_VERSION_COLUMNS: Final = (  # _version()
    "v.id, v.created_at, v.kind, v.label, v.authors, v.size,"
    " v.restored_id, v.restored_label, v.restored_at, v.backup_id, v.undone_at"
)


def _version(row: sqlite3.Row | tuple[Any, ...]) -> VersionInfo:
    version_id, created_at, kind, label, authors, size, r_id, r_label, r_at, backup, undone = row
    restored = None if r_id is None else RestoredFrom(r_id, r_label, r_at, backup)
    return VersionInfo(
        version_id, created_at, kind, label, tuple(json.loads(authors)), size, restored, undone
    )


class SqliteVersions:
    """The DocumentStore methods on versions; part of SqliteStore."""

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
        with translate(f"recording a version of {name!r}"):
            async with self._db.write_tx() as conn:
                doc_id = await self._db.require_id(conn, name)
                r = restored
                cursor = await conn.execute(
                    "INSERT INTO versions (doc_id, created_at, kind, label, authors, size,"
                    " restored_id, restored_label, restored_at, backup_id, state)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        *(doc_id, created_at, kind, label, json.dumps(names), len(state)),
                        *((None,) * 4 if r is None else (r.id, r.label, r.created_at, r.backup)),
                        compressed,
                    ),
                )
                version_id = cursor.lastrowid
        if version_id is None:
            raise StoreError(f"recording a version of {name!r} returned no row id")
        return VersionInfo(version_id, created_at, kind, label, tuple(names), len(state), restored)

    async def list_versions(
        self, name: DocName, *, limit: int | None = None, before: int | None = None
    ) -> list[VersionInfo]:
        if limit is not None:
            check_limit(limit)
        sql = (
            f"SELECT {_VERSION_COLUMNS} FROM versions v WHERE v.doc_id = ?"
            " AND NOT EXISTS (SELECT 1 FROM versions r WHERE r.backup_id = v.id)"
        )
        if before is not None:
            sql += " AND v.id < ?"
        # LIMIT -1 is SQLite for "no limit".
        sql += " ORDER BY v.id DESC LIMIT ?"
        with translate(f"listing versions of {name!r}"):
            async with self._db.read_tx() as conn:
                doc_id: int | None = await on_thread(conn, find_doc_id, name)
                if doc_id is None:
                    raise DocumentNotFound(f"no document {name!r}")
                params: tuple[Any, ...] = (doc_id,) if before is None else (doc_id, before)
                rows = await conn.execute_fetchall(sql, (*params, -1 if limit is None else limit))
        return [_version(r) for r in rows]

    async def get_version(self, name: DocName, version_id: int) -> Version | None:
        row = await self._db.read_one(
            f"reading version {version_id} of {name!r}",
            f"SELECT {_VERSION_COLUMNS}, v.state FROM versions v"
            " JOIN documents d ON d.id = v.doc_id WHERE d.name = ? AND v.id = ?",
            (name, version_id),
        )
        if row is None:
            return None
        info = _version(tuple(row)[:-1])
        try:
            state = await asyncio.to_thread(zlib.decompress, row[-1])
        except zlib.error as exc:
            raise StoreError(f"version {version_id} of {name!r} is corrupt: {exc}") from exc
        return Version(info, state)

    async def mark_undone(self, name: DocName, version_id: int, at: float) -> None:
        with translate(f"marking version {version_id} of {name!r} undone"):
            async with self._db.write_tx() as conn:
                doc_id = await self._db.require_id(conn, name)
                cursor = await conn.execute(
                    "UPDATE versions SET undone_at = ? WHERE id = ? AND doc_id = ?",
                    (at, version_id, doc_id),
                )
                if cursor.rowcount != 1:
                    raise DocumentNotFound(f"{name!r} has no version {version_id}")

    async def delete_versions(self, name: DocName, ids: Sequence[int]) -> int:
        unique = sorted(set(ids))
        if not unique:
            return 0
        with translate(f"deleting versions of {name!r}"):
            async with self._db.write_tx() as conn:
                doc_id = await self._db.lookup_id(conn, name)
                if doc_id is None:
                    return 0
                cursor = await conn.executemany(
                    "DELETE FROM versions WHERE id = ? AND doc_id = ?",
                    [(version_id, doc_id) for version_id in unique],
                )
                return cursor.rowcount

"""Uploaded files on SQLite (the FileStore): the bytes once per SHA-256, and which documents
use each file."""

from __future__ import annotations

from server.store.base import DocName, StoredFile
from server.store.sqlite.database import Database, translate


class SqliteFiles:
    """The FileStore methods; part of SqliteStore."""

    _db: Database

    async def put_file(
        self, name: DocName, *, sha256: str, media_type: str, data: bytes, now: float
    ) -> bool:
        with translate(f"storing a file of {name!r}"):
            async with self._db.write_tx() as conn:
                doc_id = await self._db.require_id(conn, name)
                cursor = await conn.execute(
                    "INSERT INTO files (sha256, media_type, size, created_at, data)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (sha256, media_type, len(data), now, data),
                )
                added = cursor.rowcount == 1
                await conn.execute(
                    "INSERT INTO file_uses (sha256, doc_id, used_at) VALUES (?, ?, ?)"
                    " ON CONFLICT DO UPDATE SET used_at = max(used_at, excluded.used_at)",
                    (sha256, doc_id, now),
                )
                return added

    async def get_file(self, name: DocName, sha256: str) -> StoredFile | None:
        row = await self._db.read_one(
            f"reading a file of {name!r}",
            "SELECT f.sha256, f.media_type, f.size, f.data FROM files f"
            " JOIN file_uses u ON u.sha256 = f.sha256"
            " JOIN documents d ON d.id = u.doc_id WHERE d.name = ? AND f.sha256 = ?",
            (name, sha256),
        )
        if row is None:
            return None
        return StoredFile(row[0], row[1], row[2], bytes(row[3]))

    async def stale_file_uses(self, before: float, limit: int) -> list[tuple[DocName, str]]:
        rows = await self._db.read_all(
            "listing files not known in use lately",
            "SELECT d.name, u.sha256 FROM file_uses u JOIN documents d ON d.id = u.doc_id"
            " WHERE u.used_at < ? ORDER BY u.used_at LIMIT ?",
            (before, limit),
        )
        return [(DocName(row[0]), row[1]) for row in rows]

    async def touch_file_use(self, name: DocName, sha256: str, now: float) -> None:
        with translate(f"noting a file of {name!r} in use"):
            async with self._db.write_tx() as conn:
                await conn.execute(
                    "UPDATE file_uses SET used_at = max(used_at, ?) WHERE sha256 = ?"
                    " AND doc_id = (SELECT id FROM documents WHERE name = ?)",
                    (now, sha256, name),
                )

    async def drop_file_use(self, name: DocName, sha256: str) -> None:
        with translate(f"dropping a file of {name!r}"):
            async with self._db.write_tx() as conn:
                await conn.execute(
                    "DELETE FROM file_uses WHERE sha256 = ?"
                    " AND doc_id = (SELECT id FROM documents WHERE name = ?)",
                    (sha256, name),
                )

    async def delete_unused_files(self, before: float) -> int:
        with translate("deleting unused files"):
            async with self._db.write_tx() as conn:
                cursor = await conn.execute(
                    "DELETE FROM files WHERE created_at < ?"
                    " AND NOT EXISTS (SELECT 1 FROM file_uses u WHERE u.sha256 = files.sha256)",
                    (before,),
                )
                return cursor.rowcount

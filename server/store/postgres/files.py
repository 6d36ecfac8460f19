"""Uploaded files on PostgreSQL (the FileStore): the bytes once per SHA-256, and which
documents use each file."""

from __future__ import annotations

from server.store.base import DocName, StoredFile
from server.store.postgres.database import Conn, Database, require_doc_id


class PostgresFiles:
    """The FileStore methods; part of PostgresStore."""

    _db: Database

    async def put_file(
        self, name: DocName, *, sha256: str, media_type: str, data: bytes, now: float
    ) -> bool:
        async def work(conn: Conn) -> bool:
            doc_id = await require_doc_id(conn, name)
            status = await conn.execute(
                "INSERT INTO files (sha256, media_type, size, created_at, data)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                sha256,
                media_type,
                len(data),
                now,
                data,
            )
            await conn.execute(
                "INSERT INTO file_uses (sha256, doc_id, used_at) VALUES ($1, $2, $3)"
                " ON CONFLICT (doc_id, sha256) DO UPDATE"
                " SET used_at = greatest(file_uses.used_at, excluded.used_at)",
                sha256,
                doc_id,
                now,
            )
            return bool(status == "INSERT 0 1")

        return await self._db.run(f"storing a file of {name!r}", work)

    async def get_file(self, name: DocName, sha256: str) -> StoredFile | None:
        row = await self._db.fetchrow(
            f"reading a file of {name!r}",
            "SELECT f.sha256, f.media_type, f.size, f.data FROM files f"
            " JOIN file_uses u ON u.sha256 = f.sha256"
            " JOIN documents d ON d.id = u.doc_id WHERE d.name = $1 AND f.sha256 = $2",
            name,
            sha256,
        )
        if row is None:
            return None
        return StoredFile(row[0], row[1], int(row[2]), bytes(row[3]))

    async def stale_file_uses(self, before: float, limit: int) -> list[tuple[DocName, str]]:
        rows = await self._db.fetch(
            "listing files not known in use lately",
            "SELECT d.name, u.sha256 FROM file_uses u JOIN documents d ON d.id = u.doc_id"
            " WHERE u.used_at < $1 ORDER BY u.used_at LIMIT $2",
            before,
            limit,
        )
        return [(DocName(row[0]), row[1]) for row in rows]

    async def touch_file_use(self, name: DocName, sha256: str, now: float) -> None:
        await self._db.fetch(
            f"noting a file of {name!r} in use",
            "UPDATE file_uses SET used_at = greatest(used_at, $1) WHERE sha256 = $2"
            " AND doc_id = (SELECT id FROM documents WHERE name = $3)",
            now,
            sha256,
            name,
        )

    async def drop_file_use(self, name: DocName, sha256: str) -> None:
        await self._db.fetch(
            f"dropping a file of {name!r}",
            "DELETE FROM file_uses WHERE sha256 = $1"
            " AND doc_id = (SELECT id FROM documents WHERE name = $2)",
            sha256,
            name,
        )

    async def delete_unused_files(self, before: float) -> int:
        row = await self._db.fetchrow(
            "deleting unused files",
            "WITH gone AS (DELETE FROM files WHERE created_at < $1"
            " AND NOT EXISTS (SELECT 1 FROM file_uses u WHERE u.sha256 = files.sha256)"
            " RETURNING 1) SELECT count(*) FROM gone",
            before,
        )
        return 0 if row is None else int(row[0])

"""Client-id bindings on SQLite: which writer each client id of a document belongs to (see
server/sync/writers.py)."""

from __future__ import annotations

from collections.abc import Mapping

from server.store.base import DocName
from server.store.sqlite.database import Database, translate


class SqliteWriters:
    """The DocumentStore's binding methods; part of SqliteStore."""

    _db: Database

    async def writers(self, name: DocName) -> dict[int, str]:
        rows = await self._db.read_all(
            f"reading the writers of {name!r}",
            "SELECT w.client, w.writer FROM writers w JOIN documents d ON d.id = w.doc_id"
            " WHERE d.name = ?",
            (name,),
        )
        return {row[0]: row[1] for row in rows}

    async def bind_writers(self, name: DocName, claims: Mapping[int, str]) -> dict[int, str]:
        if not claims:
            return {}
        with translate(f"binding writers of {name!r}"):
            async with self._db.write_tx() as conn:
                doc_id = await self._db.require_id(conn, name)
                await conn.executemany(
                    "INSERT INTO writers (doc_id, client, writer) VALUES (?, ?, ?)"
                    " ON CONFLICT DO NOTHING",
                    [(doc_id, client, who) for client, who in claims.items()],
                )
                marks = ", ".join("?" for _ in claims)
                rows = await conn.execute_fetchall(
                    f"SELECT client, writer FROM writers WHERE doc_id = ? AND client IN ({marks})",
                    (doc_id, *claims),
                )
        return {row[0]: row[1] for row in rows}

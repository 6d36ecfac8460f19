"""Client-id bindings on PostgreSQL: which writer each client id of a document belongs to (see
server/sync/writers.py). Several instances may claim one id at once: the first insert wins and
every instance reads that one back."""

from __future__ import annotations

from collections.abc import Mapping

from server.store.base import DocName
from server.store.postgres.database import Conn, Database, require_doc_id


class PostgresWriters:
    """The DocumentStore's binding methods; part of PostgresStore."""

    _db: Database

    async def writers(self, name: DocName) -> dict[int, str]:
        rows = await self._db.fetch(
            f"reading the writers of {name!r}",
            "SELECT w.client, w.writer FROM writers w JOIN documents d ON d.id = w.doc_id"
            " WHERE d.name = $1",
            name,
        )
        return {row[0]: row[1] for row in rows}

    async def bind_writers(self, name: DocName, claims: Mapping[int, str]) -> dict[int, str]:
        if not claims:
            return {}

        async def work(conn: Conn) -> dict[int, str]:
            doc_id = await require_doc_id(conn, name)
            await conn.executemany(
                "INSERT INTO writers (doc_id, client, writer) VALUES ($1, $2, $3)"
                " ON CONFLICT DO NOTHING",
                [(doc_id, client, who) for client, who in claims.items()],
            )
            rows = await conn.fetch(
                "SELECT client, writer FROM writers"
                " WHERE doc_id = $1 AND client = ANY($2::bigint[])",
                doc_id,
                list(claims),
            )
            return {row[0]: row[1] for row in rows}

        return await self._db.run(f"binding writers of {name!r}", work)

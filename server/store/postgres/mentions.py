"""Mentions on PostgreSQL (the MentionStore): a document's readers, and the mentions each user
has read."""

from __future__ import annotations

from collections.abc import Sequence

from server.store.base import DocName, User
from server.store.postgres.database import Conn, Database, require_doc_id


class PostgresMentions:
    """The MentionStore methods; part of PostgresStore."""

    _db: Database

    async def readers(self, name: DocName) -> list[str]:
        rows = await self._db.fetch(
            f"listing the readers of {name!r}",
            "SELECT u.username FROM documents d JOIN users u ON u.id = d.owner_id"
            " WHERE d.name = $1"
            " UNION SELECT u.username FROM shares s JOIN users u ON u.id = s.user_id"
            " JOIN documents d ON d.id = s.doc_id WHERE d.name = $1 ORDER BY 1",
            name,
        )
        return [row[0] for row in rows]

    async def mentions_read(self, user: User, names: Sequence[DocName]) -> set[tuple[str, str]]:
        if not names:
            return set()
        rows = await self._db.fetch(
            "reading which mentions were read",
            "SELECT d.name, r.comment_id FROM mention_reads r JOIN documents d ON d.id = r.doc_id"
            " WHERE r.user_id = $1 AND d.name = ANY($2::text[])",
            user.id,
            list(names),
        )
        return {(row[0], row[1]) for row in rows}

    async def mark_mentions_read(
        self, user: User, name: DocName, comment_ids: Sequence[str]
    ) -> None:
        async def work(conn: Conn) -> None:
            doc_id = await require_doc_id(conn, name)
            await conn.executemany(
                "INSERT INTO mention_reads (user_id, doc_id, comment_id) VALUES ($1, $2, $3)"
                " ON CONFLICT DO NOTHING",
                [(user.id, doc_id, comment_id) for comment_id in comment_ids],
            )

        await self._db.run(f"marking mentions in {name!r} read", work)

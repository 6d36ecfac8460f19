"""Mentions on SQLite (the MentionStore): a document's readers, and the mentions each user has
read."""

from __future__ import annotations

from collections.abc import Sequence

from server.store.base import DocName, User
from server.store.sqlite.database import Database, translate


class SqliteMentions:
    """The MentionStore methods; part of SqliteStore."""

    _db: Database

    async def readers(self, name: DocName) -> list[str]:
        rows = await self._db.read_all(
            f"listing the readers of {name!r}",
            "SELECT u.username FROM documents d JOIN users u ON u.id = d.owner_id"
            " WHERE d.name = ?"
            " UNION SELECT u.username FROM shares s JOIN users u ON u.id = s.user_id"
            " JOIN documents d ON d.id = s.doc_id WHERE d.name = ? ORDER BY 1",
            (name, name),
        )
        return [row[0] for row in rows]

    async def mentions_read(self, user: User, names: Sequence[DocName]) -> set[tuple[str, str]]:
        if not names:
            return set()
        marks = ", ".join("?" for _ in names)
        rows = await self._db.read_all(
            "reading which mentions were read",
            "SELECT d.name, r.comment_id FROM mention_reads r JOIN documents d ON d.id = r.doc_id"
            f" WHERE r.user_id = ? AND d.name IN ({marks})",
            (user.id, *names),
        )
        return {(row[0], row[1]) for row in rows}

    async def mark_mentions_read(
        self, user: User, name: DocName, comment_ids: Sequence[str]
    ) -> None:
        with translate(f"marking mentions in {name!r} read"):
            async with self._db.write_tx() as conn:
                doc_id = await self._db.require_id(conn, name)
                await conn.executemany(
                    "INSERT INTO mention_reads (user_id, doc_id, comment_id) VALUES (?, ?, ?)"
                    " ON CONFLICT DO NOTHING",
                    [(user.id, doc_id, comment_id) for comment_id in comment_ids],
                )

"""Full-text search on PostgreSQL (the SearchStore): a tsvector of each document's title
(weight A) and text (B) under the 'simple' configuration with accents removed (unaccent); words
matched as prefixes; ranked with the title weighing ten times the text; the snippet by
ts_headline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from server.store.base import DocName, SearchHit, check_limit, first_line
from server.store.postgres.database import Conn, Database
from server.store.postgres.documents import LIVE

_VECTOR: Final = (
    "setweight(to_tsvector('simple', unaccent($2)), 'A')"
    " || setweight(to_tsvector('simple', unaccent($3)), 'B')"
)
_HEADLINE: Final = '\'MaxWords=24, MinWords=10, StartSel="", StopSel="", MaxFragments=1\''


def ts_query(words: Sequence[str]) -> str:
    """Each word a quoted lexeme and a prefix, all required; quoting keeps any character
    from being read as query syntax."""
    return " & ".join("'" + word.replace("'", "''").replace("\\", "") + "':*" for word in words)


class PostgresSearch:
    """The SearchStore methods; part of PostgresStore."""

    _db: Database

    async def index_text(self, name: DocName, title: str, text: str) -> None:
        async def work(conn: Conn) -> None:
            doc_id = await conn.fetchval(
                "UPDATE documents SET preview = $2, indexed = TRUE WHERE name = $1 RETURNING id",
                name,
                first_line(text),
            )
            if doc_id is None:
                return  # deleted meanwhile
            await conn.execute(
                f"INSERT INTO doc_search (doc_id, body, words) VALUES ($1, $3, {_VECTOR})"
                " ON CONFLICT (doc_id) DO UPDATE SET body = excluded.body, words = excluded.words",
                doc_id,
                title,
                text,
            )

        await self._db.run(f"indexing {name!r}", work)

    async def search(
        self,
        words: Sequence[str],
        limit: int,
        *,
        user_id: int | None = None,
        only: DocName | None = None,
    ) -> list[SearchHit]:
        check_limit(limit)
        if not words:
            return []
        sql = (
            f"SELECT d.name, d.title, ts_headline('simple', s.body, q, {_HEADLINE}),"
            " d.updated_at, d.preview"
            " FROM doc_search s JOIN documents d ON d.id = s.doc_id,"
            " to_tsquery('simple', unaccent($1)) q"
            f" WHERE s.words @@ q AND d.{LIVE} AND d.parent_id IS NULL"
            " AND ($2::bigint IS NULL OR d.owner_id IS NULL OR d.owner_id = $2"
            " OR d.id IN (SELECT doc_id FROM shares WHERE user_id = $2))"
            " AND ($3::text IS NULL OR d.name = $3)"
            " ORDER BY ts_rank('{0.1, 0.2, 0.1, 1.0}', s.words, q) DESC, d.updated_at DESC"
            " LIMIT $4"
        )
        params: list[Any] = [ts_query(words), user_id, only, limit]
        rows = await self._db.fetch("searching", sql, *params)
        return [SearchHit(DocName(r[0]), r[1], r[2], r[3], r[4]) for r in rows]

    async def unindexed(self, limit: int) -> list[DocName]:
        rows = await self._db.fetch(
            "listing documents to index",
            f"SELECT name FROM documents WHERE NOT indexed AND {LIVE} AND parent_id IS NULL"
            " ORDER BY updated_at DESC LIMIT $1",
            limit,
        )
        return [DocName(row[0]) for row in rows]

"""Full-text search on SQLite (the SearchStore): FTS5 over each document's title and text,
words matched as prefixes regardless of case and accents (unicode61 remove_diacritics 2), best
first by bm25 with the title weighing ten times the text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from server.store.base import DocName, SearchHit, check_limit, first_line, snippet_of
from server.store.sqlite.database import Database, translate
from server.store.sqlite.documents import LIVE


def fts_query(words: Sequence[str]) -> str:
    """Each word quoted (whatever it holds is text, never FTS5 syntax) and a prefix."""
    return " ".join('"' + word.replace('"', '""') + '"*' for word in words)


class SqliteSearch:
    """The SearchStore methods; part of SqliteStore."""

    _db: Database

    async def index_text(self, name: DocName, title: str, text: str) -> None:
        preview = first_line(text)
        with translate(f"indexing {name!r}"):
            async with self._db.write_tx() as conn:
                async with conn.execute(
                    "UPDATE documents SET preview = ?, indexed = 1 WHERE name = ? RETURNING id",
                    (preview, name),
                ) as cursor:
                    row = await cursor.fetchone()
                if row is None:
                    return  # deleted meanwhile
                await conn.execute("DELETE FROM doc_search WHERE rowid = ?", (row[0],))
                await conn.execute(
                    "INSERT INTO doc_search (rowid, title, body) VALUES (?, ?, ?)",
                    (row[0], title, text),
                )

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
        # Ranked first, snippets after for the few returned: snippet() in the ranked query
        # would be computed for every match before the sort (10,000 documents: tens of ms).
        sql = (
            "SELECT d.id, d.name, d.title, d.updated_at, d.preview"
            " FROM doc_search JOIN documents d ON d.id = doc_search.rowid"
            f" WHERE doc_search MATCH ? AND d.{LIVE} AND d.parent_id IS NULL"
        )
        query = fts_query(words)
        params: list[Any] = [query]
        if user_id is not None:
            sql += (
                " AND (d.owner_id IS NULL OR d.owner_id = ?"
                " OR d.id IN (SELECT doc_id FROM shares WHERE user_id = ?))"
            )
            params += [user_id, user_id]
        if only is not None:
            sql += " AND d.name = ?"
            params.append(only)
        sql += " ORDER BY bm25(doc_search, 10.0, 1.0), d.updated_at DESC LIMIT ?"
        rows = await self._db.read_all("searching", sql, (*params, limit))
        if not rows:
            return []
        # By rowid alone: with MATCH, FTS5 would walk every posting of a common word again.
        marks = ", ".join("?" for _ in rows)
        found = await self._db.read_all(
            "making search snippets",
            f"SELECT rowid, body FROM doc_search WHERE rowid IN ({marks})",
            tuple(row[0] for row in rows),
        )
        snippets: dict[int, str] = {int(r[0]): snippet_of(str(r[1]), words) for r in found}
        return [SearchHit(DocName(r[1]), r[2], snippets.get(r[0], ""), r[3], r[4]) for r in rows]

    async def unindexed(self, limit: int) -> list[DocName]:
        rows = await self._db.read_all(
            "listing documents to index",
            f"SELECT name FROM documents WHERE indexed = 0 AND {LIVE} AND parent_id IS NULL"
            " ORDER BY updated_at DESC LIMIT ?",
            (limit,),
        )
        return [DocName(row[0]) for row in rows]

"""A document's comments in the store: a document of its own tied to its document (created only
beside it, never listed, deleted with it), in SQLite and in memory; and the schema step that
brings shares and links the commenter role, keeping their rows."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.store.base import DocName, DocumentNotFound, DocumentStore, comments_name
from server.store.memory import MemoryStore
from server.store.sqlite import SqliteStore
from server.store.sqlite.schema import MIGRATIONS

DOC = DocName("notes")


@pytest.fixture(params=["sqlite", "memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DocumentStore]:
    opened: DocumentStore = (
        SqliteStore(tmp_path / "coedit.db") if request.param == "sqlite" else MemoryStore()
    )
    async with opened:
        yield opened


async def test_comments_exist_only_beside_their_document(store: DocumentStore) -> None:
    with pytest.raises(DocumentNotFound):
        await store.ensure(comments_name(DOC))
    await store.ensure(DOC)
    await store.ensure(comments_name(DOC))
    await store.append(comments_name(DOC), b"\x00\x00")
    assert [d.name for d in await store.list_docs(10)] == [DOC]
    assert await store.delete(DOC)
    assert await store.info(comments_name(DOC)) is None
    assert await store.load(comments_name(DOC)) is None


async def test_schema_step_keeps_shares_and_links_and_allows_commenters(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        for step in MIGRATIONS[:4]:
            for statement in step:
                conn.execute(statement)
        conn.execute("PRAGMA user_version = 4")
        conn.execute(
            "INSERT INTO documents (name, epoch, created_at, updated_at) VALUES ('d', 'e', 1, 1)"
        )
        conn.execute("INSERT INTO users (username, password_hash, created_at) VALUES ('u', 'h', 1)")
        conn.execute("INSERT INTO shares (doc_id, user_id, role) VALUES (1, 1, 'viewer')")
        for token in ("a", "b", "c"):
            conn.execute(
                "INSERT INTO links (doc_id, token, role, created_at) VALUES (1, ?, 'editor', 1)",
                (token,),
            )
    async with SqliteStore(db):
        pass
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert conn.execute("SELECT doc_id, user_id, role FROM shares").fetchall() == [
            (1, 1, "viewer")
        ]
        assert [r[0] for r in conn.execute("SELECT id FROM links ORDER BY id")] == [1, 2, 3]
        conn.execute("UPDATE shares SET role = 'commenter'")
        conn.execute(
            "INSERT INTO links (doc_id, token, role, created_at) VALUES (1, 'd', 'commenter', 1)"
        )
        # Ids are still never reused, and other roles are still refused.
        assert conn.execute("SELECT max(id) FROM links").fetchone()[0] == 4
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("UPDATE shares SET role = 'admin'")

"""Accounts and sharing on SQLite (the AccountStore): users, sessions, owners, shares and
links."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from server.store.base import (
    Access,
    DocInfo,
    DocName,
    DocumentNotFound,
    Link,
    User,
    UserExists,
    UserNotFound,
    check_limit,
)
from server.store.sqlite.database import Database, translate
from server.store.sqlite.documents import INFO_COLUMNS, LIVE, doc_info


class SqliteAccounts:
    """The AccountStore methods; part of SqliteStore."""

    _db: Database
    _clock: Callable[[], float]

    async def create_user(self, username: str, password_hash: str) -> User:
        with translate(f"creating user {username!r}"):
            async with self._db.write_tx() as conn:
                cursor = await conn.execute(
                    "INSERT INTO users (username, password_hash, created_at) VALUES (?, ?, ?)"
                    " ON CONFLICT (username) DO NOTHING",
                    (username, password_hash, self._clock()),
                )
                if cursor.rowcount == 0:
                    raise UserExists(f"the username {username!r} is taken")
                user_id = cursor.lastrowid
        assert user_id is not None
        return User(user_id, username)

    async def find_user(self, username: str) -> tuple[User, str] | None:
        """The user and their password hash."""
        row = await self._db.read_one(
            f"reading user {username!r}",
            "SELECT id, username, password_hash FROM users WHERE username = ?",
            (username,),
        )
        return None if row is None else (User(row[0], row[1]), row[2])

    async def create_session(self, user: User, token_hash: str, expires_at: float) -> None:
        with translate("creating a session"):
            async with self._db.write_tx() as conn:
                await conn.execute("DELETE FROM sessions WHERE expires_at < ?", (self._clock(),))
                await conn.execute(
                    "INSERT INTO sessions (token_hash, user_id, expires_at) VALUES (?, ?, ?)",
                    (token_hash, user.id, expires_at),
                )

    async def session_user(self, token_hash: str) -> User | None:
        row = await self._db.read_one(
            "reading a session",
            "SELECT u.id, u.username FROM sessions s JOIN users u ON u.id = s.user_id"
            " WHERE s.token_hash = ? AND s.expires_at > ?",
            (token_hash, self._clock()),
        )
        return None if row is None else User(row[0], row[1])

    async def delete_session(self, token_hash: str) -> None:
        with translate("deleting a session"):
            async with self._db.write_tx() as conn:
                await conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    async def set_owner(self, name: DocName, user: User) -> None:
        with translate(f"setting the owner of {name!r}"):
            async with self._db.write_tx() as conn:
                cursor = await conn.execute(
                    "UPDATE documents SET owner_id = ? WHERE name = ?", (user.id, name)
                )
                if cursor.rowcount == 0:
                    raise DocumentNotFound(f"no document {name!r}")

    async def access(self, name: DocName, user: User | None, link_token: str | None) -> Access:
        """Everything that decides a caller's role on one document, in one read."""
        with translate(f"reading access to {name!r}"):
            async with self._db.read() as conn:
                async with conn.execute(
                    f"SELECT id, owner_id FROM documents WHERE name = ? AND {LIVE}", (name,)
                ) as cursor:
                    row = await cursor.fetchone()
                if row is None:
                    return Access(exists=False)
                doc_id, owner_id = row
                share = None
                if user is not None:
                    async with conn.execute(
                        "SELECT role FROM shares WHERE doc_id = ? AND user_id = ?",
                        (doc_id, user.id),
                    ) as cursor:
                        found = await cursor.fetchone()
                    share = None if found is None else found[0]
                link: tuple[int, str] | None = None
                if link_token:
                    async with conn.execute(
                        "SELECT id, role FROM links WHERE doc_id = ? AND token = ?"
                        " AND revoked_at IS NULL",
                        (doc_id, link_token),
                    ) as cursor:
                        found = await cursor.fetchone()
                    link = None if found is None else (found[0], found[1])
        return Access(
            exists=True,
            owned=owner_id is not None,
            is_owner=user is not None and owner_id == user.id,
            share=share,
            link_id=None if link is None else link[0],
            link_role=None if link is None else link[1],
        )

    async def list_docs_for(
        self, user: User, limit: int, before: tuple[float, str] | None = None
    ) -> list[DocInfo]:
        """Documents the user owns or has been shared, newest first (paged like list_docs)."""
        check_limit(limit)
        where = f"{LIVE} AND (owner_id = ? OR id IN (SELECT doc_id FROM shares WHERE user_id = ?))"
        params: tuple[Any, ...] = (user.id, user.id)
        if before is not None:
            where += " AND (updated_at, name) < (?, ?)"
            params += (before[0], before[1])
        sql = (
            f"SELECT {INFO_COLUMNS} FROM documents WHERE {where}"
            " ORDER BY updated_at DESC, name DESC LIMIT ?"
        )
        rows = await self._db.read_all("listing documents", sql, (*params, limit))
        return [doc_info(row) for row in rows]

    async def set_share(self, name: DocName, username: str, role: str | None) -> User:
        """Share with a user as viewer/editor, or unshare (role None). Raises UserNotFound."""
        with translate(f"sharing {name!r}"):
            async with self._db.write_tx() as conn:
                doc_id = await self._db.require_id(conn, name)
                async with conn.execute(
                    "SELECT id, username FROM users WHERE username = ?", (username,)
                ) as cursor:
                    row = await cursor.fetchone()
                if row is None:
                    raise UserNotFound(f"no user named {username!r}")
                user = User(row[0], row[1])
                if role is None:
                    await conn.execute(
                        "DELETE FROM shares WHERE doc_id = ? AND user_id = ?", (doc_id, user.id)
                    )
                else:
                    await conn.execute(
                        "INSERT INTO shares (doc_id, user_id, role) VALUES (?, ?, ?)"
                        " ON CONFLICT (doc_id, user_id) DO UPDATE SET role = excluded.role",
                        (doc_id, user.id, role),
                    )
        return user

    async def shares(self, name: DocName) -> list[tuple[str, str]]:
        """(username, role) of everyone the document is shared with."""
        rows = await self._db.read_all(
            f"listing shares of {name!r}",
            "SELECT u.username, s.role FROM shares s JOIN users u ON u.id = s.user_id"
            " JOIN documents d ON d.id = s.doc_id WHERE d.name = ? ORDER BY u.username",
            (name,),
        )
        return [(row[0], row[1]) for row in rows]

    async def active_link(self, name: DocName, role: str, token: str) -> Link:
        """The document's unrevoked link with this role; created with `token` if none."""
        with translate(f"creating a link to {name!r}"):
            async with self._db.write_tx() as conn:
                doc_id = await self._db.require_id(conn, name)
                async with conn.execute(
                    "SELECT id, role, token, created_at FROM links"
                    " WHERE doc_id = ? AND role = ? AND revoked_at IS NULL",
                    (doc_id, role),
                ) as cursor:
                    row = await cursor.fetchone()
                if row is not None:
                    return Link(row[0], row[1], row[2], row[3])
                now = self._clock()
                cursor = await conn.execute(
                    "INSERT INTO links (doc_id, token, role, created_at) VALUES (?, ?, ?, ?)",
                    (doc_id, token, role, now),
                )
                link_id = cursor.lastrowid
        assert link_id is not None
        return Link(link_id, role, token, now)

    async def links(self, name: DocName) -> list[Link]:
        """The document's unrevoked links."""
        rows = await self._db.read_all(
            f"listing links of {name!r}",
            "SELECT l.id, l.role, l.token, l.created_at FROM links l"
            " JOIN documents d ON d.id = l.doc_id"
            " WHERE d.name = ? AND l.revoked_at IS NULL ORDER BY l.id",
            (name,),
        )
        return [Link(row[0], row[1], row[2], row[3]) for row in rows]

    async def revoke_link(self, name: DocName, link_id: int) -> bool:
        with translate(f"revoking a link to {name!r}"):
            async with self._db.write_tx() as conn:
                cursor = await conn.execute(
                    "UPDATE links SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"
                    " AND doc_id = (SELECT id FROM documents WHERE name = ?)",
                    (self._clock(), link_id, name),
                )
                return cursor.rowcount > 0

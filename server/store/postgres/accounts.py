"""Accounts and sharing on PostgreSQL (the AccountStore): users, sessions, owners, shares and
links. Usernames compare without case, as on SQLite."""

from __future__ import annotations

from collections.abc import Callable

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
from server.store.postgres.database import Conn, Database, require_doc_id
from server.store.postgres.documents import INFO_COLUMNS, LIVE, doc_info


class PostgresAccounts:
    """The AccountStore methods; part of PostgresStore."""

    _db: Database
    _clock: Callable[[], float]

    async def create_user(self, username: str, password_hash: str) -> User:
        row = await self._db.fetchrow(
            f"creating user {username!r}",
            "INSERT INTO users (username, password_hash, created_at) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING RETURNING id",
            username,
            password_hash,
            self._clock(),
        )
        if row is None:
            raise UserExists(f"the username {username!r} is taken")
        return User(int(row[0]), username)

    async def find_user(self, username: str) -> tuple[User, str] | None:
        row = await self._db.fetchrow(
            f"reading user {username!r}",
            "SELECT id, username, password_hash FROM users WHERE lower(username) = lower($1)",
            username,
        )
        return None if row is None else (User(int(row[0]), row[1]), row[2])

    async def create_session(self, user: User, token_hash: str, expires_at: float) -> None:
        async def work(conn: Conn) -> None:
            await conn.execute("DELETE FROM sessions WHERE expires_at < $1", self._clock())
            await conn.execute(
                "INSERT INTO sessions (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
                token_hash,
                user.id,
                expires_at,
            )

        await self._db.run("creating a session", work)

    async def session_user(self, token_hash: str) -> User | None:
        row = await self._db.fetchrow(
            "reading a session",
            "SELECT u.id, u.username FROM sessions s JOIN users u ON u.id = s.user_id"
            " WHERE s.token_hash = $1 AND s.expires_at > $2",
            token_hash,
            self._clock(),
        )
        return None if row is None else User(int(row[0]), row[1])

    async def delete_session(self, token_hash: str) -> None:
        await self._db.fetch(
            "deleting a session", "DELETE FROM sessions WHERE token_hash = $1", token_hash
        )

    async def set_owner(self, name: DocName, user: User) -> None:
        row = await self._db.fetchrow(
            f"setting the owner of {name!r}",
            "UPDATE documents SET owner_id = $1 WHERE name = $2 RETURNING id",
            user.id,
            name,
        )
        if row is None:
            raise DocumentNotFound(f"no document {name!r}")

    async def access(self, name: DocName, user: User | None, link_token: str | None) -> Access:
        """Everything that decides a caller's role on one document, in one query."""
        row = await self._db.fetchrow(
            f"reading access to {name!r}",
            "SELECT d.owner_id,"
            " (SELECT role FROM shares WHERE doc_id = d.id AND user_id = $2) AS share,"
            " l.id AS link_id, l.role AS link_role"
            " FROM documents d LEFT JOIN links l ON l.doc_id = d.id AND l.token = $3"
            f" AND l.revoked_at IS NULL WHERE d.name = $1 AND d.{LIVE}",
            name,
            None if user is None else user.id,
            link_token or None,
        )
        if row is None:
            return Access(exists=False)
        owner_id = row["owner_id"]
        return Access(
            exists=True,
            owned=owner_id is not None,
            is_owner=user is not None and owner_id == user.id,
            share=row["share"],
            link_id=row["link_id"],
            link_role=row["link_role"],
        )

    async def list_docs_for(
        self, user: User, limit: int, before: tuple[float, str] | None = None
    ) -> list[DocInfo]:
        check_limit(limit)
        rows = await self._db.fetch(
            "listing documents",
            f"SELECT {INFO_COLUMNS} FROM documents"
            f" WHERE {LIVE}"
            " AND (owner_id = $1 OR id IN (SELECT doc_id FROM shares WHERE user_id = $1))"
            " AND ($2::float8 IS NULL OR (updated_at, name) < ($2, $3))"
            " ORDER BY updated_at DESC, name DESC LIMIT $4",
            user.id,
            None if before is None else before[0],
            None if before is None else before[1],
            limit,
        )
        return [doc_info(row) for row in rows]

    async def set_share(self, name: DocName, username: str, role: str | None) -> User:
        async def work(conn: Conn) -> User:
            doc_id = await require_doc_id(conn, name)
            row = await conn.fetchrow(
                "SELECT id, username FROM users WHERE lower(username) = lower($1)", username
            )
            if row is None:
                raise UserNotFound(f"no user named {username!r}")
            user = User(int(row[0]), row[1])
            if role is None:
                await conn.execute(
                    "DELETE FROM shares WHERE doc_id = $1 AND user_id = $2", doc_id, user.id
                )
            else:
                await conn.execute(
                    "INSERT INTO shares (doc_id, user_id, role) VALUES ($1, $2, $3)"
                    " ON CONFLICT (doc_id, user_id) DO UPDATE SET role = excluded.role",
                    doc_id,
                    user.id,
                    role,
                )
            return user

        return await self._db.run(f"sharing {name!r}", work)

    async def shares(self, name: DocName) -> list[tuple[str, str]]:
        rows = await self._db.fetch(
            f"listing shares of {name!r}",
            "SELECT u.username, s.role FROM shares s JOIN users u ON u.id = s.user_id"
            " JOIN documents d ON d.id = s.doc_id WHERE d.name = $1 ORDER BY u.username",
            name,
        )
        return [(row[0], row[1]) for row in rows]

    async def active_link(self, name: DocName, role: str, token: str) -> Link:
        async def work(conn: Conn) -> Link:
            doc_id = await require_doc_id(conn, name)
            # Two owners' requests at once must agree on one link: lock the document's row.
            await conn.execute("SELECT 1 FROM documents WHERE id = $1 FOR UPDATE", doc_id)
            row = await conn.fetchrow(
                "SELECT id, role, token, created_at FROM links"
                " WHERE doc_id = $1 AND role = $2 AND revoked_at IS NULL",
                doc_id,
                role,
            )
            if row is not None:
                return Link(int(row[0]), row[1], row[2], row[3])
            now = self._clock()
            link_id = await conn.fetchval(
                "INSERT INTO links (doc_id, token, role, created_at) VALUES ($1, $2, $3, $4)"
                " RETURNING id",
                doc_id,
                token,
                role,
                now,
            )
            return Link(int(link_id), role, token, now)

        return await self._db.run(f"creating a link to {name!r}", work)

    async def links(self, name: DocName) -> list[Link]:
        rows = await self._db.fetch(
            f"listing links of {name!r}",
            "SELECT l.id, l.role, l.token, l.created_at FROM links l"
            " JOIN documents d ON d.id = l.doc_id"
            " WHERE d.name = $1 AND l.revoked_at IS NULL ORDER BY l.id",
            name,
        )
        return [Link(int(row[0]), row[1], row[2], row[3]) for row in rows]

    async def revoke_link(self, name: DocName, link_id: int) -> bool:
        row = await self._db.fetchrow(
            f"revoking a link to {name!r}",
            "UPDATE links SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL"
            " AND doc_id = (SELECT id FROM documents WHERE name = $3) RETURNING id",
            self._clock(),
            link_id,
            name,
        )
        return row is not None

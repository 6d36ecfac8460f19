"""The PostgreSQL schema as the steps that build it, one per version in `coedit_schema`;
nothing else. The same tables as SQLite's (server/store/sqlite/schema.py), plus what several
instances sharing the store need: each log row's per-document sequence number (`seq`), the
newest one (`head_seq`) and the newest one a snapshot holds (`snapshot_seq`)."""

from __future__ import annotations

from typing import Final

# Step N (1-based) moves a database from version N-1 to N. Never edit a released step; append.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        # Identity ids are never reused: a stale cached id can only miss, never write into
        # another document (as AUTOINCREMENT in SQLite). Usernames compare without case, as
        # SQLite's COLLATE NOCASE does: the unique index is on lower(username).
        """
        CREATE TABLE users (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            username TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL
        )
        """,
        "CREATE UNIQUE INDEX users_by_name ON users (lower(username))",
        """
        CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY,
            user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            expires_at DOUBLE PRECISION NOT NULL
        )
        """,
        # head_seq is bumped in the transaction that inserts the rows it numbers, under the
        # document row's lock: numbers are gap-free and in commit order per document, which is
        # how an instance knows exactly which rows it is missing (see server.mesh).
        """
        CREATE TABLE documents (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            epoch TEXT NOT NULL,
            title TEXT NOT NULL DEFAULT '',
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            owner_id BIGINT REFERENCES users (id),
            parent_id BIGINT REFERENCES documents (id) ON DELETE CASCADE,
            head_seq BIGINT NOT NULL DEFAULT 0,
            snapshot_seq BIGINT NOT NULL DEFAULT 0,
            log_rows BIGINT NOT NULL DEFAULT 0,
            log_bytes BIGINT NOT NULL DEFAULT 0,
            snapshot_bytes BIGINT NOT NULL DEFAULT 0,
            snapshot_complete BOOLEAN NOT NULL DEFAULT FALSE,
            snapshot BYTEA
        )
        """,
        "CREATE INDEX documents_by_updated ON documents (updated_at, name)",
        "CREATE INDEX documents_by_parent ON documents (parent_id)",
        "CREATE INDEX documents_by_owner ON documents (owner_id)",
        """
        CREATE TABLE updates (
            doc_id BIGINT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            seq BIGINT NOT NULL,
            committed_at DOUBLE PRECISION NOT NULL,
            data BYTEA NOT NULL,
            PRIMARY KEY (doc_id, seq)
        )
        """,
        """
        CREATE TABLE versions (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            doc_id BIGINT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            created_at DOUBLE PRECISION NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('auto', 'named', 'restore-backup')),
            label TEXT,
            authors JSONB NOT NULL DEFAULT '[]',
            size BIGINT NOT NULL,
            restored_id BIGINT,
            restored_label TEXT,
            restored_at DOUBLE PRECISION,
            backup_id BIGINT,
            undone_at DOUBLE PRECISION,
            state BYTEA NOT NULL
        )
        """,
        "CREATE INDEX versions_by_doc ON versions (doc_id, id)",
        "CREATE INDEX versions_by_backup ON versions (backup_id) WHERE backup_id IS NOT NULL",
        """
        CREATE TABLE shares (
            doc_id BIGINT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('viewer', 'commenter', 'editor')),
            PRIMARY KEY (doc_id, user_id)
        )
        """,
        "CREATE INDEX shares_by_user ON shares (user_id)",
        """
        CREATE TABLE links (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            doc_id BIGINT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            token TEXT NOT NULL UNIQUE,
            role TEXT NOT NULL CHECK (role IN ('viewer', 'commenter', 'editor')),
            created_at DOUBLE PRECISION NOT NULL,
            revoked_at DOUBLE PRECISION
        )
        """,
        "CREATE INDEX links_by_doc ON links (doc_id)",
        """
        CREATE TABLE mention_reads (
            user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            doc_id BIGINT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            comment_id TEXT NOT NULL,
            PRIMARY KEY (user_id, doc_id, comment_id)
        )
        """,
        """
        CREATE TABLE files (
            sha256 TEXT PRIMARY KEY,
            media_type TEXT NOT NULL,
            size BIGINT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            data BYTEA NOT NULL
        )
        """,
        """
        CREATE TABLE file_uses (
            sha256 TEXT NOT NULL REFERENCES files (sha256) ON DELETE CASCADE,
            doc_id BIGINT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            used_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (doc_id, sha256)
        )
        """,
        "CREATE INDEX file_uses_by_time ON file_uses (used_at)",
        "CREATE INDEX file_uses_by_file ON file_uses (sha256)",
    ),
    (
        # Trash and search, as SQLite's step 8: a trashed document keeps its row with
        # deleted_at set; preview is its first line. The searchable text lives in a table of
        # its own, so that the document's row (updated by every batch of appends) stays small;
        # unaccent (a trusted extension: the database's owner may create it) makes accents
        # not matter, the 'simple' configuration keeps every word as written (no stemming, no
        # stop words), like SQLite's unicode61.
        "CREATE EXTENSION IF NOT EXISTS unaccent",
        "ALTER TABLE documents ADD COLUMN deleted_at DOUBLE PRECISION",
        "ALTER TABLE documents ADD COLUMN preview TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE documents ADD COLUMN indexed BOOLEAN NOT NULL DEFAULT FALSE",
        "CREATE INDEX documents_trashed ON documents (deleted_at) WHERE deleted_at IS NOT NULL",
        """
        CREATE TABLE doc_search (
            doc_id BIGINT PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
            body TEXT NOT NULL,
            words TSVECTOR NOT NULL
        )
        """,
        "CREATE INDEX doc_search_words ON doc_search USING gin (words)",
    ),
    (
        # Several instances record a document's automatic versions on their own schedules: the
        # one that moves this mark (compare-and-set) records, the others skip that round.
        "ALTER TABLE documents ADD COLUMN version_claimed_at DOUBLE PRECISION",
    ),
    (
        # Which writer each client id of a document belongs to, as SQLite's step 9.
        """
        CREATE TABLE writers (
            doc_id BIGINT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            client BIGINT NOT NULL,
            writer TEXT NOT NULL,
            PRIMARY KEY (doc_id, client)
        )
        """,
    ),
)

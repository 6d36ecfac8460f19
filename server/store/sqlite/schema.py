"""The SQLite schema as the steps that build it, one per `user_version`; nothing else."""

from __future__ import annotations

from typing import Final

# Step N (1-based) moves a database from user_version N-1 to N. Never edit a released step;
# append a new one.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        # AUTOINCREMENT so ids are never reused: a stale cached doc id can then only miss (and
        # fail loudly), never write into another document; and update ids stay strictly
        # increasing, which compaction relies on to delete exactly the rows it merged.
        # log_rows/log_bytes/snapshot_bytes are maintained in the same transactions as the rows
        # they count, so stats and sizes never need a scan. snapshot is the last column because
        # SQLite must walk a large blob's overflow pages to reach any column stored after it.
        """
        CREATE TABLE documents (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE,
            epoch TEXT NOT NULL,
            title TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            log_rows INTEGER NOT NULL DEFAULT 0,
            log_bytes INTEGER NOT NULL DEFAULT 0,
            snapshot_bytes INTEGER NOT NULL DEFAULT 0,
            snapshot BLOB
        ) STRICT
        """,
        "CREATE INDEX documents_by_updated ON documents (updated_at, name)",
        """
        CREATE TABLE updates (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            doc_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            data BLOB NOT NULL
        ) STRICT
        """,
        "CREATE INDEX updates_by_doc ON updates (doc_id, id)",
    ),
    (
        # Version history. AUTOINCREMENT so a version id is never reused: a link to a version
        # that thinning deleted then misses instead of showing another version. state is a
        # zlib-compressed full Yjs update and the last column (see snapshot above); size is its
        # length before compression; authors is a JSON array of display names.
        """
        CREATE TABLE versions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            doc_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            created_at REAL NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('auto', 'named', 'restore-backup')),
            label TEXT,
            authors TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(authors)),
            size INTEGER NOT NULL,
            state BLOB NOT NULL
        ) STRICT
        """,
        "CREATE INDEX versions_by_doc ON versions (doc_id, id)",
    ),
    (
        # Accounts and sharing. Sessions are stored as token digests, so a leaked database
        # hands out no sessions; share-link tokens are stored as they are, because the owner
        # copies the same link again later. Revoked links stay, marked, so that the room can
        # tell whose connections to drop.
        """
        CREATE TABLE users (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            username TEXT NOT NULL UNIQUE COLLATE NOCASE,
            password_hash TEXT NOT NULL,
            created_at REAL NOT NULL
        ) STRICT
        """,
        """
        CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            expires_at REAL NOT NULL
        ) STRICT
        """,
        "ALTER TABLE documents ADD COLUMN owner_id INTEGER REFERENCES users (id)",
        """
        CREATE TABLE shares (
            doc_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('viewer', 'editor')),
            PRIMARY KEY (doc_id, user_id)
        ) STRICT
        """,
        "CREATE INDEX shares_by_user ON shares (user_id)",
        """
        CREATE TABLE links (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            doc_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            token TEXT NOT NULL UNIQUE,
            role TEXT NOT NULL CHECK (role IN ('viewer', 'editor')),
            created_at REAL NOT NULL,
            revoked_at REAL
        ) STRICT
        """,
        "CREATE INDEX links_by_doc ON links (doc_id)",
    ),
    (
        # 1 when the snapshot was written by a Fold that found nothing pending: such a snapshot
        # loads with one apply and no validation walk.
        "ALTER TABLE documents ADD COLUMN snapshot_complete INTEGER NOT NULL DEFAULT 0",
    ),
    (
        # Comments. A document's comments are a document of their own (`names.comments_name`),
        # stored, compacted and loaded like any other, whose row names its document: deleting
        # the document's row deletes its comments through ON DELETE CASCADE, and lists skip
        # rows with a parent. Shares and links gain the commenter role: SQLite cannot change a
        # CHECK constraint in place, so both tables are rebuilt with their rows and ids.
        "ALTER TABLE documents ADD COLUMN parent_id INTEGER"
        " REFERENCES documents (id) ON DELETE CASCADE",
        "CREATE INDEX documents_by_parent ON documents (parent_id)",
        """
        CREATE TABLE shares_v5 (
            doc_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('viewer', 'commenter', 'editor')),
            PRIMARY KEY (doc_id, user_id)
        ) STRICT
        """,
        "INSERT INTO shares_v5 (doc_id, user_id, role) SELECT doc_id, user_id, role FROM shares",
        "DROP TABLE shares",
        "ALTER TABLE shares_v5 RENAME TO shares",
        "CREATE INDEX shares_by_user ON shares (user_id)",
        """
        CREATE TABLE links_v5 (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            doc_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            token TEXT NOT NULL UNIQUE,
            role TEXT NOT NULL CHECK (role IN ('viewer', 'commenter', 'editor')),
            created_at REAL NOT NULL,
            revoked_at REAL
        ) STRICT
        """,
        "INSERT INTO links_v5 (id, doc_id, token, role, created_at, revoked_at)"
        " SELECT id, doc_id, token, role, created_at, revoked_at FROM links",
        "DROP TABLE links",
        "ALTER TABLE links_v5 RENAME TO links",
        "CREATE INDEX links_by_doc ON links (doc_id)",
        # Which comments (by their id in the comments document) a user has seen in their
        # mentions list; the comments themselves live in the comments document.
        """
        CREATE TABLE mention_reads (
            user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            doc_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            comment_id TEXT NOT NULL,
            PRIMARY KEY (user_id, doc_id, comment_id)
        ) STRICT
        """,
    ),
    (
        # History readability: the version recorded just after a restore names what it
        # restored (as it was then) and the backup that undoes it, which the history then
        # shows as part of that entry; undone_at marks a restore that was undone.
        "ALTER TABLE versions ADD COLUMN restored_id INTEGER",
        "ALTER TABLE versions ADD COLUMN restored_label TEXT",
        "ALTER TABLE versions ADD COLUMN restored_at REAL",
        "ALTER TABLE versions ADD COLUMN backup_id INTEGER",
        "ALTER TABLE versions ADD COLUMN undone_at REAL",
        "CREATE INDEX versions_by_backup ON versions (backup_id) WHERE backup_id IS NOT NULL",
    ),
    (
        # Uploaded files (images): stored once by their SHA-256, and which documents use each,
        # with when that use was last confirmed (upload, or the periodic sweep finding the
        # file's address in the document or one of its versions).
        """
        CREATE TABLE files (
            sha256 TEXT PRIMARY KEY,
            media_type TEXT NOT NULL,
            size INTEGER NOT NULL,
            created_at REAL NOT NULL,
            data BLOB NOT NULL
        ) STRICT
        """,
        """
        CREATE TABLE file_uses (
            sha256 TEXT NOT NULL REFERENCES files (sha256) ON DELETE CASCADE,
            doc_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            used_at REAL NOT NULL,
            PRIMARY KEY (doc_id, sha256)
        ) STRICT
        """,
        "CREATE INDEX file_uses_by_time ON file_uses (used_at)",
        "CREATE INDEX file_uses_by_file ON file_uses (sha256)",
    ),
    (
        # Trash and search. A trashed document keeps its row (and with it its log, versions,
        # comments and epoch) with deleted_at set; every lookup of live documents skips it.
        # preview is the first line of its text (lists show it when there is no title);
        # indexed says whether doc_search has its text (older documents are indexed once,
        # after an upgrade). doc_search's rowid is the document's id: FTS5 tables take no
        # foreign keys, so deleting a document deletes its row there too.
        "ALTER TABLE documents ADD COLUMN deleted_at REAL",
        "ALTER TABLE documents ADD COLUMN preview TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE documents ADD COLUMN indexed INTEGER NOT NULL DEFAULT 0",
        "CREATE INDEX documents_trashed ON documents (deleted_at) WHERE deleted_at IS NOT NULL",
        "CREATE VIRTUAL TABLE doc_search USING fts5("
        "title, body, tokenize = 'unicode61 remove_diacritics 2')",
    ),
    (
        # Which writer (a browser's key, as its digest) each client id of a document belongs
        # to, or "" for an id first used without one: see server/sync/writers.py.
        """
        CREATE TABLE writers (
            doc_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            client INTEGER NOT NULL,
            writer TEXT NOT NULL,
            PRIMARY KEY (doc_id, client)
        ) STRICT, WITHOUT ROWID
        """,
    ),
)

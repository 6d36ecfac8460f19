"""Storage interface (DocumentStore, AccountStore) and its value types; imports no database
driver and no CRDT library."""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, NewType, Protocol, Self, runtime_checkable

DocName = NewType("DocName", str)

# A document's comments are a document of their own under this name, which the store ties to
# the document (deleted with it, never listed). The separator is a control character, which
# `names.name_problem` refuses: no client can open or create it by name.
COMMENTS_SUFFIX = "\x1fcomments"


def comments_name(name: DocName) -> DocName:
    """The name of the document holding `name`'s comments."""
    return DocName(name + COMMENTS_SUFFIX)


def comments_parent(name: DocName) -> DocName | None:
    """The document whose comments `name` holds, or None for an ordinary document."""
    return DocName(name[: -len(COMMENTS_SUFFIX)]) if name.endswith(COMMENTS_SUFFIX) else None


# A Yjs update holding nothing (no structs, empty delete set): the state of a new document.
EMPTY_UPDATE = b"\x00\x00"


@dataclass(frozen=True, slots=True)
class StoredDoc:
    """A document as persisted: apply ``snapshot`` (if any), then every update in ``updates``."""

    snapshot: bytes | None
    updates: list[bytes]  # the log tail, in append order
    epoch: str
    # True when the snapshot holds nothing waiting for a missing predecessor (see Fold): every
    # snapshot written since held updates are kept as log rows.
    snapshot_complete: bool = False
    # The sequence number of the newest log row this load includes (stores shared by several
    # instances, see SharedLog); 0 elsewhere.
    head_seq: int = 0

    @property
    def parts(self) -> list[bytes]:
        """The non-empty snapshot and log rows, in the order they are applied."""
        return [part for part in (self.snapshot, *self.updates) if part]


# Folds a snapshot and log rows into (state, held) as the live room would (server.sync.fold):
# `state` everything integrable in its fastest-loading form, `held` the updates still waiting
# for a missing predecessor, in order, which compaction keeps as log rows. The flag says the
# first part is a snapshot written before held updates were kept apart (a raw merge).
Fold = Callable[[list[bytes], bool], Awaitable[tuple[bytes, tuple[bytes, ...]]]]


@dataclass(frozen=True, slots=True)
class DocInfo:
    name: DocName
    title: str
    epoch: str
    created_at: float
    updated_at: float
    size: int  # bytes stored: snapshot + log
    # The first line of its text (as last indexed for search): what lists show when there is
    # no title.
    preview: str = ""


@dataclass(frozen=True, slots=True)
class LogStats:
    rows: int
    bytes: int


# 'auto': recorded on a schedule or when the last person left; thinned as it ages.
# 'named': saved by someone with a label; kept forever.
# 'restore-backup': the state just before a restore, so the restore can be undone; kept forever.
VersionKind = Literal["auto", "named", "restore-backup"]
VERSION_KINDS: tuple[VersionKind, ...] = ("auto", "named", "restore-backup")


@dataclass(frozen=True, slots=True)
class RestoredFrom:
    """What a restore entry restored, as it was then (the version itself may be thinned later),
    and the backup of the state just before, which undoes it."""

    id: int
    label: str | None
    created_at: float
    backup: int


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """One recorded version of a document, without its content."""

    id: int  # unique across all documents and never reused
    created_at: float
    kind: VersionKind
    label: str | None
    authors: tuple[str, ...]  # display names of who edited since the previous version
    size: int  # bytes of the full Yjs update the version holds (before compression)
    # Set on the version recorded just after a restore: the history shows it as the restore.
    restored: RestoredFrom | None = None
    undone_at: float | None = None  # when that restore was undone


@dataclass(frozen=True, slots=True)
class Version:
    info: VersionInfo
    state: bytes  # a full Yjs update: apply it to an empty Doc to see the version


class StoreError(Exception):
    """A store operation failed; the message says what happened."""


class DocumentNotFound(StoreError):
    """The operation needs a document row that does not exist (call ``ensure`` first)."""


class DocumentTrashed(StoreError):
    """The document is in the trash: restore it, or delete it for good to use the name again."""


class DocumentStore(Protocol):
    """Durable home of documents: a snapshot plus an append-only log of Yjs updates each.

    Implementations are async context managers: entering opens the store and starts its writer,
    exiting commits everything still queued, stops the writer and closes.
    """

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    @property
    def commits(self) -> int:
        """Number of append batches committed so far (one transaction each)."""
        ...

    async def load(self, name: DocName) -> StoredDoc | None:
        """The stored document, or None if it does not exist."""
        ...

    async def ensure(self, name: DocName) -> DocInfo:
        """Create the document (with a fresh random epoch) if missing; return its info."""
        ...

    def append(self, name: DocName, update: bytes) -> asyncio.Future[None]:
        """Queue ``update`` for the writer; the future resolves once its transaction committed.

        Futures resolve in append order. They fail with StoreError if the write failed, and with
        DocumentNotFound if the document row does not exist when the batch is written.
        Cancelling the returned future does not withdraw the update.
        """
        ...

    async def flush(self) -> None:
        """Return once every update appended before the call has been written (or has failed;
        failures are reported on the append futures, not here)."""
        ...

    async def writers(self, name: DocName) -> dict[int, str]:
        """Whom each bound client id of the document belongs to: a writer id, or "" for an id
        first used without one (open to anyone); see server/sync/writers.py."""
        ...

    async def bind_writers(self, name: DocName, claims: Mapping[int, str]) -> dict[int, str]:
        """Record the claims on client ids not bound yet (an earlier binding wins, also one
        another instance made) and return the binding of every claimed id as stored.
        DocumentNotFound if the document is gone."""
        ...

    async def log_stats(self, name: DocName) -> LogStats:
        """Size of the log tail; raises DocumentNotFound for an unknown document."""
        ...

    async def compact(self, name: DocName) -> int:
        """Fold the log into the snapshot with ``pycrdt.merge_updates``, in one transaction;
        returns the snapshot's size in bytes afterwards.

        Safe to run concurrently with appends: rows written after the log was read stay in the
        log. Raises DocumentNotFound for an unknown document; a document deleted while the
        merge runs is left deleted.
        """
        ...

    async def set_title(self, name: DocName, title: str) -> None:
        """Set the title (and bump ``updated_at``); raises DocumentNotFound if absent."""
        ...

    async def list_docs(self, limit: int, before: tuple[float, str] | None = None) -> list[DocInfo]:
        """Newest ``updated_at`` first; ``before`` is the (updated_at, name) of the last item of
        the previous page."""
        ...

    async def info(self, name: DocName) -> DocInfo | None: ...

    async def delete(self, name: DocName) -> bool:
        """Remove the document, its snapshot and its log; False if it did not exist."""
        ...

    async def ping(self) -> None:
        """Raise StoreError unless the store can answer queries and its writer is running."""
        ...

    async def durable_state(self, name: DocName) -> bytes | None:
        """The document's full state as one Yjs update: ``merge_updates(snapshot, *log)`` after
        waiting for every update appended before the call; None if the document does not exist.

        Unlike ``Doc.get_update()`` this keeps updates still waiting for a missing predecessor.
        """
        ...

    async def add_version(
        self,
        name: DocName,
        *,
        kind: VersionKind,
        state: bytes,
        created_at: float,
        label: str | None = None,
        authors: Sequence[str] = (),
        restored: RestoredFrom | None = None,
    ) -> VersionInfo:
        """Record a version holding ``state`` (a full update; stored compressed). Raises
        DocumentNotFound for an unknown document."""
        ...

    async def list_versions(
        self, name: DocName, *, limit: int | None = None, before: int | None = None
    ) -> list[VersionInfo]:
        """Newest (highest id) first; ``before`` is the id of the last item of the previous page.
        A restore backup that a restore entry names (``restored.backup``) is left out: it is
        part of that entry. Raises DocumentNotFound for an unknown document."""
        ...

    async def mark_undone(self, name: DocName, version_id: int, at: float) -> None:
        """Note that the restore recorded as ``version_id`` was undone at ``at``."""
        ...

    async def get_version(self, name: DocName, version_id: int) -> Version | None:
        """The version with its state, or None if the document has no version with that id."""
        ...

    async def delete_versions(self, name: DocName, ids: Sequence[int]) -> int:
        """Delete those of ``ids`` that are versions of this document; returns how many were."""
        ...


@dataclass(frozen=True, slots=True)
class CommittedRow:
    """One update as committed to a shared log, numbered within its document."""

    name: DocName
    seq: int
    update: bytes


@runtime_checkable
class SharedLog(Protocol):
    """A store several server instances share (PostgreSQL): every document's log rows carry a
    per-document sequence number, gap-free and in commit order, so an instance can tell which
    of the others' rows it is missing and fetch exactly those."""

    def on_commit(self, callback: Callable[[list[CommittedRow]], None]) -> None:
        """Call `callback` with each batch of this process's rows right after its transaction
        committed, before their append futures resolve."""
        ...

    async def read_since(self, name: DocName, after_seq: int) -> list[tuple[int, bytes]] | None:
        """The document's rows numbered above `after_seq`, in order; None when compaction has
        folded some of them into the snapshot. DocumentNotFound if it does not exist."""
        ...

    async def heads(self, names: Sequence[DocName]) -> dict[DocName, int]:
        """The newest row's number of each of these documents that exists."""
        ...

    async def claim_version(self, name: DocName, now: float, spacing: float) -> bool:
        """Whether this instance records the next automatic version: True for the first to ask
        since `spacing` seconds before `now`, False for the others."""
        ...


@dataclass(frozen=True, slots=True)
class TrashedDoc:
    info: DocInfo
    deleted_at: float
    owner_id: int | None  # accounts mode: who may restore or purge it


class TrashStore(Protocol):
    """Deleted documents kept for a while. A trashed document keeps its row (log, versions,
    comments, epoch) but every other method treats it as absent: ``info`` and ``load`` answer
    None, lists and searches leave it out, and ``ensure`` raises DocumentTrashed instead of
    creating a new document over it. ``delete`` removes it for good."""

    async def trash(self, name: DocName, at: float) -> bool:
        """Move the document to the trash; False if there is no such document (or it is
        trashed already)."""
        ...

    async def restore(self, name: DocName) -> bool:
        """Bring a trashed document back as it was; False if it is not in the trash."""
        ...

    async def trashed(self, name: DocName) -> TrashedDoc | None: ...

    async def list_trash(self, owner_id: int | None, limit: int) -> list[TrashedDoc]:
        """Trashed documents, most recently deleted first; only `owner_id`'s unless None."""
        ...

    async def expired_trash(self, before: float, limit: int) -> list[DocName]:
        """Documents trashed before `before`, oldest first."""
        ...


@dataclass(frozen=True, slots=True)
class SearchHit:
    name: DocName
    title: str
    snippet: str
    updated_at: float
    preview: str


class SearchStore(Protocol):
    """Full-text search over titles and text. The text is given by the server (the store does
    not read documents); `search` takes the person's words, each matched as a word prefix
    regardless of case and accents, all of them required, best matches first."""

    async def index_text(self, name: DocName, title: str, text: str) -> None:
        """What the document says now (its plain text); also sets its preview (first line)."""
        ...

    async def search(
        self,
        words: Sequence[str],
        limit: int,
        *,
        user_id: int | None = None,
        only: DocName | None = None,
    ) -> list[SearchHit]:
        """Matching documents (not trashed, not comments); with `user_id` only those the user
        owns, is shared, or that have no owner; with `only` that document alone."""
        ...

    async def unindexed(self, limit: int) -> list[DocName]:
        """Documents never indexed (written before search existed, or by another process)."""
        ...


@dataclass(frozen=True, slots=True)
class StoredFile:
    """An uploaded file (an image), stored once whatever number of documents use it."""

    sha256: str  # lowercase hex: the file's name in URLs
    media_type: str
    size: int
    data: bytes


class FileStore(Protocol):
    """Uploaded files, deduplicated by their SHA-256, each tied to the documents that use it
    (one row per document and file, with the last time it was known in use). A file is served
    through a document only while that document uses it; deleting a document ends its uses."""

    async def put_file(
        self, name: DocName, *, sha256: str, media_type: str, data: bytes, now: float
    ) -> bool:
        """Store the bytes unless a file with this hash is stored already, and record that
        document `name` uses it at `now`. True if the bytes were new. DocumentNotFound if the
        document does not exist."""
        ...

    async def get_file(self, name: DocName, sha256: str) -> StoredFile | None:
        """The file, if document `name` uses it; None otherwise (or if there is no such file)."""
        ...

    async def stale_file_uses(self, before: float, limit: int) -> list[tuple[DocName, str]]:
        """Up to `limit` (document, sha256) uses last known before `before`, oldest first."""
        ...

    async def touch_file_use(self, name: DocName, sha256: str, now: float) -> None:
        """The document still uses the file, as of `now`."""
        ...

    async def drop_file_use(self, name: DocName, sha256: str) -> None:
        """The document no longer uses the file."""
        ...

    async def delete_unused_files(self, before: float) -> int:
        """Delete files stored before `before` that no document uses; returns how many."""
        ...


def check_limit(limit: int) -> None:
    if limit < 1:
        raise ValueError(f"list limit must be at least 1, got {limit}")


def first_line(text: str, limit: int = 120) -> str:
    """The first non-empty line, cut at a word near `limit` characters."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    if len(line) <= limit:
        return line
    cut = line.rfind(" ", 0, limit)
    return line[: cut if cut > limit // 2 else limit].rstrip() + "…"


def folded(text: str) -> str:
    """Lower case without accents: how search compares words."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def snippet_of(text: str, words: Sequence[str], around: int = 10) -> str:
    """About `around` words either side of the first word starting with one of `words`
    (case and accents aside), with "…" where text was cut; the start of the text if none."""
    tokens = text.split()
    wanted = [folded(w) for w in words]
    hit = next(
        (
            i
            for i, t in enumerate(tokens)
            if any(folded(t).lstrip("([\"'").startswith(w) for w in wanted)
        ),
        0,
    )
    start, end = max(0, hit - around), min(len(tokens), hit + around + 1)
    cut = " ".join(tokens[start:end])
    return ("… " if start else "") + cut + (" …" if end < len(tokens) else "")


def check_kind(kind: str) -> None:
    # Checked before any write: the database would refuse it too, but a typo should fail the
    # same way in every store.
    if kind not in VERSION_KINDS:
        raise ValueError(f"version kind must be one of {VERSION_KINDS}, got {kind!r}")


# -- accounts and sharing (the SQLite store implements these; see AccountStore) -------------------


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str


@dataclass(frozen=True, slots=True)
class Link:
    """A share link: whoever holds `token` gets `role` on the document until it is revoked."""

    id: int
    role: str
    token: str
    created_at: float


@dataclass(frozen=True, slots=True)
class Access:
    """What decides one caller's role on one document."""

    exists: bool
    owned: bool = False
    is_owner: bool = False
    share: str | None = None
    link_id: int | None = None
    link_role: str | None = None


class UserExists(StoreError):
    """The username is taken."""


class UserNotFound(StoreError):
    """No user has that name."""


class MentionStore(Protocol):
    """Who may be mentioned in a document's comments, and which mentions a user has read
    (accounts mode; the comments are in the document's comments document)."""

    async def readers(self, name: DocName) -> list[str]:
        """Usernames of the owner and everyone the document is shared with."""
        ...

    async def mentions_read(self, user: User, names: Sequence[DocName]) -> set[tuple[str, str]]:
        """(document name, comment id) pairs among `names` the user has marked read."""
        ...

    async def mark_mentions_read(
        self, user: User, name: DocName, comment_ids: Sequence[str]
    ) -> None:
        """Mark these comments of the document read for the user (DocumentNotFound if gone)."""
        ...


class AccountStore(Protocol):
    """Users, sessions, owners, shares and links (accounts mode)."""

    async def create_user(self, username: str, password_hash: str) -> User: ...
    async def find_user(self, username: str) -> tuple[User, str] | None: ...
    async def create_session(self, user: User, token_hash: str, expires_at: float) -> None: ...
    async def session_user(self, token_hash: str) -> User | None: ...
    async def delete_session(self, token_hash: str) -> None: ...
    async def set_owner(self, name: DocName, user: User) -> None: ...
    async def access(self, name: DocName, user: User | None, link_token: str | None) -> Access: ...
    async def list_docs_for(
        self, user: User, limit: int, before: tuple[float, str] | None = None
    ) -> list[DocInfo]: ...
    async def set_share(self, name: DocName, username: str, role: str | None) -> User: ...
    async def shares(self, name: DocName) -> list[tuple[str, str]]: ...
    async def active_link(self, name: DocName, role: str, token: str) -> Link: ...
    async def links(self, name: DocName) -> list[Link]: ...
    async def revoke_link(self, name: DocName, link_id: int) -> bool: ...

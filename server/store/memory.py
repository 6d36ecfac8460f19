"""In-process DocumentStore with the same semantics as the SQLite one, for tests; imports no
database driver and nothing from pycrdt (merges go through store.merge)."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Self

from server.store.appendqueue import AppendQueue, PendingAppend
from server.store.base import (
    DocInfo,
    DocName,
    DocumentNotFound,
    DocumentTrashed,
    Fold,
    LogStats,
    RestoredFrom,
    SearchHit,
    StoredDoc,
    StoreError,
    TrashedDoc,
    Version,
    VersionInfo,
    VersionKind,
    check_kind,
    check_limit,
    comments_name,
    comments_parent,
    first_line,
    folded,
)
from server.store.merge import fold_in_thread, full_state, held_in_place


@dataclass(slots=True)
class _Doc:
    name: DocName
    epoch: str
    created_at: float
    updated_at: float
    title: str = ""
    snapshot: bytes | None = None
    snapshot_complete: bool = False
    log: list[tuple[int, bytes]] = field(default_factory=list)  # (row id, update)
    log_bytes: int = 0
    versions: dict[int, Version] = field(default_factory=dict)  # id -> version, in id order
    deleted_at: float | None = None  # in the trash since
    preview: str = ""
    indexed: tuple[str, str] | None = None  # (title, text) as last indexed for search
    writers: dict[int, str] = field(default_factory=dict)  # client id -> writer ("" open)

    def info(self) -> DocInfo:
        size = len(self.snapshot or b"") + self.log_bytes
        return DocInfo(
            self.name, self.title, self.epoch, self.created_at, self.updated_at, size, self.preview
        )


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", folded(text))


class MemoryStore:
    """Keeps everything in dicts; appends still go through a writer task, so their futures
    resolve on a later loop iteration exactly as with a real database."""

    def __init__(
        self,
        *,
        batch_max: int = 2048,
        clock: Callable[[], float] = time.time,
        fold: Fold | None = None,
    ) -> None:
        self._clock = clock
        self._fold = fold if fold is not None else fold_in_thread
        self._docs: dict[DocName, _Doc] = {}
        self._next_row = 0
        self._next_version = 0
        self._queue = AppendQueue(self._commit_batch, batch_max=batch_max, label="memory store")
        self._open = False
        # Serialises compactions so two of them never fold overlapping log prefixes.
        self._compact_lock = asyncio.Lock()

    async def __aenter__(self) -> Self:
        if self._queue.started:
            raise StoreError("memory store was already opened; create a new one")
        self._open = True
        self._queue.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self._queue.close()
        finally:
            self._open = False

    @property
    def commits(self) -> int:
        return self._queue.commits

    def _check_open(self) -> None:
        if not self._open:
            raise StoreError("memory store is not open")

    async def _commit_batch(self, batch: Sequence[PendingAppend]) -> list[StoreError | None]:
        now = self._clock()
        outcomes: list[StoreError | None] = []
        for item in batch:
            doc = self._docs.get(item.name)
            if doc is None:
                outcomes.append(DocumentNotFound(f"no document {item.name!r}"))
                continue
            self._next_row += 1
            doc.log.append((self._next_row, item.update))
            doc.log_bytes += len(item.update)
            doc.updated_at = now
            outcomes.append(None)
        return outcomes

    def _live(self, name: DocName) -> _Doc | None:
        doc = self._docs.get(name)
        return None if doc is None or doc.deleted_at is not None else doc

    async def load(self, name: DocName) -> StoredDoc | None:
        self._check_open()
        doc = self._live(name)
        if doc is None:
            return None
        return StoredDoc(
            doc.snapshot, [update for _, update in doc.log], doc.epoch, doc.snapshot_complete
        )

    async def ensure(self, name: DocName) -> DocInfo:
        self._check_open()
        doc = self._docs.get(name)
        if doc is not None and doc.deleted_at is not None:
            raise DocumentTrashed(f"{name!r} is in the trash")
        if doc is None:
            parent = comments_parent(name)
            if parent is not None and self._live(parent) is None:
                raise DocumentNotFound(f"no document {parent!r} to hold comments for")
            now = self._clock()
            doc = _Doc(name=name, epoch=uuid.uuid4().hex, created_at=now, updated_at=now)
            self._docs[name] = doc
        return doc.info()

    def append(self, name: DocName, update: bytes) -> asyncio.Future[None]:
        return self._queue.append(name, update)

    async def flush(self) -> None:
        await self._queue.flush()

    async def writers(self, name: DocName) -> dict[int, str]:
        self._check_open()
        doc = self._docs.get(name)
        return {} if doc is None else dict(doc.writers)

    async def bind_writers(self, name: DocName, claims: Mapping[int, str]) -> dict[int, str]:
        self._check_open()
        doc = self._docs.get(name)
        if doc is None:
            raise DocumentNotFound(f"no document {name!r}")
        return {client: doc.writers.setdefault(client, who) for client, who in claims.items()}

    async def log_stats(self, name: DocName) -> LogStats:
        self._check_open()
        doc = self._docs.get(name)
        if doc is None:
            raise DocumentNotFound(f"no document {name!r}")
        return LogStats(rows=len(doc.log), bytes=doc.log_bytes)

    async def compact(self, name: DocName) -> int:
        self._check_open()
        async with self._compact_lock:
            doc = self._docs.get(name)
            if doc is None:
                raise DocumentNotFound(f"no document {name!r}")
            if not doc.log:
                return len(doc.snapshot or b"")
            last_row = doc.log[-1][0]
            parts = [update for _, update in doc.log]
            if doc.snapshot is not None:
                parts.insert(0, doc.snapshot)
            pending_first = doc.snapshot is not None and not doc.snapshot_complete
            try:
                merged, held = await self._fold(parts, pending_first)
            except ValueError as exc:
                raise StoreError(
                    f"cannot compact {name!r}: its log holds an invalid update"
                ) from exc
            if self._docs.get(name) is not doc:
                return 0  # deleted (maybe re-created) while merging: nothing left to fold into
            doc.snapshot = merged
            doc.snapshot_complete = True
            keep, loose = held_in_place(doc.log, held)  # in place, as the SQLite store does
            kept = set(keep)
            doc.log = [(row, update) for row, update in doc.log if row > last_row or row in kept]
            for update in loose:
                self._next_row += 1
                doc.log.append((self._next_row, update))
            doc.log_bytes = sum(len(update) for _, update in doc.log)
            return len(merged)

    async def set_title(self, name: DocName, title: str) -> None:
        self._check_open()
        doc = self._docs.get(name)
        if doc is None:
            raise DocumentNotFound(f"no document {name!r}")
        doc.title = title
        doc.updated_at = self._clock()

    async def list_docs(self, limit: int, before: tuple[float, str] | None = None) -> list[DocInfo]:
        self._check_open()
        check_limit(limit)
        listed = (
            d
            for d in self._docs.values()
            if comments_parent(d.name) is None and d.deleted_at is None
        )
        keys = sorted(((d.updated_at, d.name) for d in listed), reverse=True)
        if before is not None:
            keys = [key for key in keys if key < before]
        return [self._docs[name].info() for _, name in keys[:limit]]

    async def info(self, name: DocName) -> DocInfo | None:
        self._check_open()
        doc = self._live(name)
        return None if doc is None else doc.info()

    async def delete(self, name: DocName) -> bool:
        self._check_open()
        self._docs.pop(comments_name(name), None)  # its comments go with it, as in SQLite
        return self._docs.pop(name, None) is not None

    async def ping(self) -> None:
        self._check_open()
        if not self._queue.running:
            raise StoreError("memory store writer is not running")

    async def durable_state(self, name: DocName) -> bytes | None:
        self._check_open()
        await self.flush()
        return await full_state(name, await self.load(name), self._fold)

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
        self._check_open()
        check_kind(kind)
        doc = self._docs.get(name)
        if doc is None:
            raise DocumentNotFound(f"no document {name!r}")
        self._next_version += 1
        info = VersionInfo(
            self._next_version, created_at, kind, label, tuple(authors), len(state), restored
        )
        doc.versions[info.id] = Version(info, bytes(state))
        return info

    async def list_versions(
        self, name: DocName, *, limit: int | None = None, before: int | None = None
    ) -> list[VersionInfo]:
        self._check_open()
        if limit is not None:
            check_limit(limit)
        doc = self._docs.get(name)
        if doc is None:
            raise DocumentNotFound(f"no document {name!r}")
        attached = {v.info.restored.backup for v in doc.versions.values() if v.info.restored}
        ids = [i for i in sorted(doc.versions, reverse=True) if i not in attached]
        if before is not None:
            ids = [i for i in ids if i < before]
        return [doc.versions[i].info for i in ids[:limit]]

    async def mark_undone(self, name: DocName, version_id: int, at: float) -> None:
        self._check_open()
        doc = self._docs.get(name)
        version = None if doc is None else doc.versions.get(version_id)
        if doc is None or version is None:
            raise DocumentNotFound(f"{name!r} has no version {version_id}")
        doc.versions[version_id] = Version(replace(version.info, undone_at=at), version.state)

    async def get_version(self, name: DocName, version_id: int) -> Version | None:
        self._check_open()
        doc = self._docs.get(name)
        return None if doc is None else doc.versions.get(version_id)

    async def delete_versions(self, name: DocName, ids: Sequence[int]) -> int:
        self._check_open()
        doc = self._docs.get(name)
        if doc is None:
            return 0
        return sum(doc.versions.pop(i, None) is not None for i in set(ids))

    # -- the trash (TrashStore) -------------------------------------------------------------

    async def trash(self, name: DocName, at: float) -> bool:
        self._check_open()
        doc = self._live(name)
        if doc is None or comments_parent(name) is not None:
            return False
        doc.deleted_at = at
        return True

    async def restore(self, name: DocName) -> bool:
        self._check_open()
        doc = self._docs.get(name)
        if doc is None or doc.deleted_at is None:
            return False
        doc.deleted_at = None
        return True

    def _trashed(self, doc: _Doc) -> TrashedDoc:
        assert doc.deleted_at is not None
        return TrashedDoc(doc.info(), doc.deleted_at, None)

    async def trashed(self, name: DocName) -> TrashedDoc | None:
        self._check_open()
        doc = self._docs.get(name)
        return None if doc is None or doc.deleted_at is None else self._trashed(doc)

    async def list_trash(self, owner_id: int | None, limit: int) -> list[TrashedDoc]:
        self._check_open()
        check_limit(limit)
        if owner_id is not None:
            return []  # no accounts here: nobody owns anything
        gone = [d for d in self._docs.values() if d.deleted_at is not None]
        gone.sort(key=lambda d: (-(d.deleted_at or 0.0), d.name))
        return [self._trashed(d) for d in gone[:limit]]

    async def expired_trash(self, before: float, limit: int) -> list[DocName]:
        self._check_open()
        gone = [
            d for d in self._docs.values() if d.deleted_at is not None and d.deleted_at < before
        ]
        gone.sort(key=lambda d: d.deleted_at or 0.0)
        return [d.name for d in gone[:limit]]

    # -- search (SearchStore) ----------------------------------------------------------------

    async def index_text(self, name: DocName, title: str, text: str) -> None:
        self._check_open()
        doc = self._docs.get(name)
        if doc is not None:
            doc.indexed = (title, text)
            doc.preview = first_line(text)

    async def search(
        self,
        words: Sequence[str],
        limit: int,
        *,
        user_id: int | None = None,
        only: DocName | None = None,
    ) -> list[SearchHit]:
        self._check_open()
        check_limit(limit)
        wanted = [folded(w) for w in words]
        if not wanted or user_id is not None:
            return []  # no accounts here: a user owns nothing and is shared nothing
        scored: list[tuple[float, float, SearchHit]] = []
        for doc in self._docs.values():
            if doc.indexed is None or doc.deleted_at is not None or (only and doc.name != only):
                continue
            title_words, text_words = _words(doc.indexed[0]), _words(doc.indexed[1])
            hits = [
                10 * sum(t.startswith(w) for t in title_words)
                + sum(t.startswith(w) for t in text_words)
                for w in wanted
            ]
            if all(hits):
                hit = SearchHit(
                    doc.name, doc.title, doc.indexed[1][:200], doc.updated_at, doc.preview
                )
                scored.append((-sum(hits), -doc.updated_at, hit))
        scored.sort(key=lambda entry: entry[:2])
        return [hit for _, _, hit in scored[:limit]]

    async def unindexed(self, limit: int) -> list[DocName]:
        self._check_open()
        waiting = [
            d.name
            for d in self._docs.values()
            if d.indexed is None and d.deleted_at is None and comments_parent(d.name) is None
        ]
        return waiting[:limit]

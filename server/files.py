"""Uploaded images: what type a file is (from its bytes, never from what the sender claims), and
the periodic sweep that removes files no document has used for a while.

A file counts as used by a document while its address (which holds its SHA-256) is in the
document or in one of the document's versions, so an image in an old version still shows when
that version is previewed or restored. The sweep only looks at uses not confirmed for
`retention` seconds: each one still found is confirmed again, the others are dropped, and a file
left with no use at all is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

from .store.base import DocName, DocumentStore, FileStore

log = logging.getLogger("coedit.files")

# What the editor shows inline. SVG is not an image here: it is a document that can run script.
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
)


def sniff_image(data: bytes) -> str | None:
    """The image type of these bytes (PNG, JPEG, GIF or WebP), or None for anything else."""
    for magic, offset, media_type in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return media_type
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


class FilesAndDocs(DocumentStore, FileStore, Protocol):
    """A store holding both documents and files (SqliteStore; a PostgreSQL store alike)."""


@dataclass(frozen=True, slots=True)
class SweepResult:
    kept: int  # uses confirmed again
    dropped: int  # uses no longer found
    deleted: int  # files removed


class FileSweeper:
    """Runs `sweep` every `interval` seconds while open."""

    def __init__(
        self,
        store: FilesAndDocs,
        *,
        retention_seconds: float,
        interval: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._retention = retention_seconds
        self._interval = interval
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._loop(), name="file sweeper")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                result = await self.sweep()
            except Exception:
                # The next round tries again; nothing is deleted by a sweep that failed.
                log.exception("sweeping unused files failed")
                continue
            if result.dropped or result.deleted:
                log.info("file sweep: %s", result)

    async def sweep(self) -> SweepResult:
        now = self._clock()
        cutoff = now - self._retention
        kept = dropped = 0
        while True:
            uses = await self._store.stale_file_uses(cutoff, 100)
            if not uses:
                break
            for name, sha256 in uses:
                if await self._still_used(name, sha256):
                    await self._store.touch_file_use(name, sha256, now)
                    kept += 1
                else:
                    await self._store.drop_file_use(name, sha256)
                    dropped += 1
        deleted = await self._store.delete_unused_files(cutoff)
        return SweepResult(kept, dropped, deleted)

    async def _still_used(self, name: DocName, sha256: str) -> bool:
        # The address is a string in the Yjs update, so the hash appears in its bytes.
        needle = sha256.encode()
        state = await self._store.durable_state(name)
        if state is None:
            return False
        if needle in state:
            return True
        before: int | None = None
        while True:
            versions = await self._store.list_versions(name, limit=50, before=before)
            for info in versions:
                version = await self._store.get_version(name, info.id)
                if version is not None and needle in version.state:
                    return True
            if len(versions) < 50:
                return False
            before = versions[-1].id

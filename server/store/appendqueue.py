"""The group-commit queue both stores write appends through: concurrent appends, one
transaction."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from server.store.base import DocName, StoreError

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class PendingAppend:
    name: DocName
    update: bytes
    future: asyncio.Future[None]


# Writes one batch in one transaction. Returns, per item and in order, None when the item was
# committed or the error for an item that was skipped (e.g. unknown document). Raising means the
# whole batch was rolled back.
CommitBatch = Callable[[Sequence[PendingAppend]], Awaitable[Sequence[StoreError | None]]]


class AppendQueue:
    """Group commit: appends are queued without awaiting, and one writer task drains whatever
    has accumulated (up to ``batch_max``) into a single transaction, so concurrent appends share
    one fsync. Futures are resolved only after ``commit_batch`` returned, in append order."""

    def __init__(self, commit_batch: CommitBatch, *, batch_max: int, label: str) -> None:
        if batch_max < 1:
            raise ValueError(f"batch_max must be at least 1, got {batch_max}")
        self._commit_batch = commit_batch
        self._batch_max = batch_max
        self._label = label
        self._pending: deque[PendingAppend] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        # flush() compares sequence numbers instead of awaiting the last append future, because
        # that future may have been cancelled by its caller.
        self._enqueued = 0
        self._processed = 0
        self._flush_waiters: deque[tuple[int, asyncio.Future[None]]] = deque()
        self.commits = 0

    @property
    def started(self) -> bool:
        return self._task is not None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done() and not self._closing

    def start(self) -> None:
        if self._task is not None:
            raise StoreError(f"{self._label}: writer already started")
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"{self._label} writer"
        )

    def append(self, name: DocName, update: bytes) -> asyncio.Future[None]:
        if not isinstance(update, bytes):
            # Checked here, not by the database: one bad item would fail its whole batch,
            # including other documents' updates.
            raise TypeError(f"update must be bytes, not {type(update).__name__}")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not self.running:
            future.set_exception(StoreError(f"{self._label}: store is not open"))
            return future
        self._pending.append(PendingAppend(name, update, future))
        self._enqueued += 1
        self._wakeup.set()
        return future

    async def flush(self) -> None:
        target = self._enqueued
        if self._processed >= target:
            return
        if self._task is None or self._task.done():
            raise StoreError(f"{self._label}: writer is not running")
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._flush_waiters.append((target, waiter))
        await waiter

    async def close(self) -> None:
        """Stop accepting appends, write everything queued, stop the writer."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        try:
            while True:
                if not self._pending:
                    if self._closing:
                        return
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                count = min(len(self._pending), self._batch_max)
                batch = [self._pending.popleft() for _ in range(count)]
                await self._write(batch)
        finally:
            # Nothing will ever process what is left, so nobody may be left waiting on it.
            while self._pending:
                _fail(self._pending.popleft().future, StoreError(f"{self._label}: writer stopped"))
            self._processed = self._enqueued
            while self._flush_waiters:
                _, waiter = self._flush_waiters.popleft()
                if not waiter.done():
                    waiter.set_result(None)

    async def _write(self, batch: list[PendingAppend]) -> None:
        try:
            outcomes = await self._commit_batch(batch)
        except Exception as exc:
            logger.exception("%s: batch of %d appends failed", self._label, len(batch))
            for item in batch:
                error = StoreError(f"{self._label}: write of {item.name!r} failed: {exc}")
                error.__cause__ = exc
                _fail(item.future, error)
        except BaseException:
            # Cancelled mid-transaction: the commit may or may not have reached the disk.
            for item in batch:
                _fail(item.future, StoreError(f"{self._label}: writer cancelled, outcome unknown"))
            raise
        else:
            self.commits += 1
            for item, outcome in zip(batch, outcomes, strict=True):
                if outcome is None:
                    if not item.future.done():
                        item.future.set_result(None)
                else:
                    _fail(item.future, outcome)
        finally:
            self._processed += len(batch)
            while self._flush_waiters and self._flush_waiters[0][0] <= self._processed:
                _, waiter = self._flush_waiters.popleft()
                if not waiter.done():
                    waiter.set_result(None)


def _fail(future: asyncio.Future[None], error: StoreError) -> None:
    if not future.done():
        future.set_exception(error)

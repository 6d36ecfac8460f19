"""Folding a stored document (snapshot + log) into one update, in a worker process.

pycrdt holds the GIL while it merges or applies, so a big document folded on the event loop (or
in a thread) stalls every other document; a process does not. Imports pycrdt and protocol only.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from pycrdt import Doc, merge_updates

from .protocol import read_state_vector, validate_update

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Folded:
    """`state` holds everything integrable, encoded the way a Doc encodes itself (compact blocks,
    several times faster to apply than a raw merge). `leftover` is the raw merge when some of it
    still waits for a missing predecessor (None when nothing does): keep it, or it is lost."""

    state: bytes
    leftover: bytes | None


# Rows folded between two checks of the document's state vector, at least: reading it costs
# O(clients), as much as applying a small row when few wrote, so checks come every 32 rows or
# every as many rows as clients seen, whichever is more (10,000 rows from 2,000 writers would
# otherwise spend 0.4 s reading state vectors).
CHECK_EVERY = 32


def fold(parts: list[bytes]) -> Folded:
    # Applying the parts one by one is far faster than merging many of them (10,000 log rows:
    # 26 ms against 370 ms), but only safe while nothing goes pending inside pycrdt: a gap in a
    # client's clocks is seen before the apply, a missing cross-client origin by the periodic
    # state check after it. Either way the raw merge, which keeps everything, takes over.
    doc: Doc[Any] = Doc()
    expected: dict[int, int] = {}
    next_check = CHECK_EVERY
    for index, part in enumerate(parts, 1):
        sections = validate_update(part)
        for client, start, end in sections:
            have = expected.get(client, 0)
            if start > have:
                return fold_merged(parts)
            if end > have:
                expected[client] = end
        try:
            doc.apply_update(part)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # a pycrdt panic: only ever seen with structs left pending
            log.warning("pycrdt failed in the quick fold; folding the safe way", exc_info=True)
            return fold_merged(parts)
        if index >= next_check or index == len(parts):
            if not _reached(doc, expected):
                return fold_merged(parts)
            next_check = index + max(CHECK_EVERY, len(expected))
    return Folded(doc.get_update(), None)


def _reached(doc: Doc[Any], expected: dict[int, int]) -> bool:
    have = read_state_vector(doc.get_state())
    return all(have.get(client, 0) >= end for client, end in expected.items())


def fold_merged(parts: list[bytes]) -> Folded:
    merged = parts[0] if len(parts) == 1 else merge_updates(*parts)
    doc: Doc[Any] = Doc()
    doc.apply_update(merged)
    expected = {client: end for client, _, end in validate_update(merged)}
    return Folded(doc.get_update(), None if _reached(doc, expected) else merged)


# How much lower the worker's scheduling priority is than the server's (see _start_worker).
WORKER_NICENESS = 10


def _start_worker(parent: int) -> None:
    """Runs in the worker as it starts.

    A fold is a burst of CPU (tens of ms for a big, busy document), while the server's relays
    and commits need theirs within milliseconds: on a machine with fewer free cores than
    busy processes, the fold should wait, not them.

    A server killed with SIGKILL must not leave its worker behind (the worker would wait on its
    task queue forever).
    """
    os.nice(WORKER_NICENESS)  # raising one's own niceness is always allowed

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="parent watch", daemon=True).start()


class Folder:
    """Runs `fold` in one worker process; an async context manager entered at startup."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._running = False

    @staticmethod
    def _new_pool() -> ProcessPoolExecutor:
        # spawn, not fork: the server has threads (aiosqlite) that a fork would copy mid-flight.
        return ProcessPoolExecutor(
            1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(os.getpid(),),
        )

    async def __aenter__(self) -> Self:
        self._pool = self._new_pool()
        self._running = True
        await self(  # start the worker now, not on the first big document
            [b"\x00\x00"]
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._running = False
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    async def __call__(self, parts: list[bytes]) -> Folded:
        try:
            return await self._run(fold, parts)
        except BrokenProcessPool:
            # The worker died: killed (OOM), or pycrdt crashed on something the quick fold let
            # through. A new worker folds the document the safe way.
            log.error("the fold worker died; folding again the safe way in a new worker")
            return await self._run(fold_merged, parts)

    async def _run(self, function: Callable[[list[bytes]], Folded], parts: list[bytes]) -> Folded:
        if not self._running or self._pool is None:
            raise RuntimeError("the folder is not running")
        pool = self._pool
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, function, parts)
        except BrokenProcessPool:
            if self._pool is pool and self._running:  # once, however many calls saw it break
                pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
            raise

    async def pair(self, parts: list[bytes]) -> tuple[bytes, bytes | None]:
        """The store's Fold: (state, leftover)."""
        folded = await self(parts)
        return folded.state, folded.leftover

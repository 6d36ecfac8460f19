"""Folding a stored document (snapshot + log) into one update, in a worker process.

pycrdt holds the GIL while it merges or applies, so a big document folded on the event loop (or
in a thread) stalls every other document; a process does not. Imports pycrdt and protocol only.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from pycrdt import Doc, merge_updates

from .protocol import read_state_vector, validate_update


@dataclass(frozen=True, slots=True)
class Folded:
    """`state` holds everything integrable, encoded the way a Doc encodes itself (compact blocks,
    several times faster to apply than a raw merge). `leftover` is the raw merge when some of it
    still waits for a missing predecessor (None when nothing does): keep it, or it is lost."""

    state: bytes
    leftover: bytes | None


def fold(parts: list[bytes]) -> Folded:
    # Applying the parts one by one is far faster than merging many of them (10,000 log rows:
    # 26 ms against 370 ms), but only safe while nothing goes pending inside pycrdt: at the
    # first part that would, fall back to the raw merge, which keeps everything.
    doc: Doc[Any] = Doc()
    have: dict[int, int] = {}
    for part in parts:
        sections = validate_update(part)
        if any(start > have.get(client, 0) for client, start, _ in sections):
            return _fold_merged(parts)
        doc.apply_update(part)
        have = read_state_vector(doc.get_state())
        if any(have.get(client, 0) < end for client, _, end in sections):
            return _fold_merged(parts)
    return Folded(doc.get_update(), None)


def _fold_merged(parts: list[bytes]) -> Folded:
    merged = parts[0] if len(parts) == 1 else merge_updates(*parts)
    sections = validate_update(merged)
    doc: Doc[Any] = Doc()
    doc.apply_update(merged)
    have = read_state_vector(doc.get_state())
    complete = all(have.get(client, 0) >= end for client, _, end in sections)
    return Folded(doc.get_update(), None if complete else merged)


def _exit_with_parent(parent: int) -> None:
    """Runs in the worker: a server killed with SIGKILL must not leave its worker behind (the
    worker would wait on its task queue forever)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="parent watch", daemon=True).start()


class Folder:
    """Runs `fold` in one worker process; an async context manager entered at startup."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    async def __aenter__(self) -> Self:
        # spawn, not fork: the server has threads (aiosqlite) that a fork would copy mid-flight.
        self._pool = ProcessPoolExecutor(
            1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_exit_with_parent,
            initargs=(os.getpid(),),
        )
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
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    async def __call__(self, parts: list[bytes]) -> Folded:
        if self._pool is None:
            raise RuntimeError("the folder is not running")
        return await asyncio.get_running_loop().run_in_executor(self._pool, fold, parts)

    async def pair(self, parts: list[bytes]) -> tuple[bytes, bytes | None]:
        """The store's Fold: (state, leftover)."""
        folded = await self(parts)
        return folded.state, folded.leftover

"""Folding a stored document (snapshot + log) into one update, in a worker process.

pycrdt holds the GIL while it merges or applies, so a big document folded on the event loop (or
in a thread) stalls every other document; a process does not. Imports pycrdt and the codec
(lib0, protocol, yupdate) only.
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

from ..closecodes import Close
from .integrate import HalfApplied, Integrator, new_doc
from .lib0 import ProtocolError
from .yupdate import read_state_vector, validate_update

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Folded:
    """`state` holds everything integrable, encoded the way a Doc encodes itself (compact blocks,
    several times faster to apply than a raw merge). `held` are the updates still waiting for a
    missing predecessor, in order, exactly as the live room would hold them: keep them, or
    they are lost."""

    state: bytes
    held: tuple[bytes, ...] = ()


# Rows folded between two checks of the document's state vector, at least: reading it costs
# O(clients), as much as applying a small row when few wrote, so checks come every 32 rows or
# every as many rows as clients seen, whichever is more (10,000 rows from 2,000 writers would
# otherwise spend 0.4 s reading state vectors).
CHECK_EVERY = 32


def fold(parts: list[bytes], pending_first: bool = False) -> Folded:
    """Rebuild a stored document the way the live room built it: the same Integrator over the
    same updates in the same order, so that a reload equals the live document (an update the
    room refused is not stored; one it held stays held; one it dropped once ready is dropped).

    `pending_first`: the first part is a snapshot written before held updates were kept apart
    (a raw merge that may hold structs waiting for a missing predecessor).
    """
    doc = new_doc()
    integrator = Integrator(doc)
    rest = parts
    if pending_first and parts:
        state, held = _split_raw(parts[0])
        integrator.load(state, held)
        rest = parts[1:]
    next_check = CHECK_EVERY
    for index, part in enumerate(rest, 1):
        try:
            integrator.integrate(part)
        except ProtocolError as exc:
            if exc.code != Close.INVALID_PAYLOAD:
                # The room stores only updates it validated: anything else is damage.
                raise ValueError(f"stored part {index} is not a valid update: {exc}") from None
            log.warning("a stored update is refused as the live room refused it: %s", exc)
        except (IndexError, UnicodeDecodeError) as exc:
            raise ValueError(f"stored part {index} is not a valid update: {exc!r}") from None
        except HalfApplied:
            log.error("pycrdt failed half-way through a stored update; folding the old way")
            return fold_merged(parts)
        if index >= next_check or index == len(rest):
            if integrator.drifted():
                log.error("pycrdt kept part of a stored update pending; folding the old way")
                return fold_merged(parts)
            next_check = index + max(CHECK_EVERY, len(integrator.state))
    return Folded(doc.get_update(), tuple(held.update for held in integrator.held))


def _split_raw(raw: bytes) -> tuple[bytes, tuple[bytes, ...]]:
    """What pycrdt integrates of a raw merge, and the merge itself if part of it waits."""
    doc = new_doc()
    doc.apply_update(raw)
    return doc.get_update(), (() if _reached(doc, raw) else (raw,))


def _reached(doc: Doc[Any], update: bytes) -> bool:
    have = read_state_vector(doc.get_state())
    return all(have.get(client, 0) >= end for client, _, end in validate_update(update).sections)


def fold_merged(parts: list[bytes]) -> Folded:
    """The last resort, for when pycrdt misbehaved on the one-by-one fold: everything merged
    raw, so that nothing stored is lost, though the live room may have shown less of it."""
    merged = parts[0] if len(parts) == 1 else merge_updates(*parts)
    state, held = _split_raw(merged)
    return Folded(state, held)


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

    async def __call__(self, parts: list[bytes], pending_first: bool = False) -> Folded:
        try:
            return await self._run(fold, parts, pending_first)
        except BrokenProcessPool:
            # The worker died: killed (OOM), or pycrdt crashed on something the fold let
            # through. A new worker folds the document the last-resort way.
            log.error("the fold worker died; folding again the safe way in a new worker")
            return await self._run(_fold_merged, parts, pending_first)

    async def _run(
        self, function: Callable[[list[bytes], bool], Folded], parts: list[bytes], flag: bool
    ) -> Folded:
        if not self._running or self._pool is None:
            raise RuntimeError("the folder is not running")
        pool = self._pool
        try:
            return await asyncio.get_running_loop().run_in_executor(
                pool, _unpanicked, function, parts, flag
            )
        except BrokenProcessPool:
            if self._pool is pool and self._running:  # once, however many calls saw it break
                pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
            raise

    async def pair(
        self, parts: list[bytes], pending_first: bool
    ) -> tuple[bytes, tuple[bytes, ...]]:
        """The store's Fold: (state, held)."""
        folded = await self(parts, pending_first)
        return folded.state, folded.held


def _fold_merged(parts: list[bytes], pending_first: bool) -> Folded:
    return fold_merged(parts)


def _unpanicked(
    function: Callable[[list[bytes], bool], Folded], parts: list[bytes], flag: bool
) -> Folded:
    """Runs in the worker. A panic in yrs reaches Python as pyo3's PanicException, which
    derives from BaseException and cannot be pickled back: the server then read only a
    PicklingError (soak seed 35: merge_updates panicked on "a comparison that is not a total
    order"). Sent back as a RuntimeError, the log says what failed."""
    try:
        return function(parts, flag)
    except Exception:
        raise
    except BaseException as exc:
        if type(exc).__name__ != "PanicException":
            raise
        raise RuntimeError(f"pycrdt panicked: {exc}") from None

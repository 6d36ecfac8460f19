"""Merging stored updates into one, off the event loop: the stores' one use of pycrdt."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from pycrdt import merge_updates

from server.store.base import EMPTY_UPDATE, DocName, Fold, StoredDoc, StoreError


async def fold_in_thread(
    parts: list[bytes], pending_first: bool
) -> tuple[bytes, tuple[bytes, ...]]:
    """The stores' Fold when the server gives them none (tests, the command line): the same
    fold as the server's worker process, in a thread."""
    from server.sync.fold import fold

    folded = await asyncio.to_thread(fold, parts, pending_first)
    return folded.state, folded.held


async def merge_parts(parts: Sequence[bytes]) -> bytes:
    """``merge_updates`` of raw bytes, which keeps updates still waiting for a missing
    predecessor (``Doc.get_update()`` would drop them). In a thread: it can take tens of ms.
    Raises ValueError for an invalid update."""
    return await asyncio.to_thread(merge_updates, *parts)


async def full_state(name: DocName, stored: StoredDoc | None, fold: Fold) -> bytes | None:
    """What ``DocumentStore.durable_state`` returns for this stored document: what the live
    room holds, folded as a reload folds it (a raw merge of the rows could differ: updates that
    claim clocks the document already has merge into something nobody saw), with the updates
    it still holds merged in raw, so that nothing stored is left out."""
    if stored is None:
        return None
    parts = stored.parts
    if not parts:
        return EMPTY_UPDATE
    if len(parts) == 1 and stored.snapshot_complete:
        return parts[0]
    pending_first = stored.snapshot is not None and not stored.snapshot_complete
    try:
        state, held = await fold(parts, pending_first)
    except ValueError as exc:
        raise StoreError(f"cannot fold the state of {name!r}: {exc}") from exc
    if not held:
        return state
    try:
        return await merge_parts([state, *held])
    except ValueError as exc:
        raise StoreError(f"cannot merge the state of {name!r}: {exc}") from exc


def held_in_place(
    rows: Sequence[tuple[int, bytes]], held: Sequence[bytes]
) -> tuple[list[int], list[bytes]]:
    """Which compacted rows a fold's held updates are (their ids, to keep them where they are),
    and the held updates that are no row (parts of an old raw snapshot), to append.

    A held row must keep its place before rows written after it: moved behind them, a forged
    update claiming the same clocks with other content would be integrated before it on the
    next load, where the live room had integrated it first (found by the fuzzer).
    """
    keep: list[int] = []
    loose: list[bytes] = []
    position = 0
    for update in held:  # a fold holds rows in the order it met them
        for index in range(position, len(rows)):
            if rows[index][1] == update:
                keep.append(rows[index][0])
                position = index + 1
                break
        else:
            loose.append(update)
    return keep, loose

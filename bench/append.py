"""`append`: raw update-log throughput of SqliteStore (group commit), no server, no network."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pycrdt import Doc, Text

from .proc import ROOT, pin_self
from .stats import percentile

# `python -m bench` run from another directory. With --server-root, cli.py puts that tree first
# on sys.path before this module is imported, so the store measured is that tree's.
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from server.store.base import DocName
from server.store.sqlite import SqliteStore


@dataclass(frozen=True, slots=True)
class AppendParams:
    updates: int  # in total, over all producers
    producers: int
    window: int  # appends each producer keeps in flight (1: await each before the next)
    synchronous: str
    same_doc: bool


def make_updates(count: int, seed: int) -> list[bytes]:
    """``count`` real Yjs updates, each appending a few characters to one text."""
    doc: Doc[Any] = Doc()
    text = doc.get("bench", type=Text)
    out: list[bytes] = []
    for i in range(count):
        before = doc.get_state()
        text += f"{seed}:{i} "
        out.append(doc.get_update(before))
    return out


def remove_db(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


async def _producer(
    store: SqliteStore, name: DocName, updates: list[bytes], window: int, latencies: list[float]
) -> None:
    inflight: deque[tuple[float, asyncio.Future[None]]] = deque()
    for update in updates:
        if len(inflight) >= window:
            started, fut = inflight.popleft()
            await fut
            latencies.append(time.perf_counter() - started)
        inflight.append((time.perf_counter(), store.append(name, update)))
    while inflight:
        started, fut = inflight.popleft()
        await fut
        latencies.append(time.perf_counter() - started)


async def append_run(
    p: AppendParams, db: Path, cpus: frozenset[int] | None, restore: frozenset[int] | None
) -> dict[str, Any]:
    per = p.updates // p.producers
    t0 = time.perf_counter()
    # One list of real updates serves every producer: each appends it to its own document (or,
    # with same_doc, the copies are harmless duplicates), and the store never parses them.
    shared = make_updates(per, 0)
    batches = [shared] * p.producers
    gen_s = time.perf_counter() - t0
    names = [
        DocName("bench append" if p.same_doc else f"bench append {i}") for i in range(len(batches))
    ]
    total = per * p.producers
    # The store's writer thread (aiosqlite) inherits the affinity of the thread that starts it.
    pin_self(cpus)
    try:
        async with SqliteStore(db, synchronous=p.synchronous) as store:
            for name in set(names):
                await store.ensure(name)
            commits0 = store.commits
            latencies: list[float] = []
            cpu0 = os.times()
            t0 = time.perf_counter()
            await asyncio.gather(
                *(
                    _producer(store, name, batch, p.window, latencies)
                    for name, batch in zip(names, batches, strict=True)
                )
            )
            elapsed = time.perf_counter() - t0
            cpu1 = os.times()
            commits = store.commits - commits0
            stats = await store.log_stats(names[0])
    finally:
        pin_self(restore)
    remove_db(db)
    latencies.sort()
    ms = 1000.0

    def lat(q: float) -> float | None:
        v = percentile(latencies, q)
        return None if v is None else round(v * ms, 3)

    return {
        "updates": total,
        "producers": p.producers,
        "window": p.window,
        "synchronous": p.synchronous,
        "updates_per_s": round(total / elapsed, 1),
        "elapsed_s": round(elapsed, 3),
        "commits": commits,
        "updates_per_commit": round(total / commits, 2) if commits else None,
        "commit_latency_ms": {"p50": lat(0.5), "p99": lat(0.99), "max": lat(1.0)},
        "process_cpu_s": round((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system), 3),
        "mean_update_bytes": round(sum(len(u) for b in batches for u in b) / max(1, total), 1),
        "first_doc_log_rows": stats.rows,
        "generate_updates_s": round(gen_s, 3),
    }

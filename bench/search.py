"""`python -m bench.search`: full-text search on the SQLite store (issue 16). Builds 10,000
documents of 1,000 words each through the store's own indexing, then times a mix of queries
(p50/p99); and measures what indexing costs the commit path: appends/s with 64 writers, alone
and while documents are indexed at a far higher rate than editing causes (one 1,000-word
document every 50 ms), in the same process, in turns."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from .proc import ROOT

if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from server.search import query_words
from server.store.base import DocName
from server.store.sqlite import SqliteStore

# Common English words, a few rare ones, and accented ones: documents read like text.
COMMON = (
    "the of and to in is that for it as was with be by on not he this are or his from at which"
    " but have an they you were her she there been one all we their has would when if so no"
    " will can more about said up out what some them into only other time new could these two"
    " may first then do any like my now over such our man me even most made after also did"
    " many before must through back years where much your way well down should because each"
    " just those people how too little state good very make world still own see men work long"
    " get here between both life being under never day same another know while last might us"
    " great old year off come since against go came right used take three"
).split()
RARE = "collaborate résumé naïve café zephyr quokka fjord byzantine kumquat".split()


def document(rng: random.Random, words: int) -> str:
    chosen = [
        rng.choice(COMMON) if rng.random() > 0.002 else rng.choice(RARE) for _ in range(words)
    ]
    lines = [" ".join(chosen[i : i + 12]) for i in range(0, len(chosen), 12)]
    return "\n".join(lines)


QUERIES = ["coll", "quokka", "the", "people work", "resume cafe", "fjord time", "zeph", "byz"]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def build(store: SqliteStore, docs: int, words: int) -> float:
    rng = random.Random(7)
    t0 = time.perf_counter()
    for i in range(docs):
        name = DocName(f"doc {i}")
        await store.ensure(name)
        await store.index_text(name, f"Document {i}", document(rng, words))
    return time.perf_counter() - t0


async def query_latency(store: SqliteStore, rounds: int) -> dict[str, float]:
    times: list[float] = []
    for _ in range(rounds):
        for query in QUERIES:
            t0 = time.perf_counter()
            await store.search(query_words(query), 20)
            times.append(1000 * (time.perf_counter() - t0))
    return {
        "queries": len(times),
        "p50_ms": round(percentile(times, 0.5), 2),
        "p99_ms": round(percentile(times, 0.99), 2),
        "max_ms": round(max(times), 2),
    }


async def appends_per_second(store: SqliteStore, seconds: float, indexing: bool) -> float:
    names = [DocName(f"writer {i}") for i in range(64)]
    for name in names:
        await store.ensure(name)
    payload = b"\x01\x01\x00\x00\x04\x01\x01t\x01x\x00"
    count = 0
    stop = time.perf_counter() + seconds
    rng = random.Random(3)
    text = document(rng, 1000)

    async def writer(name: DocName) -> None:
        nonlocal count
        while time.perf_counter() < stop:
            await store.append(name, payload)
            count += 1

    async def indexer() -> None:
        i = 0
        while time.perf_counter() < stop:
            await store.index_text(names[i % 64], "Title", text)
            i += 1
            await asyncio.sleep(0.05)

    t0 = time.perf_counter()
    tasks = [writer(name) for name in names]
    if indexing:
        tasks.append(indexer())
    await asyncio.gather(*tasks)
    return count / (time.perf_counter() - t0)


async def main(args: argparse.Namespace) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="coedit-search-"))
    async with SqliteStore(work / "search.db") as store:
        built = await build(store, args.docs, args.words)
        latency = await query_latency(store, args.rounds)
    ratios: list[float] = []
    async with SqliteStore(work / "append.db") as store:
        alone: list[float] = []
        busy: list[float] = []
        for _ in range(args.runs):
            alone.append(await appends_per_second(store, args.seconds, indexing=False))
            busy.append(await appends_per_second(store, args.seconds, indexing=True))
            ratios.append(busy[-1] / alone[-1])
    return {
        "docs": args.docs,
        "words_per_doc": args.words,
        "build_s": round(built, 1),
        "search": latency,
        "appends_per_s_alone": round(statistics.median(alone)),
        "appends_per_s_while_indexing": round(statistics.median(busy)),
        "ratio_while_indexing": round(statistics.median(ratios), 3),
    }


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.search", description=__doc__)
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--words", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=50, help="rounds of the query mix")
    parser.add_argument("--runs", type=int, default=3, help="append measurements, in turns")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(main(args)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(run())

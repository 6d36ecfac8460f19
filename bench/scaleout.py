"""`python -m bench.scaleout`: what several instances cost (issue 14). Fan-out at 200 clients on
the SQLite single instance (the baseline), on one instance and on three instances sharing
PostgreSQL + Redis, medians of 3 runs each, interleaved so the machine's noise spreads evenly;
and appends/s with 64 in flight on PostgreSQL against SQLite, in the same process.

On this 2-core machine every instance, PostgreSQL and Redis share core 0 (the load generator
has core 1): this measures overhead, not scaling."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from .proc import ROOT, Loadgen, Server, placement

if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from server.store.base import DocName, DocumentStore
from server.store.postgres import PostgresStore
from server.store.sqlite import SqliteStore
from tests.pgproc import Postgres
from tests.redisproc import RedisProcess

CONFIGS = ("sqlite", "pg1", "pg3")


class Instance(Server):
    """A server started with extra flags (--store, --bus)."""

    def __init__(self, db: Path, log_path: Path, extra: list[str], **kwargs: Any) -> None:
        super().__init__(db, log_path, **kwargs)
        self.extra = extra

    def command(self) -> tuple[list[str], Path]:
        argv, cwd = super().command()
        return [*argv, *self.extra], cwd


def cpu_of(processes: list[psutil.Process]) -> float:
    total = 0.0
    for proc in processes:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def postgres_processes() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["username"]) if p.info["username"] == "postgres"]


async def fanout(
    config: str, run: int, pg: Postgres, redis: RedisProcess, work: Path, args: argparse.Namespace
) -> dict[str, Any]:
    where = placement()
    dsn = pg.new_database() if config != "sqlite" else ""
    count = 3 if config == "pg3" else 1
    servers: list[Instance] = []
    for i in range(count):
        extra = ["--store", dsn, "--bus", redis.url, "--instance-id", f"i{i}"] if dsn else []
        db = work / f"{config}-{run}.db"
        servers.append(Instance(db, work / f"{config}-{run}-{i}.log", extra, cpus=where.server))
    for server in servers:
        await server.start()
    assert redis.proc is not None
    others = [psutil.Process(redis.proc.pid)]
    lg = await Loadgen.start(
        {
            "mode": "fanout",
            "url": servers[0].ws_url,
            "urls": [s.ws_url for s in servers],
            "doc": f"scaleout {config} {run}",
            "clients": args.clients,
            "rate": args.rate,
            "duration": args.duration,
            "pad": 8,
            "syncTimeoutMs": 60_000,
            "stragglerMs": 10_000,
            "observers": 0,
            "deadlineMs": int((args.duration + 200) * 1000),
        },
        work / f"{config}-{run}.loadgen.log",
        where.loadgen,
    )
    try:
        await lg.expect("measure_start", timeout=90)
        pgs = postgres_processes()
        before = [s.cpu_seconds() for s in servers], cpu_of(others), cpu_of(pgs)
        t0 = time.perf_counter()
        await lg.expect("measure_end", timeout=args.duration + 70)
        window = time.perf_counter() - t0
        after = [s.cpu_seconds() for s in servers], cpu_of(others), cpu_of(pgs)
        await lg.expect("holding", timeout=120)
        await lg.send("continue")
        result = await lg.finish(timeout=60)
    finally:
        await lg.close()
        for server in servers:
            await server.stop()
    per_instance = [100 * (a - b) / window for a, b in zip(after[0], before[0], strict=True)]
    return {
        "config": config,
        "run": run,
        "delivered_pct": result["delivered_pct"],
        "p50_ms": result["latency_ms"]["p50"],
        "p99_ms": result["latency_ms"]["p99"],
        "cpu_pct_per_instance": [round(c, 1) for c in per_instance],
        "cpu_pct_instances": round(sum(per_instance), 1),
        "redis_cpu_pct": round(100 * (after[1] - before[1]) / window, 1) if dsn else 0.0,
        "postgres_cpu_pct": round(100 * (after[2] - before[2]) / window, 1) if dsn else 0.0,
    }


async def append_rate(
    make: Callable[[], DocumentStore], updates: int, in_flight: int
) -> dict[str, float]:
    """Appends/s with `in_flight` writers on as many documents, each awaiting its commit."""
    async with make() as store:
        names = [DocName(f"append {i}") for i in range(in_flight)]
        for name in names:
            await store.ensure(name)
        each = updates // in_flight
        payload = b"\x01\x01\x00\x00\x04\x01\x01t\x01x\x00"  # small, like a keystroke
        latencies: list[float] = []

        async def writer(name: DocName) -> None:
            for _ in range(each):
                started = time.perf_counter()
                await store.append(name, payload)
                latencies.append(time.perf_counter() - started)

        t0 = time.perf_counter()
        await asyncio.gather(*(writer(name) for name in names))
        elapsed = time.perf_counter() - t0
    latencies.sort()
    return {
        "appends_per_s": round(each * in_flight / elapsed),
        "commit_p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 2),
    }


def median(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


async def main(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="coedit-scaleout-"))
    pg, redis = Postgres(), RedisProcess()
    pg.start()
    redis.start()
    try:
        appends: dict[str, list[dict[str, float]]] = {"sqlite": [], "postgres": []}
        makers: dict[str, Callable[[], DocumentStore]] = {
            "sqlite": lambda: SqliteStore(work / f"append-{time.monotonic_ns()}.db"),
            "postgres": lambda: PostgresStore(pg.new_database()),
        }
        for _ in range(args.runs):
            for kind, make in makers.items():
                appends[kind].append(await append_rate(make, args.appends, 64))
        configs = [c for c in args.configs.split(",") if c in CONFIGS]
        runs: dict[str, list[dict[str, Any]]] = {c: [] for c in configs}
        for run in range(args.runs):
            for config in configs:
                outcome = await fanout(config, run, pg, redis, work, args)
                print(json.dumps(outcome), file=sys.stderr, flush=True)
                runs[config].append(outcome)
    finally:
        redis.close()
        pg.close()
    summary: dict[str, Any] = {"clients": args.clients, "runs": args.runs, "fanout": {}}
    for config, results in runs.items():
        summary["fanout"][config] = {
            key: median(results, key)
            for key in (
                "delivered_pct",
                "p50_ms",
                "p99_ms",
                "cpu_pct_instances",
                "redis_cpu_pct",
                "postgres_cpu_pct",
            )
        }
    if "pg1" in runs and "pg3" in runs:
        base = summary["fanout"]["pg1"]["cpu_pct_instances"]
        summary["cpu_3_over_1"] = round(summary["fanout"]["pg3"]["cpu_pct_instances"] / base, 2)
    summary["appends"] = {
        kind: {key: statistics.median(r[key] for r in rs) for key in rs[0]}
        for kind, rs in appends.items()
    }
    return summary


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scaleout", description=__doc__)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rate", type=float, default=2.0, help="edits per second per client")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--appends", type=int, default=64_000, help="appends per append run")
    parser.add_argument(
        "--configs", default=",".join(CONFIGS), help="which of " + ", ".join(CONFIGS)
    )
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(main(args)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(run())

"""What the keepalive costs: server CPU with many idle WebSockets pinged at the default interval,
against the same server pinging once an hour (the baseline), in the same run, alternating.

    python -m bench.keepalive [--clients 1000] [--seconds 20] [--rounds 2]

The clients are `websockets` connections in this process (their own keepalive off) that answer
the server's pings by themselves, spread over 100 documents and otherwise idle.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import websockets

from bench.proc import raise_nofile
from server.config import Settings
from tests.live import ServerProcess

BASELINE_INTERVAL = 3600.0


@contextlib.asynccontextmanager
async def idle_clients(server: ServerProcess, count: int) -> AsyncIterator[None]:
    async with contextlib.AsyncExitStack() as stack:
        for i in range(count):
            url = f"{server.ws}/ws/keepalive-{i % 100}"
            await stack.enter_async_context(websockets.connect(url, ping_interval=None))
        yield


async def cpu_share(interval: float, clients: int, seconds: float, db: Path) -> float:
    """Server CPU (fraction of one core) over `seconds` with `clients` idle connections."""
    server = ServerProcess(db, {"COEDIT_PING_INTERVAL_SECONDS": str(interval)})
    server.start()
    try:
        async with idle_clients(server, clients):
            await asyncio.sleep(3)  # past the joins and the first settle; a measurement window
            proc = psutil.Process(server.pid)
            before, start = proc.cpu_times(), time.monotonic()
            await asyncio.sleep(seconds)  # the measurement window itself
            after, wall = proc.cpu_times(), time.monotonic() - start
        return (after.user + after.system - before.user - before.system) / wall
    finally:
        server.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    raise_nofile()
    default = Settings().ping_interval_seconds
    shares: dict[float, list[float]] = {default: [], BASELINE_INTERVAL: []}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for interval in (BASELINE_INTERVAL, default):
                db = Path(tmp) / f"r{round_}-{interval}.db"
                shares[interval].append(await cpu_share(interval, args.clients, args.seconds, db))
    pinged = statistics.median(shares[default])
    baseline = statistics.median(shares[BASELINE_INTERVAL])
    print(
        json.dumps(
            {
                "clients": args.clients,
                "ping_interval_seconds": default,
                "pings_per_second": args.clients / default,
                "cpu_share_pinged": shares[default],
                "cpu_share_baseline": shares[BASELINE_INTERVAL],
                "extra_cpu_share": pinged - baseline,
                "ratio": pinged / baseline if baseline else None,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())

"""The fuzzer's soak run: `python -m bench.fuzz --seconds N --seed S` (`make fuzz-soak`).

The same engine and oracle as tests/test_fuzz.py, for as long as asked: one document after
another, each of FRAMES frames. Failures are minimized into tests/fuzz/corpus/ (whose replays
CI runs forever); the exit status is 1 when anything failed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from tests.fuzz.harness import run_seed


async def soak(seconds: float, seed: int, frames: int, minimize_seconds: float) -> int:
    deadline = time.monotonic() + seconds
    failed = 0
    while time.monotonic() < deadline:
        with tempfile.TemporaryDirectory(prefix="coedit-fuzz-") as tmp:
            print(f"fuzz seed {seed}", file=sys.stderr, flush=True)
            report = await run_seed(Path(tmp), seed, frames, minimize_seconds, keep_going=True)
            print(report.summary(), flush=True)
            failed += len(report.failures)
        seed += 1
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__)
    parser.add_argument("--seconds", type=float, default=600, help="how long to keep going")
    parser.add_argument("--seed", type=int, default=int(time.time()), help="first seed")
    parser.add_argument("--frames", type=int, default=20_000, help="frames per seed")
    parser.add_argument("--minimize-seconds", type=float, default=300)
    args = parser.parse_args()
    return asyncio.run(soak(args.seconds, args.seed, args.frames, args.minimize_seconds))


if __name__ == "__main__":
    raise SystemExit(main())

"""The fuzzer's CI tier (issue 11): fixed seeds against a live server, and the corpus replayed.

Both fail, with the oracle's findings in the message, while the server has a bug they reach.
The longer soak: `make fuzz-soak` (`python -m bench.fuzz --seconds N --seed S`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fuzz.harness import CORPUS, replay_file, run_seed

SEEDS = (1, 2, 3)
FRAMES_PER_SEED = 7_000  # >= 20,000 over the three seeds
# A failure is minimized into a corpus file before the test fails; bounded so CI stays in budget.
MINIMIZE_SECONDS = float(os.environ.get("COEDIT_FUZZ_MINIMIZE_SECONDS", "45"))


@pytest.mark.timeout(600)
@pytest.mark.parametrize("seed", SEEDS)
async def test_fuzz_seed(tmp_path: Path, seed: int) -> None:
    report = await run_seed(tmp_path, seed, FRAMES_PER_SEED, MINIMIZE_SECONDS)
    print(report.summary())
    assert not report.failures, report.summary()
    assert report.frames >= FRAMES_PER_SEED


@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.hexlog")), ids=lambda p: p.stem)
async def test_corpus_replay(tmp_path: Path, path: Path) -> None:
    report = await replay_file(tmp_path, path)
    print(f"corpus {path.name}: {report.summary()}")
    assert not report.failures, f"{path.name}:\n{report.summary()}"

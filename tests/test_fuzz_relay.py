"""The relay's fuzzer (tests/fuzz/relaydiff.py): what a reader gets from the relay, merged or
not, is what the server integrated; and the sequences of updates it found pycrdt failing on
(`tests/fuzz/corpus/*.hexlines`) replayed through the room's Integrator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.harness import CORPUS
from tests.fuzz.relaydiff import run

# 105: pycrdt's merge of deletion-only updates dropped a delete range listed out of order.
# 280: a struct cut next to collected clocks went elsewhere live than after a reload.
SEEDS = (105, 280, 1, 2, 3, 4, 5, 6, 7)
FRAMES = 2_500


@pytest.mark.timeout(300)
@pytest.mark.parametrize("seed", SEEDS)
def test_a_relayed_reader_holds_what_the_server_holds(seed: int) -> None:
    assert run(seed, FRAMES) is None


# pycrdt's heap damage shows in some runs only (the layout of the heap decides), so each file
# is replayed several times: without the fix seed 8's killed about two runs of three.
REPLAYS = 6


@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.hexlines")), ids=lambda p: p.stem)
def test_a_corpus_sequence_keeps_the_process_alive_and_reloads_equal(path: Path) -> None:
    for run_number in range(REPLAYS):
        result = subprocess.run(
            [sys.executable, "-m", "tests.fuzz.replay_updates", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert (result.returncode, result.stdout.strip()) == (0, "ok"), (
            f"run {run_number + 1}: exit {result.returncode}\n{result.stdout}{result.stderr[-999:]}"
        )

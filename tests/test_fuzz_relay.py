"""The relay's fuzzer (tests/fuzz/relaydiff.py): what a reader gets from the relay, merged or
not, is what the server integrated."""

from __future__ import annotations

import pytest

from tests.fuzz.relaydiff import run

# 105: pycrdt's merge of deletion-only updates dropped a delete range listed out of order.
SEEDS = (105, 1, 2, 3, 4, 5, 6, 7)
FRAMES = 2_500


@pytest.mark.timeout(300)
@pytest.mark.parametrize("seed", SEEDS)
def test_a_relayed_reader_holds_what_the_server_holds(seed: int) -> None:
    assert run(seed, FRAMES) is None

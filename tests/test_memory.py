"""Garbage-collector settings: what settle freezes, release collects."""

from __future__ import annotations

import gc
import re
import weakref
from collections.abc import Iterator

import pytest

from server import memory


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> weakref.ref[Node]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_settled_cycles_wait_for_release_which_settles_again(unfrozen: None) -> None:
    garbage = cycle()
    memory.settle()  # as if the cycle had been a connection when clients arrived
    assert gc.get_freeze_count() > 0
    gc.collect()
    assert garbage() is not None, "full collections no longer walk settled objects"
    memory.release()
    assert garbage() is None
    assert gc.get_freeze_count() > 0, "what survived is settled again"


def test_unsettled_cycles_are_collected_as_usual(unfrozen: None) -> None:
    garbage = cycle()
    gc.collect()
    assert garbage() is None


def test_usage_counts_what_the_process_holds() -> None:
    before = memory.usage()
    held = [object() for _ in range(50_000)]
    during = memory.usage()
    assert during.python_blocks >= before.python_blocks + 50_000
    if before.malloc_used is not None and during.malloc_used is not None:
        big = bytearray(8 << 20)  # over the mmap threshold: malloc's, not Python's arenas
        assert memory.usage().malloc_used >= during.malloc_used + (8 << 20)  # type: ignore[operator]
        del big
    assert during.rss > 0
    del held
    assert memory.usage().python_blocks < during.python_blocks - 40_000


def test_release_logs_what_stays(unfrozen: None, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="coedit.memory"):
        memory.release()
    (line,) = [r.getMessage() for r in caplog.records if "memory released" in r.getMessage()]
    assert re.search(r"rss [\d.]+ MiB, \d+ Python blocks, malloc [\d.]+ MiB in use", line)

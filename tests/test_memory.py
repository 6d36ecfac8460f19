"""Garbage-collector settings: what settle freezes, release collects."""

from __future__ import annotations

import gc
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

"""The clocks of a document's text that fall inside a surrogate pair (an emoji), per client,
in sorted arrays: a document's worth of them costs no Python object each (a set of ints did,
and the fuzzer's memory oracle counted them)."""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable

__all__ = ["Pairs"]

_CLOCK_MASK = (1 << 31) - 1  # the clock of a yupdate.id_key


class Pairs:
    def __init__(self) -> None:
        self._clocks: dict[int, array[int]] = {}

    def __bool__(self) -> bool:
        return bool(self._clocks)

    def add(self, keys: Iterable[int]) -> None:
        """Add clocks given as yupdate.id_keys."""
        new: dict[int, set[int]] = {}
        for key in keys:
            new.setdefault(key >> 31, set()).add(key & _CLOCK_MASK)
        for client, clocks in new.items():
            have = self._clocks.get(client)
            merged = clocks.union(have) if have is not None else clocks
            self._clocks[client] = array("L", sorted(merged))

    def any_of(self, keys: Iterable[int]) -> bool:
        """Whether any of these yupdate.id_keys is held."""
        for key in keys:
            clocks = self._clocks.get(key >> 31)
            if clocks is not None:
                clock = key & _CLOCK_MASK
                index = bisect.bisect_left(clocks, clock)
                if index < len(clocks) and clocks[index] == clock:
                    return True
        return False

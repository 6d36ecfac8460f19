"""Process-wide memory settings: freed memory back to the system (glibc), garbage collection.

Imports only ctypes and gc; the process-wide calls live here so the rest of the code stays
portable.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import os
import sys
from dataclasses import dataclass

log = logging.getLogger("coedit.memory")

_M_ARENA_MAX = -8


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


_LIBC = _libc()


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


_MALLINFO2 = getattr(_LIBC, "mallinfo2", None)
if _MALLINFO2 is not None:
    _MALLINFO2.restype = _Mallinfo2
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class Usage:
    """Where the process's memory is: what the server holds, and what allocators keep.

    `python_blocks` counts live Python allocations (every object the server holds, however
    small); `malloc_used` is what C and Rust code (pycrdt, SQLite, buffers) hold through
    malloc; `malloc_free` is freed memory glibc keeps in its heaps. The rest of `rss` is code,
    and arenas of the Python allocator that one surviving object among freed ones keeps
    (it never moves objects): allocator retention, not anything the server holds.
    """

    rss: int
    python_blocks: int
    malloc_used: int | None
    malloc_free: int | None

    def __str__(self) -> str:
        mib = 1 << 20
        text = f"rss {self.rss / mib:.1f} MiB, {self.python_blocks} Python blocks"
        if self.malloc_used is not None and self.malloc_free is not None:
            text += (
                f", malloc {self.malloc_used / mib:.1f} MiB in use"
                f" and {self.malloc_free / mib:.1f} MiB free"
            )
        return text


def usage() -> Usage:
    try:
        with open("/proc/self/statm", "rb") as statm:
            rss = int(statm.read().split()[1]) * _PAGE
    except OSError:  # not Linux: the other numbers still tell
        rss = 0
    used = free = None
    if _MALLINFO2 is not None:
        info = _MALLINFO2()
        used, free = info.uordblks + info.hblkhd, info.fordblks
    return Usage(rss, sys.getallocatedblocks(), used, free)


def limit_arenas(count: int = 2) -> None:
    """Fewer malloc arenas: each thread (SQLite, executors) would otherwise keep its own heap."""
    if _LIBC is not None and _LIBC.mallopt(_M_ARENA_MAX, count) != 1:
        log.debug("mallopt(M_ARENA_MAX) was refused")


def quiet_panics() -> None:
    """No Rust backtraces for pycrdt's panics, whatever the environment says.

    The server catches each panic (a trial on a copy refuses the update), but with
    RUST_BACKTRACE=1 the first one loads the native library's symbol tables to print its
    stack and keeps them for good: 36.7 MiB more in use after a single refused update, which
    the fuzzer's memory oracle read as a leak (soak seed 73). The panic's message is still
    logged; a backtrace comes from replaying the update offline."""
    os.environ["RUST_BACKTRACE"] = "0"


def settle() -> None:
    """Exempt every object alive now from future garbage collections (gc.freeze).

    A full collection walks every object it tracks and stops the event loop meanwhile: 30-60 ms
    with 2,000 clients connected, every few seconds, long enough to hold up all their edits.
    Called at startup and after connections arrive, so that what stays (connections, documents,
    modules) is walked no more; freed objects are still freed at once by reference counting.
    Only garbage in reference cycles waits, frozen, for the next `release`.
    """
    gc.freeze()


def release(held: int = 0, held_bytes: int = 0) -> None:
    """Collect all garbage, frozen too, and return free heap pages to the system; e.g. after
    idle documents were unloaded or many clients left (closed connections leave reference
    cycles). What survives is settled again. `held`: updates the open documents hold back
    for missing predecessors (bounded per document) and their size, said with the usage."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
    # Operators (and the fuzzer's oracle) tell a leak from allocator retention by this line.
    log.info(
        "memory released: %s, %d held updates (%.1f MiB)", usage(), held, held_bytes / (1 << 20)
    )

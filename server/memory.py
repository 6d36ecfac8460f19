"""Process-wide memory settings: freed memory back to the system (glibc), garbage collection.

Imports only ctypes and gc; the process-wide calls live here so the rest of the code stays
portable.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging

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


def limit_arenas(count: int = 2) -> None:
    """Fewer malloc arenas: each thread (SQLite, executors) would otherwise keep its own heap."""
    if _LIBC is not None and _LIBC.mallopt(_M_ARENA_MAX, count) != 1:
        log.debug("mallopt(M_ARENA_MAX) was refused")


def tune_gc() -> None:
    """Shorter garbage-collector pauses, which stop the event loop.

    With thousands of connections a full collection walks every live object (75-125 ms at
    2,000 clients, nothing relayed meanwhile). What exists at startup (modules, functions,
    settings) lives as long as the process: frozen, the collector never walks it again.
    (Rarer collections were tried too: they cost more memory than the latency they saved.)
    """
    gc.freeze()


def release() -> None:
    """Collect garbage and return free heap pages to the system, e.g. after idle documents
    were unloaded (closed connections leave reference cycles in the oldest generation, which
    CPython collects only after many younger collections)."""
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)

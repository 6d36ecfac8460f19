"""Giving freed memory back to the operating system (glibc only; a no-op elsewhere).

Imports only ctypes; the process-wide calls live here so the rest of the code stays portable.
"""

from __future__ import annotations

import ctypes
import ctypes.util
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


def release() -> None:
    """Return free heap pages to the system, e.g. after idle documents were unloaded."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)

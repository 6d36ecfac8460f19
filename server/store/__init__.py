"""Public face of the storage layer (interface, types, both stores); owns no logic and must not
import anything outside server.store."""

from __future__ import annotations

from server.store.base import (
    DocInfo,
    DocName,
    DocumentNotFound,
    DocumentStore,
    DocumentTrashed,
    LogStats,
    StoredDoc,
    StoreError,
)
from server.store.memory import MemoryStore
from server.store.sqlite import SqliteStore

__all__ = [
    "DocInfo",
    "DocName",
    "DocumentNotFound",
    "DocumentStore",
    "DocumentTrashed",
    "LogStats",
    "MemoryStore",
    "SqliteStore",
    "StoreError",
    "StoredDoc",
]

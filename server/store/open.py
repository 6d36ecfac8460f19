"""Which store a server runs on: PostgreSQL when given its address (several instances may
share it), else the SQLite file (one machine, nothing to set up)."""

from __future__ import annotations

from pathlib import Path

from server.store.base import Fold
from server.store.postgres import PostgresStore
from server.store.sqlite import SqliteStore


def open_store(
    address: str, db: Path, *, synchronous: str = "FULL", fold: Fold | None = None
) -> SqliteStore | PostgresStore:
    """The store to enter (`async with`): `address` is a postgresql:// address or empty."""
    if address:
        return PostgresStore(address, fold=fold)
    return SqliteStore(db, synchronous=synchronous, fold=fold)

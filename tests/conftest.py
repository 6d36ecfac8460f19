"""Fixtures shared by the server tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from server.config import Settings
from tests import inproc
from tests.live import ServerProcess
from tests.pgproc import Postgres


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A real server on an ephemeral port with a fresh SQLite file."""
    proc = ServerProcess(tmp_path / "coedit.db")
    proc.start()
    try:
        yield proc
    finally:
        proc.kill()


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Starlette]:
    """The application in process (open mode, a fresh SQLite file), its store and rooms open."""
    async with inproc.running(Settings(db=tmp_path / "coedit.db")) as app:
        yield app


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP requests to `app`, in process."""
    async with inproc.client(app) as http:
        yield http


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A throwaway PostgreSQL for the whole run (tests/pgproc.py); each test takes a fresh
    database from it with `new_database()`."""
    pg = Postgres()
    pg.start()
    try:
        yield pg
    finally:
        pg.close()

"""Fixtures shared by the server tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import ServerProcess


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A real server on an ephemeral port with a fresh SQLite file."""
    proc = ServerProcess(tmp_path / "coedit.db")
    proc.start()
    try:
        yield proc
    finally:
        proc.kill()

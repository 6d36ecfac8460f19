"""A throwaway PostgreSQL for tests: Debian's binaries, `initdb` as the `postgres` user (it
refuses root) in a temporary directory, a free port, fsync off (process kills keep the OS's
pages), one fresh database per test; stopped with `pg_ctl -m immediate`."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.redisproc import free_port


def pg_bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        message = "PostgreSQL is not installed (make setup installs it: scripts/ensure-services)"
        if os.environ.get("COEDIT_SERVICES_REQUIRED") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return Path(found[-1]).parent


class Postgres:
    def __init__(self) -> None:
        self.bin = pg_bindir()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="coedit-pg-"))
        self.data = self.root / "data"
        self._databases = 0
        user = pwd.getpwnam("postgres")
        os.chown(self.root, user.pw_uid, user.pw_gid)
        self._as_postgres(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "coedit",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        )

    def _as_postgres(self, tool: str, *args: str) -> None:
        argv = ["runuser", "-u", "postgres", "--", str(self.bin / tool), *args]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr}{done.stdout}")

    @property
    def base(self) -> str:
        return f"postgresql://coedit@127.0.0.1:{self.port}"

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c synchronous_commit=on -c max_connections=300 -c full_page_writes=off"
        )
        log = str(self.root / "log")
        self._as_postgres("pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "start")

    def stop(self) -> None:
        self._as_postgres("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: what an operator's restart does (a second or two)."""
        log = str(self.root / "log")
        self._as_postgres("pg_ctl", "-D", str(self.data), "-l", log, "-m", "fast", "-w", "restart")

    def new_database(self) -> str:
        """A fresh empty database; returns its address."""
        self._databases += 1
        name = f"t{self._databases}"
        done = subprocess.run(
            [
                str(self.bin / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "coedit",
                "-d",
                "postgres",
                "-c",
                f"CREATE DATABASE {name}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"CREATE DATABASE failed: {done.stderr}")
        return f"{self.base}/{name}"

    def close(self) -> None:
        # Already stopped when a test stopped it and failed before starting it again.
        with contextlib.suppress(RuntimeError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

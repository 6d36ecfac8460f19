"""Runs a real Coedit server process (real uvicorn, real SQLite file) for live tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What the server prints once it accepts connections (the only way to learn an ephemeral port).
READY = re.compile(r"coedit listening on (http://([\d.]+):(\d+))")
START_DEADLINE = 30.0
STOP_DEADLINE = 20.0


def serve_argv(db: Path, args: Sequence[str] = (), python: str = sys.executable) -> list[str]:
    """How every test, browser test and benchmark runs the server: 127.0.0.1, a port the kernel
    picks, this SQLite file."""
    serve = [python, "-m", "server", "serve", "--host", "127.0.0.1", "--port", "0"]
    return [*serve, "--db", str(db), *args]


class ServerProcess:
    """One `python -m server serve` child; restartable on the same database file. Its stderr is
    kept in `log` (and copied to `log_path` when given) for assertions and failure reports."""

    def __init__(
        self,
        db: Path,
        env: Mapping[str, str] | None = None,
        *,
        args: Sequence[str] = (),
        log_path: Path | None = None,
    ) -> None:
        self.db = db
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.args = list(args)
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = ""
        self.log: list[str] = []
        self._pump: threading.Thread | None = None

    @property
    def url(self) -> str:
        return self.http

    @property
    def ws(self) -> str:
        return self.http.replace("http://", "ws://", 1)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self, lines: int = 200) -> str:
        return "\n".join(self.log[-lines:])

    def start(self) -> str:
        """Start and wait until it listens; returns its base URL."""
        assert not self.running, "server already running"
        self.http = ""
        self.proc = subprocess.Popen(
            serve_argv(self.db, self.args),
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert self.proc.stderr is not None
        ready = threading.Event()
        stderr = self.proc.stderr
        sink = None if self.log_path is None else self.log_path.open("a", encoding="utf-8")

        def pump() -> None:
            # Keep draining stderr so the server never blocks on a full pipe.
            try:
                for raw in stderr:
                    line = raw.decode(errors="replace").rstrip()
                    self.log.append(line)
                    if sink is not None:
                        sink.write(line + "\n")
                        sink.flush()
                    match = READY.search(line)
                    if match and not ready.is_set():
                        self.http = match.group(1)
                        ready.set()
            finally:
                if sink is not None:
                    sink.close()

        self._pump = threading.Thread(target=pump, daemon=True)
        self._pump.start()
        deadline = time.monotonic() + START_DEADLINE
        while not ready.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                code = self.proc.poll()
                self.kill()
                raise RuntimeError(f"server did not start (exit code {code}):\n{self.log_text()}")
        return self.http

    def stop(self, timeout: float = STOP_DEADLINE) -> int:
        """Graceful stop (SIGTERM); returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(f"server ignored SIGTERM for {timeout} s") from None
        self._join_pump()
        return code

    def kill(self) -> None:
        """Crash (SIGKILL)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._join_pump()

    def restart(self) -> None:
        self.stop()
        self.start()

    def _join_pump(self) -> None:
        if self._pump is not None:
            self._pump.join(5)

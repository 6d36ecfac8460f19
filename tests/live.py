"""Runs a real Coedit server process (real uvicorn, real SQLite file) for live tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(rb"coedit listening on (http://[\d.]+:\d+)")
START_DEADLINE = 20.0


class ServerProcess:
    """One `python -m server serve` child; restartable on the same database file."""

    def __init__(self, db: Path, env: dict[str, str] | None = None) -> None:
        self.db = db
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = ""
        self.log: list[str] = []

    @property
    def ws(self) -> str:
        return self.http.replace("http://", "ws://", 1)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        cmd = [sys.executable, "-m", "server", "serve", "--host", "127.0.0.1", "--port", "0"]
        cmd += ["--db", str(self.db)]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stderr=subprocess.PIPE)
        assert self.proc.stderr is not None
        ready = threading.Event()
        stderr = self.proc.stderr

        def pump() -> None:
            # Keep draining stderr so the server never blocks on a full pipe.
            for line in stderr:
                self.log.append(line.decode(errors="replace").rstrip())
                match = READY.search(line)
                if match and not ready.is_set():
                    self.http = match.group(1).decode()
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + START_DEADLINE
        while not ready.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("server did not start:\n" + "\n".join(self.log))

    def stop(self, timeout: float = 20.0) -> int:
        """Graceful stop (SIGTERM); returns the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()

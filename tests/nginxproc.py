"""nginx in front of several instances, configured with the README's own block (so that what
users copy is what the tests run), on free ports; stopped by its PID."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.redisproc import free_port

ROOT = Path(__file__).resolve().parent.parent
START_DEADLINE = 10.0


def readme_block() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- nginx-begin -->\n```nginx\n(.*?)```\n<!-- nginx-end -->", text, re.S)
    assert match, "README.md lost its nginx block"
    return match.group(1)


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None
    )
    if found is None:
        message = "nginx is not installed (make setup installs it: scripts/ensure-services)"
        if os.environ.get("COEDIT_SERVICES_REQUIRED") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return found


class NginxProcess:
    def __init__(self, upstream_ports: Sequence[int]) -> None:
        self.binary = nginx_binary()
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="coedit-nginx-"))
        block = readme_block()
        for default, port in zip((8001, 8002, 8003), upstream_ports, strict=True):
            block = block.replace(f"127.0.0.1:{default}", f"127.0.0.1:{port}")
        block = block.replace("listen 8080;", f"listen 127.0.0.1:{self.port};")
        temp = self.dir / "tmp"
        temp.mkdir()
        (self.dir / "nginx.conf").write_text(
            f"""daemon off;
user root;
worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
{block}
}}
""",
            encoding="utf-8",
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        conf = self.dir / "nginx.conf"
        self.proc = subprocess.Popen(
            [self.binary, "-p", str(self.dir), "-c", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + START_DEADLINE
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                errors = self.dir / "error.log"
                log = errors.read_text(errors="replace") if errors.exists() else ""
                raise RuntimeError(f"nginx did not start (exit {self.proc.poll()}): {log}")
            time.sleep(0.05)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)

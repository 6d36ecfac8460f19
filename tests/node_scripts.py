"""Running the Node scripts in tests/fixtures, which check Python against the browser's code."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def run_node_script(script: str, payload: Any = None, *, needs: str, runs: str) -> Any:
    """The JSON `script` prints, given `payload` as JSON on stdin; the test fails if Node or the
    package `needs` (from node_modules) is missing, or if the script fails."""
    if shutil.which("node") is None or not (ROOT / "node_modules" / needs).is_dir():
        pytest.fail(
            f"this test runs {runs} in Node: it needs `node` (20+) and the repo's "
            "node_modules (`npm ci`, done by `make test`)"
        )
    proc = subprocess.run(
        ["node", str(FIXTURES / script)],
        input=b"" if payload is None else json.dumps(payload).encode(),
        capture_output=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"{script} failed:\n{proc.stderr.decode()}")
    return json.loads(proc.stdout)

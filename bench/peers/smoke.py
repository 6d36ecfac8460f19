"""``python -m bench.peers.smoke [--targets all]``: does every target really sync and store?

A few seconds per target, through the same code as the benchmark (one run each, no waiting for
an idle machine): ``fanout`` with 2 clients (every edit of each must reach the other, and a fresh
client must find all of them in the document) and a small ``cold_load`` (write 20 updates, stop
the server with SIGTERM, start it again on the same storage, and a new client must get exactly
the text that was written). Prints one line per target and check; exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path
from typing import Any

from . import COEDIT


def checks(document: Mapping[str, Any]) -> list[tuple[str, str, bool, str]]:
    """(target, check, passed, detail) for every target in a bench JSON document."""
    out: list[tuple[str, str, bool, str]] = []
    sources: dict[str, Mapping[str, Any]] = {COEDIT: document.get("results", {})}
    sources.update(document.get("peers", {}))
    for target, results in sources.items():
        if not results:
            continue
        for scenario, label in (
            ("fanout", "2 clients see each other's edits"),
            ("cold_load", "a restart keeps the document"),
        ):
            entries = results.get(scenario) or [{}]
            entry = entries[0]
            median = entry.get("median") or {}
            runs = entry.get("runs") or [{}]
            error = runs[0].get("error") if isinstance(runs[0], Mapping) else None
            if scenario == "fanout":
                final = median.get("final_doc") or {}
                ok = median.get("delivered_pct") == 100 and final.get("edits_missing") == 0
                detail = (
                    f"delivered {median.get('delivered')}/{median.get('expected_deliveries')}, "
                    f"missing at end {final.get('edits_missing')}"
                )
            else:
                ok = bool(median.get("text_ok_yjs")) and bool(median.get("text_ok_pycrdt"))
                detail = (
                    f"text ok {median.get('text_ok_yjs')}, {median.get('text_length')} "
                    f"characters, fully synced in {median.get('fully_synced_ms')} ms"
                )
            if error:
                ok, detail = False, str(error).splitlines()[0][:200]
            out.append((target, label, ok, detail))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peers.smoke", description=__doc__)
    parser.add_argument("--targets", default="all")
    parser.add_argument("--server-root", help="passed on to python -m bench")
    args = parser.parse_args(argv)
    from ..cli import main as bench_main

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "smoke.json"
        bench_args = [
            "fanout",
            "cold_load",
            "--targets",
            args.targets,
            "--runs",
            "1",
            "--retries",
            "0",
            "--quiet-wait",
            "0",
            "--clients",
            "2",
            "--duration",
            "1",
            "--straggler",
            "5",
            "--edits",
            "200",
            "--updates",
            "20",
            "--json",
            str(out),
        ]
        if args.server_root:
            bench_args += ["--server-root", args.server_root]
        with redirect_stdout(StringIO()):
            bench_main(bench_args)
        if not out.is_file():
            print("the bench wrote no result", file=sys.stderr)
            return 1
        document = json.loads(out.read_text(encoding="utf-8"))
    results = checks(document)
    for target, label, ok, detail in results:
        print(f"{'PASS' if ok else 'FAIL'}  {target:<11} {label}: {detail}")
    return 0 if results and all(ok for *_, ok, _ in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())

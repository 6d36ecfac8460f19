"""The benchmark's comparison with other servers: target parsing, ratios, the RESULTS.md block.

Pure functions only; the peers themselves are exercised by `python -m bench.peers.smoke`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import report
from bench.peers import TARGETS, parse_targets
from bench.peers.compare import compare_entries, comparison
from bench.peers.tables import BEGIN, END, render, update
from bench.proc import BenchError


def entry(median: dict[str, Any] | None, *, error: str | None = None) -> dict[str, Any]:
    runs: list[dict[str, Any]] = [{"error": error}] if error else [dict(median or {})]
    return {
        "params": {"clients": 2},
        "runs_ok": 0 if error else 1,
        "runs_failed": 1 if error else 0,
        "median": median,
        "runs": runs,
    }


def test_parse_targets() -> None:
    assert [t.name for t in parse_targets("all")] == list(TARGETS)
    assert [t.name for t in parse_targets("coedit, hocuspocus,coedit")] == [
        "coedit",
        "hocuspocus",
    ]
    with pytest.raises(BenchError):
        parse_targets("coedit,nope")


def test_ratios_are_coedit_over_peer_and_failures_are_data() -> None:
    variant = compare_entries(
        "fanout",
        {
            "coedit": entry({"latency_ms": {"p99": 5.0}, "delivered_pct": 100}),
            "hocuspocus": entry({"latency_ms": {"p99": 20.0}, "delivered_pct": 50}),
            "pycrdt-ws": entry(None, error="server exited with 1\ntraceback"),
        },
    )
    rows = {row["metric"]: row for row in variant["metrics"]}
    assert rows["latency_ms.p99"]["coedit_over_peer"] == {"hocuspocus": 0.25, "pycrdt-ws": None}
    assert rows["delivered_pct"]["coedit_over_peer"]["hocuspocus"] == 2.0
    # counts of problems get no ratio
    assert "coedit_over_peer" not in rows["final_doc.edits_missing"]
    assert variant["status"] == {
        "coedit": "ok",
        "hocuspocus": "ok",
        "pycrdt-ws": "failed: server exited with 1",
    }


def test_comparison_matches_variants_and_renders() -> None:
    targets = parse_targets("coedit,ywebsocket")
    results = {"storm": [entry({"time_to_all_synced_s": 1.0})]}
    peers = {"ywebsocket": {"storm": [entry({"time_to_all_synced_s": 4.0})]}}
    compared = comparison(results, peers, targets)
    document = {
        "meta": {"runs": 3, "machine": {"cpus": 2}, "pinning": {"server": [0]}},
        "results": results,
        "comparison": compared,
    }
    (variant,) = compared["storm"]
    assert variant["metrics"][0]["coedit_over_peer"] == {"ywebsocket": 0.25}
    text = render(document)
    assert "| time until all synced, s ↓ | 1.00 | 4.00 (0.25) |" in text


def test_update_replaces_only_the_marked_block(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text("# Results\n\nwritten by hand\n", encoding="utf-8")
    update(results, "first")
    update(results, "second")
    text = results.read_text(encoding="utf-8")
    assert text.startswith("# Results\n\nwritten by hand\n")
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    assert "second" in text and "first" not in text


def fanout_entry(clients: int, p99: float, delivered: float = 100) -> dict[str, Any]:
    return {
        "params": {"clients": clients},
        "median": {"latency_ms": {"p99": p99}, "delivered_pct": delivered},
    }


def test_fanout_capacity_is_the_largest_n_before_the_first_miss() -> None:
    from bench.peers.compare import fanout_capacity
    from bench.peers.tables import capacity_table

    results = {"fanout": [fanout_entry(n, p) for n, p in ((800, 30), (400, 9), (1200, 150))]}
    never_missed = {"fanout": [fanout_entry(n, 5) for n in (400, 800, 1200)]}
    peers = {
        "hocuspocus": {
            "fanout": [
                fanout_entry(400, 5),
                fanout_entry(800, 50, delivered=99.5),  # late is not enough: all must arrive
                fanout_entry(1200, 60),
            ]
        }
    }
    capacity = fanout_capacity(results, peers)
    assert capacity["coedit"]["largest_n"] == 800
    assert capacity["hocuspocus"]["largest_n"] == 400
    assert capacity["hocuspocus"]["p99_ms"] == {400: 5.0, 800: None, 1200: 60.0}
    text = "\n".join(capacity_table({"results": results, "peers": peers}))
    assert "| 800 | 30.0 | failed |" in text
    assert "| **largest N** | 800 | 400 (Coedit ÷ this: 2.00) |" in text
    # A target that never missed gets a lower bound, and no ratio is claimed from it.
    peers = {"ywebsocket": never_missed}
    text = "\n".join(capacity_table({"results": results, "peers": peers}))
    assert "| **largest N** | 800 | ≥ 1,200 |" in text
    two_sizes = {"fanout": never_missed["fanout"][:2]}
    assert not capacity_table({"results": two_sizes, "peers": {}})


def test_one_command_reports_medians_and_comparison(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = {"storm": [entry({"clients": 3, "time_to_all_synced_s": 1.0})]}
    document = {
        "meta": {"runs": 1, "targets": {"coedit": {}, "ywebsocket": {}}},
        "results": results,
        "peers": {"ywebsocket": {"storm": [entry({"time_to_all_synced_s": 4.0})]}},
    }
    saved = tmp_path / "bench.json"
    saved.write_text(json.dumps(document), encoding="utf-8")
    md = tmp_path / "RESULTS.md"
    md.write_text(f"# Results\n\n{BEGIN}\nold\n{END}\n", encoding="utf-8")

    assert report.main([str(saved), "--update", str(md)]) == 0
    printed = capsys.readouterr().out
    assert "\n### storm\n" in printed and "| 3 | 1.00 |" in printed  # Coedit's medians
    assert "| time until all synced, s ↓ | 1.00 | 4.00 (0.25) |" in printed  # the comparison
    written = md.read_text(encoding="utf-8")
    assert "\nold\n" not in written and "4.00 (0.25)" in written and "\n### storm\n" not in written

    del document["peers"]
    saved.write_text(json.dumps(document), encoding="utf-8")
    assert report.main([str(saved)]) == 0  # Coedit alone: its medians, nothing to compare
    assert report.main([str(saved), "--update", str(md)]) == 1

"""``python -m bench.report RESULTS.json [--update bench/RESULTS.md]``: a bench result as Markdown.

Prints the tables of Coedit's medians, then, when the file holds runs of the peers
(``python -m bench --targets ...``), the comparison with them (``bench/peers/tables.py``). With
``--update FILE`` the comparison also replaces what is between the markers
``<!-- peers:begin -->`` and ``<!-- peers:end -->`` in FILE (appended with the markers if
absent), so the rest of RESULTS.md stays as written.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any


def lookup(data: Mapping[str, Any] | None, path: str) -> Any:
    """`data["a"]["b"]` for the path "a.b"; None where any step is missing."""
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def fmt(value: Any) -> str:
    """A number as the tables show it: three significant digits, thousands separated."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, Mapping) and "per_run" in value:
        return " / ".join(fmt(v) for v in value["per_run"])
    return str(value)


Column = tuple[str, Callable[[Mapping[str, Any]], Any]]


def _col(title: str, path: str) -> Column:
    return (title, lambda m: lookup(m, path))


def _table(entries: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> list[str]:
    lines = [
        "| " + " | ".join(title for title, _ in columns) + " |",
        "| " + " | ".join("---" for _ in columns) + " |",
    ]
    for entry in entries:
        median = entry.get("median") or {}
        cells = [fmt(fn(median)) for _, fn in columns]
        if entry.get("runs_failed"):
            cells[0] += f" ({entry['runs_failed']} failed)"
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _stored(m: Mapping[str, Any]) -> str:
    stored = m.get("stored_at_load") or {}
    if not isinstance(stored, Mapping) or "error" in stored:
        return "?"
    rows = fmt(stored.get("log_rows_counted"))
    return f"snapshot {fmt(stored.get('snapshot_bytes'))} B + {rows} rows"


SECTIONS: dict[str, list[Column]] = {
    "fanout": [
        _col("clients", "clients"),
        _col("delivered %", "delivered_pct"),
        _col("p50 ms", "latency_ms.p50"),
        _col("p95 ms", "latency_ms.p95"),
        _col("p99 ms", "latency_ms.p99"),
        _col("max ms", "latency_ms.max"),
        _col("server CPU s", "server_cpu_s"),
        _col("% of a core", "server_cpu_pct_of_one_core"),
        _col("server RSS MB", "server_rss_mb"),
        _col("edits missing at end", "final_doc.edits_missing"),
        _col("others on CPU 0 %", "others_on_server_cpu_pct"),
    ],
    "cold_load": [
        _col("updates", "updates"),
        ("stored at load", _stored),
        _col("fully synced ms", "fully_synced_ms"),
        _col("step 2 received ms", "step2_received_ms"),
        _col("Yjs apply ms", "apply_ms_yjs_node"),
        _col("pycrdt apply ms", "apply_ms_pycrdt"),
        _col("step 2 bytes", "step2_bytes"),
        _col("text ok", "text_ok_yjs"),
        _col("other docs stalled, max ms", "bystander_during_load.max_ms"),
        _col("server CPU s", "server_cpu_s_for_load"),
        _col("RSS after MB", "server_rss_mb_after_load"),
        _col("write updates/s", "write.updates_per_s"),
    ],
    "storm": [
        _col("clients", "clients"),
        _col("all synced s", "time_to_all_synced_s"),
        _col("p50 ms", "per_client_sync_ms.p50"),
        _col("p99 ms", "per_client_sync_ms.p99"),
        _col("open→synced p99 ms", "per_client_open_to_synced_ms.p99"),
        _col("failures", "failures"),
        _col("server CPU s", "server_cpu_s"),
        _col("server RSS MB", "server_rss_mb"),
        _col("other docs stalled, max ms", "bystander.max_ms"),
        _col("loadgen socket creation ms", "create_sockets_ms"),
        _col("others on CPU 0 %", "others_on_server_cpu_pct"),
    ],
    "many_docs": [
        _col("docs", "docs"),
        _col("RSS idle MB", "server_rss_mb_baseline"),
        _col("r1 synced MB", "round1.server_rss_mb_synced"),
        _col("r1 unloaded MB", "round1.server_rss_mb_unloaded"),
        _col("r2 synced MB", "round2.server_rss_mb_synced"),
        _col("r2 unloaded MB", "round2.server_rss_mb_unloaded"),
        _col("r3 synced MB", "round3.server_rss_mb_synced"),
        _col("r3 unloaded MB", "round3.server_rss_mb_unloaded"),
        _col("rooms left", "round1.rooms_left"),
        _col("unloaded after s", "round1.rooms_unloaded_after_s"),
        _col("r1 all synced s", "round1.all_synced_s"),
        _col("pairs failed", "round1.pairs_failed"),
    ],
    "append": [
        _col("window", "window"),
        _col("synchronous", "synchronous"),
        _col("updates/s", "updates_per_s"),
        _col("commits", "commits"),
        _col("updates/commit", "updates_per_commit"),
        _col("latency p50 ms", "commit_latency_ms.p50"),
        _col("latency p99 ms", "commit_latency_ms.p99"),
        _col("CPU s", "process_cpu_s"),
        _col("elapsed s", "elapsed_s"),
    ],
}


def render(document: Mapping[str, Any]) -> str:
    meta = document.get("meta", {})
    machine = meta.get("machine", {})
    lines = [
        f"Date: {meta.get('date')}; machine: {machine.get('cpus')} CPUs "
        f"({machine.get('cpu_model', machine.get('processor'))}), "
        f"{round(machine.get('mem_total_kb', 0) / 1024 / 1024)} GiB, {machine.get('platform')}; "
        f"Python {machine.get('python')}, Node {meta.get('node', '-')}; "
        f"medians of {meta.get('runs')} runs; pinning {meta.get('pinning')}.",
        "",
    ]
    for name, entries in document.get("results", {}).items():
        columns = SECTIONS.get(name)
        if columns is None:
            continue
        lines += [f"### {name}", "", *_table(entries, columns), ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    # Imported here: the peers' tables format their numbers with this module's `fmt`.
    from .peers import tables

    parser = argparse.ArgumentParser(
        prog="python -m bench.report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("json", type=Path, help="a JSON document written by python -m bench")
    parser.add_argument(
        "--update", type=Path, metavar="FILE", help="write the comparison into FILE's marked block"
    )
    args = parser.parse_args(argv)
    document = tables.recomputed(json.loads(args.json.read_text(encoding="utf-8")))
    compared = tables.render(document) if document.get("comparison") else None
    print(render(document))
    if compared is not None:
        print(f"### Compared with other servers\n\n{compared}")
    if args.update is not None:
        if compared is None:
            print("no comparison to write (run python -m bench --targets ...)", file=sys.stderr)
            return 1
        tables.update(args.update, compared)
        print(f"updated {args.update}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

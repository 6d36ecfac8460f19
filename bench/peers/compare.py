"""Runs each scenario against the chosen peers and puts them side by side with Coedit.

``python -m bench --targets coedit,hocuspocus,ywebsocket,pycrdt-ws fanout cold_load storm
many_docs`` (or ``--targets all``): after Coedit's runs of a scenario, the same scenario with the
same parameters runs against every peer (``--runs`` runs each, medians as for Coedit). The JSON
document then also holds

* ``peers.<target>.<scenario>``: the peer's entries, exactly like ``results.<scenario>``;
* ``comparison.<scenario>``: per variant, the headline numbers of every target and the ratio
  Coedit ÷ peer of each (``better`` says whether lower or higher is better);
* ``meta.targets``: what each target is, its URL pattern and the package versions installed.

A peer whose run fails (crash, timeout, wrong document) keeps the error in its entry and a
``failed`` note in the comparison: that is a result about the peer, not a failure of the bench,
so it does not change the exit code.
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from ..proc import log
from ..report import lookup
from ..scenarios import Context
from . import COEDIT, TARGETS, Target, describe, ensure_deps, parse_targets, peer_context

ScenarioFn = Callable[[str, Context, argparse.Namespace], Awaitable[list[dict[str, Any]]]]

APPEND_NA = (
    "Coedit only: a micro-benchmark of Coedit's own store API (SqliteStore.append, no network). "
    "The peers' stores are not separate services with such an API (Hocuspocus re-encodes the "
    "whole document per store), so the peers are measured end to end in the other scenarios."
)

# (path in a median, label, "lower" or "higher" is better)
Metric = tuple[str, str, str]
METRICS: dict[str, list[Metric]] = {
    "fanout": [
        ("latency_ms.p50", "edit-to-peer latency p50, ms", "lower"),
        ("latency_ms.p99", "edit-to-peer latency p99, ms", "lower"),
        ("delivered_pct", "delivered, %", "higher"),
        ("server_cpu_s", "server CPU, s", "lower"),
        ("server_cpu_pct_of_one_core", "server CPU, % of a core", "lower"),
        ("server_rss_mb", "server RSS, MB", "lower"),
        ("final_doc.edits_missing", "edits missing from the final document", "lower"),
        ("server_log.errors", "error lines in the server's log", "lower"),
        # How late the load generator's own timers fired: tens of ms means part of the latency
        # above is the load generator's (or something else on its CPU), not the server's.
        ("loadgen_loop_lag.p99_ms", "load generator's loop lag p99, ms", "lower"),
    ],
    "cold_load": [
        ("fully_synced_ms", "restart, then open to fully synced, ms", "lower"),
        ("step2_received_ms", "open to sync step 2 received, ms", "lower"),
        ("server_cpu_s_for_load", "server CPU for the load, s", "lower"),
        ("server_rss_mb_after_load", "server RSS after the load, MB", "lower"),
        ("bystander_during_load.max_ms", "another document stalled, max ms", "lower"),
        ("server_startup_s", "server start to listening, s", "lower"),
        ("server_log_writer.errors", "error lines in the writing server's log", "lower"),
    ],
    "storm": [
        ("time_to_all_synced_s", "time until all synced, s", "lower"),
        ("per_client_sync_ms.p50", "per-client sync p50, ms", "lower"),
        ("per_client_sync_ms.p99", "per-client sync p99, ms", "lower"),
        ("failures", "clients not synced", "lower"),
        ("server_cpu_s", "server CPU, s", "lower"),
        ("server_rss_mb", "server RSS with all connected, MB", "lower"),
        ("bystander.max_ms", "another document stalled, max ms", "lower"),
        ("server_log.errors", "error lines in the server's log", "lower"),
    ],
    "many_docs": [
        ("server_rss_mb_baseline", "RSS idle before, MB", "lower"),
        ("round1.server_rss_mb_synced", "RSS with all docs open (round 1), MB", "lower"),
        ("round1.server_rss_mb_unloaded", "RSS after all closed (round 1), MB", "lower"),
        ("round3.server_rss_mb_synced", "RSS with all docs open (round 3), MB", "lower"),
        ("round3.server_rss_mb_unloaded", "RSS after all closed (round 3), MB", "lower"),
        (
            "round1.rooms_unloaded_after_s",
            "last close to 0 rooms (round 1; Coedit waits --unload-grace first), s",
            "lower",
        ),
        ("round1.all_synced_s", "all pairs synced (round 1), s", "lower"),
        ("round1.pairs_failed", "pairs failed (round 1)", "lower"),
        ("server_log.errors", "error lines in the server's log", "lower"),
    ],
}

# A metric that reads as a yes/no or a check rather than a rate: no ratio.
NO_RATIO = {
    "final_doc.edits_missing",
    "failures",
    "round1.pairs_failed",
    "server_log.errors",
    "server_log_writer.errors",
    "loadgen_loop_lag.p99_ms",
    # Coedit keeps an empty room for --unload-grace on purpose; the peers unload at once.
    "round1.rooms_unloaded_after_s",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--targets",
        default=COEDIT,
        help=f"comma-separated servers to measure: {', '.join(TARGETS)}, or all "
        "(default: coedit). Peers are installed on first use (bench/peers)",
    )


def chosen_targets(args: argparse.Namespace) -> list[Target]:
    return parse_targets(str(getattr(args, "targets", COEDIT)))


def peer_args(args: argparse.Namespace) -> argparse.Namespace:
    """The scenario flags for a peer. ``--stop auto`` means SIGKILL for Coedit when compaction is
    deferred (its graceful shutdown would compact); a peer is always stopped gracefully then."""
    out = copy.copy(args)
    if out.stop == "auto":
        out.stop = "term"
    return out


async def run_peers(
    name: str, ctx: Context, args: argparse.Namespace, scenario: ScenarioFn
) -> dict[str, list[dict[str, Any]]]:
    """``name`` against every chosen peer; the entries per target name."""
    out: dict[str, list[dict[str, Any]]] = {}
    for target in chosen_targets(args):
        if not target.is_peer:
            continue
        if name == "append":
            out[target.name] = [
                {"params": None, "runs_ok": 0, "runs_failed": 0, "median": None, "n/a": APPEND_NA}
            ]
            continue
        log(f"{name}: {target.title} ({target.name})")
        entries = await scenario(name, peer_context(ctx, target), peer_args(args))
        if name == "cold_load":
            _not_coedit_store(entries, target)
        out[target.name] = entries
    return out


def _not_coedit_store(entries: list[dict[str, Any]], target: Target) -> None:
    """cold_load reads Coedit's tables between the two servers; a peer has its own store."""
    for entry in entries:
        for run in [*entry.get("runs", []), entry.get("median")]:
            if isinstance(run, dict) and "stored_at_load" in run:
                run["stored_at_load"] = {"n/a": f"{target.title}: {target.storage}"}
                run["stored_as_requested"] = None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _first_error(entry: Mapping[str, Any]) -> str | None:
    for run in entry.get("runs", []):
        if isinstance(run, Mapping) and run.get("error"):
            return str(run["error"]).splitlines()[0][:300]
    return None


def compare_entries(
    scenario: str, entries: Mapping[str, Mapping[str, Any] | None]
) -> dict[str, Any]:
    """One variant of a scenario: every target's headline numbers and Coedit ÷ peer."""
    coedit = entries.get(COEDIT)
    rows = []
    for path, label, better in METRICS.get(scenario, []):
        values = {t: lookup((e or {}).get("median"), path) for t, e in entries.items()}
        row: dict[str, Any] = {"metric": path, "label": label, "better": better, "values": values}
        base = _number(values.get(COEDIT))
        if coedit is not None and path not in NO_RATIO:
            ratios: dict[str, float | None] = {}
            for target, value in values.items():
                if target == COEDIT:
                    continue
                peer = _number(value)
                ratios[target] = round(base / peer, 3) if base is not None and peer else None
            row["coedit_over_peer"] = ratios
        rows.append(row)
    status = {}
    for target, entry in entries.items():
        if entry is None:
            status[target] = "not run"
        elif entry.get("n/a"):
            status[target] = "n/a"
        elif not entry.get("runs_ok"):
            status[target] = f"failed: {_first_error(entry) or 'no run succeeded'}"
        elif entry.get("runs_failed"):
            status[target] = (
                f"{entry['runs_failed']} of {len(entry.get('runs', []))} runs failed: "
                + (_first_error(entry) or "?")
            )
        else:
            status[target] = "ok"
    params = (coedit or next((e for e in entries.values() if e), None) or {}).get("params")
    return {"params": params, "status": status, "metrics": rows}


def comparison(
    results: Mapping[str, Sequence[Mapping[str, Any]]],
    peers: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]],
    targets: Sequence[Target],
) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    scenarios = list(dict.fromkeys([*results, *(s for p in peers.values() for s in p)]))
    for scenario in scenarios:
        if scenario not in METRICS:
            continue
        variants = max(
            [len(results.get(scenario, []))] + [len(p.get(scenario, [])) for p in peers.values()]
        )
        merged = []
        for i in range(variants):
            entries: dict[str, Mapping[str, Any] | None] = {}
            for target in targets:
                source = results if target.name == COEDIT else peers.get(target.name, {})
                listed = source.get(scenario, [])
                entries[target.name] = listed[i] if i < len(listed) else None
            merged.append(compare_entries(scenario, entries))
        out[scenario] = merged
    return out


def finish_document(
    document: dict[str, Any],
    peers: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]],
    args: argparse.Namespace,
) -> None:
    """Add ``meta.targets``, ``peers`` and ``comparison`` to the bench's JSON document."""
    targets = chosen_targets(args)
    document["meta"]["targets"] = {t.name: describe(t) for t in targets}
    if not any(t.is_peer for t in targets):
        return
    by_target: dict[str, dict[str, Any]] = {}
    for scenario, entries in peers.items():
        for target, listed in entries.items():
            by_target.setdefault(target, {})[scenario] = listed
    document["peers"] = by_target
    document["comparison"] = comparison(document.get("results", {}), by_target, targets)


def runs_coedit(args: argparse.Namespace) -> bool:
    return any(not t.is_peer for t in chosen_targets(args))


def ensure_peer_deps(args: argparse.Namespace) -> None:
    """Install the chosen peers when missing (``npm ci --prefix bench``, the venv)."""
    ensure_deps(chosen_targets(args))


# The fan-out target: the largest N at which edit-to-peer p99 stays within this.
CAPACITY_P99_MS = 100.0


def fanout_capacity(
    results: Mapping[str, Any],
    peers: Mapping[str, Mapping[str, Any]],
    limit_ms: float = CAPACITY_P99_MS,
) -> dict[str, dict[str, Any]]:
    """Per target: the median p99 at each client count measured, and the largest N at which it,
    and every smaller N measured, stayed within `limit_ms` with every edit delivered."""
    out: dict[str, dict[str, Any]] = {}
    for target, scenarios in (("coedit", results), *peers.items()):
        points: dict[int, float | None] = {}
        for variant in scenarios.get("fanout") or []:
            median = variant.get("median") or {}
            clients = (variant.get("params") or {}).get("clients")
            p99 = (median.get("latency_ms") or {}).get("p99")
            complete = median.get("delivered_pct") == 100
            if isinstance(clients, int):
                points[clients] = float(p99) if p99 is not None and complete else None
        largest = None
        bounded = False  # a larger N was measured and missed: `largest` is the real limit
        for clients in sorted(points):
            p99 = points[clients]
            if p99 is None or p99 > limit_ms:
                bounded = True
                break
            largest = clients
        out[target] = {
            "p99_ms": dict(sorted(points.items())),
            "largest_n": largest,
            "bounded": bounded,
        }
    return out

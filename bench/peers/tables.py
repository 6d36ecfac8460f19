"""The comparison of Coedit with the peers as Markdown (``python -m bench.report`` prints it).

Tables of a ``python -m bench --targets ...`` JSON document's ``comparison``: per scenario
variant, every target's median and, for each peer, Coedit's value ÷ the peer's. ``update``
writes them between the markers ``<!-- peers:begin -->`` and ``<!-- peers:end -->`` of a file
(appended with the markers if absent), so the rest of RESULTS.md stays as written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..report import fmt
from . import TARGETS, Target
from .compare import CAPACITY_P99_MS, comparison, fanout_capacity

BEGIN = "<!-- peers:begin -->"
END = "<!-- peers:end -->"


def _ratio(value: Any) -> str:
    if not isinstance(value, int | float):
        return ""
    return f" ({value:.2f})" if value < 10 else f" ({value:.0f})"


def _title(name: str, meta: Mapping[str, Any]) -> str:
    info = meta.get("targets", {}).get(name, {})
    return str(info.get("title") or (TARGETS[name].title if name in TARGETS else name))


def _params(params: Any) -> str:
    if not isinstance(params, Mapping):
        return ""
    return ", ".join(f"{k} {fmt(v)}" for k, v in params.items())


def variant_table(variant: Mapping[str, Any], meta: Mapping[str, Any]) -> list[str]:
    rows: Sequence[Mapping[str, Any]] = variant.get("metrics", [])
    targets = list(variant.get("status", {}))
    header = ["", *(_title(t, meta) for t in targets)]
    lines = [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(["---"] + ["---:"] * len(targets)) + " |",
    ]
    for row in rows:
        values = row.get("values", {})
        ratios = row.get("coedit_over_peer", {})
        arrow = "↓" if row.get("better") == "lower" else "↑"
        cells = [f"{row.get('label')} {arrow}"]
        for target in targets:
            cells.append(fmt(values.get(target)) + _ratio(ratios.get(target)))
        lines.append("| " + " | ".join(cells) + " |")
    status = variant.get("status", {})
    cells = ["status"] + [str(status.get(t, "-")).replace("|", "/") for t in targets]
    lines.append("| " + " | ".join(cells) + " |")
    return lines


def capacity_table(document: Mapping[str, Any]) -> list[str]:
    """Fan-out p99 at every N measured, per target, and the largest N within the limit."""
    capacity = fanout_capacity(document.get("results", {}), document.get("peers") or {})
    sizes = sorted({n for c in capacity.values() for n in c["p99_ms"]})
    if len(sizes) < 3:  # a sweep, not a spot check
        return []
    meta = document.get("meta", {})
    targets = [t for t in capacity if capacity[t]["p99_ms"]]
    limit = f"{CAPACITY_P99_MS:.0f}"
    lines = [
        f"#### fanout capacity: the largest N with p99 ≤ {limit} ms, everything delivered",
        "",
        "| clients | " + " | ".join(f"{_title(t, meta)} p99 ms" for t in targets) + " |",
        "| ---: | " + " | ".join("---:" for _ in targets) + " |",
    ]
    for n in sizes:
        cells = []
        for t in targets:
            measured = n in capacity[t]["p99_ms"]
            p99 = capacity[t]["p99_ms"].get(n)
            cells.append("not run" if not measured else "failed" if p99 is None else fmt(p99))
        lines.append(f"| {n:,} | " + " | ".join(cells) + " |")
    own = capacity.get("coedit", {})
    mine = own.get("largest_n") if own.get("bounded") else None
    cells = []
    for t in targets:
        largest = capacity[t]["largest_n"]
        bounded = capacity[t]["bounded"]
        ratio = (
            f" (Coedit ÷ this: {mine / largest:.2f})"
            if t != "coedit" and mine and largest and bounded
            else ""
        )
        # Never missed within what was measured: the limit lies beyond it.
        shown = "none" if not largest else f"{largest:,}" if bounded else f"≥ {largest:,}"
        cells.append(shown + ratio)
    lines += ["| **largest N** | " + " | ".join(cells) + " |", ""]
    return lines


def render(document: Mapping[str, Any]) -> str:
    meta = document.get("meta", {})
    machine = meta.get("machine", {})
    comparison: Mapping[str, Sequence[Mapping[str, Any]]] = document.get("comparison", {})
    lines = [
        f"Measured {meta.get('date')} on {machine.get('cpus')} CPUs "
        f"({machine.get('cpu_model', machine.get('processor'))}); medians of {meta.get('runs')} "
        f"runs per target; server pinned to CPU {fmt((meta.get('pinning') or {}).get('server'))}, "
        "load generator to the other. Every peer stores to disk (see below). In parentheses: "
        "Coedit's value ÷ the peer's (below 1 is better for Coedit where ↓ lower is better, "
        "above 1 where ↑ higher is better).",
        "",
    ]
    for scenario, variants in comparison.items():
        for variant in variants:
            params = _params(variant.get("params"))
            lines += [f"#### {scenario}" + (f" ({params})" if params else ""), ""]
            lines += [*variant_table(variant, meta), ""]
    lines += capacity_table(document)
    append = document.get("results", {}).get("append")
    if append:
        lines += [
            "#### append",
            "",
            "Coedit only (its store's append API, no network); n/a for the peers.",
            "",
        ]
    targets: Mapping[str, Mapping[str, Any]] = meta.get("targets", {})
    if targets:
        lines += ["#### The targets", "", "| target | versions | storage | notes |"]
        lines += ["| --- | --- | --- | --- |"]
        for name, info in targets.items():
            versions = info.get("versions") or {}
            shown = ", ".join(f"{k} {v}" for k, v in versions.items()) or "this repository"
            lines.append(
                f"| {info.get('title', name)} | {shown} | {info.get('storage', '')} | "
                f"{info.get('notes', '')} |"
            )
        lines.append("")
    return "\n".join(lines)


def update(path: Path, text: str) -> None:
    block = f"{BEGIN}\n{text.rstrip()}\n{END}"
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if BEGIN in old and END in old:
        head, _, rest = old.partition(BEGIN)
        _, _, tail = rest.partition(END)
        new = head + block + tail
    else:
        new = old.rstrip() + ("\n\n" if old else "") + block + "\n"
    path.write_text(new, encoding="utf-8")


def recomputed(document: Mapping[str, Any]) -> dict[str, Any]:
    """`document` with its comparison computed again from the per-target results, so that a
    file written before a change of the headline metrics renders with the current ones."""
    if not document.get("peers"):
        return dict(document)
    names = list(document.get("meta", {}).get("targets") or TARGETS)
    targets = [TARGETS.get(name) or Target(name, name, "unknown") for name in names]
    results = document.get("results", {})
    return {**document, "comparison": comparison(results, document["peers"], targets)}

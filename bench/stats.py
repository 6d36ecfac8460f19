"""Aggregation of repeated runs: the median of every number, field by field."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def median_of(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Field-wise median over runs.

    Numbers become their median (None values are skipped), nested mappings are aggregated the
    same way, and any other value is kept when every run agrees or listed per run otherwise.
    Lists (e.g. per-second series) are left to the per-run records.
    """
    out: dict[str, Any] = {}
    keys: list[str] = []
    for run in runs:
        keys.extend(k for k in run if k not in keys)
    for key in keys:
        values = [run.get(key) for run in runs]
        present = [v for v in values if v is not None]
        if not present:
            out[key] = None
        elif all(_is_number(v) for v in present):
            med = statistics.median(present)
            out[key] = round(med, 6) if isinstance(med, float) else med
        elif all(isinstance(v, Mapping) for v in present):
            out[key] = median_of(present)
        elif all(isinstance(v, list) for v in present):
            continue
        elif all(v == present[0] for v in present) and len(present) == len(values):
            out[key] = present[0]
        else:
            out[key] = {"per_run": values}
    return out


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of already sorted values (q in 0..1)."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), int(-(-q * len(sorted_values) // 1))))
    return sorted_values[rank - 1]

"""Statistics over seeds: the paper's mean ± std, and the paired difference between two methods."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence

from scipy import stats as _scipy_stats


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1; 0.0 for a single value)."""
    values = list(values)
    if not values:
        raise ValueError("mean_std: no values")
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def paired_difference(a: Mapping[int, float], b: Mapping[int, float], level: float = 0.95) -> dict | None:
    """a - b paired by seed: {"mean_pct", "ci95_pct", "n"} over the seeds both have.

    Runs with the same seed share their initial weights and mini-batch order, so the per-seed
    difference isolates the method. `ci95_pct` is the half-width of the two-sided Student-t
    interval, t_{(1+level)/2, n-1} * s / sqrt(n); it is left out for n = 1 (no interval from one
    pair). None when no seed is shared.
    """
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None
    diffs = [a[s] - b[s] for s in seeds]
    out = {"mean_pct": mean_std(diffs)[0], "n": len(diffs)}
    if len(diffs) > 1:
        out["ci95_pct"] = t_half_width(diffs, level)
    return out


def t_half_width(values: Sequence[float], level: float = 0.95) -> float:
    """Half-width of the two-sided Student-t interval of the mean of `values` (at least 2)."""
    t = float(_scipy_stats.t.ppf((1 + level) / 2, len(values) - 1))
    return t * mean_std(values)[1] / math.sqrt(len(values))

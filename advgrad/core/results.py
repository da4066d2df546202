"""The paper's statistic over seeds, and the per-epoch curves, for MNIST and CIFAR-10 alike."""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Sequence
from pathlib import Path

from advgrad.core.io import save_text

DIGITS = 4  # percentages: the test set resolves 0.01 %, a mean over seeds and epochs a bit more


def summarize(curves: list[dict], seeds: Sequence[int], last_epochs: int) -> dict:
    """Per seed, the mean test error over its last `last_epochs` epochs (all of them if fewer
    ran); then the mean and sample standard deviation (ddof 1; 0 for one seed) over seeds, in
    percent.

    MNIST, Table 2 (section 3): "the mean of the 10 last epochs averaged over 5 runs". CIFAR-10,
    Table 3 (section 4): the test error at the end of each run, `last_epochs=1`.
    `curves` has one row per (seed, epoch) with "seed", "epoch", "test_error" and "train_error"
    as fractions.
    """
    per_seed, final_train = [], []
    for seed in seeds:
        rows = sorted((r for r in curves if r["seed"] == seed), key=lambda r: r["epoch"])
        if not rows:
            raise ValueError(f"summarize: no curve rows for seed {seed}")
        tail = rows[-last_epochs:]
        per_seed.append(100 * sum(r["test_error"] for r in tail) / len(tail))
        final_train.append(100 * rows[-1]["train_error"])
    return {
        "error_pct": statistics.fmean(per_seed),
        "std_pct": statistics.stdev(per_seed) if len(per_seed) > 1 else 0.0,
        "n_seeds": len(per_seed),
        "seeds": list(seeds),
        "per_seed_pct": per_seed,
        "final_train_error_pct": statistics.fmean(final_train),
    }


def rounded(metrics, digits: int = DIGITS):
    """A metrics dict with every float rounded to `digits` decimals (what the numbers mean, and
    what `dvc exp show` prints), nested dicts and lists included."""
    if isinstance(metrics, float):
        return round(metrics, digits)
    if isinstance(metrics, dict):
        return {k: rounded(v, digits) for k, v in metrics.items()}
    if isinstance(metrics, list):
        return [rounded(v, digits) for v in metrics]
    return metrics


def curves_csv(rows: list[dict], columns: Sequence[str]) -> str:
    """The rows as CSV, `columns` only, in that order; floats in full (repr) precision, so the
    statistic recomputed from the file is the one reported."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def write_curves(rows: list[dict], columns: Sequence[str], dest: str | Path) -> None:
    save_text(curves_csv(rows, columns), dest)

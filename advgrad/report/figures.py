"""The report's figures: Figure 1 (error curves) and the white-box robustness sweep, as small PNGs,
and the CSVs that `dvc plots` draws of the same data.

Each function takes DataFrames and an output path, writes the PNG atomically
(`advgrad.core.plotting`) and returns the matplotlib Figure for inspection. Figures 2-3 are
drawn by the analyze stage (`advgrad.evaluate.figures`).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from advgrad.core.names import ACTIVATIONS
from advgrad.core.plotting import (
    LINESTYLES,
    METHOD_COLORS,
    legend_outside,
    new_figure,
    ordered,
    save_figure,
    style_legend,
)
from advgrad.report.ledger import METHOD_NAMES

PLOT_NAMES = METHOD_NAMES | {"goodfellow": "Goodfellow"}  # dvc plots series
CURVE_SERIES = [f"{PLOT_NAMES[m]} {s}" for m in PLOT_NAMES for s in ("test", "train", "test seed-min", "test seed-max")]
ATTACK_NAMES = {"fgsm": "FGSM", "pgd": "PGD", "autoattack": "AutoAttack"}
ROBUSTNESS_SERIES = [
    f"{PLOT_NAMES[m]} {a}" for m in PLOT_NAMES for a in ("PGD", "FGSM", "PGD seed-min", "PGD seed-max")
]


def _require_columns(df: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {', '.join(missing)}; got {', '.join(map(str, df.columns))}")


def percent_axis(ax) -> None:
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}%"))


# -------------------------------------------------------------------------------- Figure 1


def plot_error_curves(
    curves: pd.DataFrame, out: str | Path, units: int | None = None, title: str | None = None
) -> Figure:
    """Figure 1: clean training error and test error per epoch, one panel per activation.

    `curves` has one row per (activation, method, epoch, seed) with `train_error` and
    `test_error` as fractions in [0, 1], as the trainer's curves.csv has them; they are drawn
    in percent. Colour per method, test solid and training dashed; lines are means over seeds
    and the band spans the seeds' test errors (min to max).
    The y axis is logarithmic like the paper's; 0 % cannot be drawn on it, so a mean of
    exactly 0 % is left out (the line stops) rather than clipped to an arbitrary floor.
    """
    _require_columns(
        curves, ("activation", "method", "epoch", "seed", "train_error", "test_error"), "plot_error_curves"
    )
    acts = ordered(ACTIVATIONS, curves["activation"])
    methods = ordered(METHOD_COLORS, curves["method"])
    fig = new_figure(max(3.4 * len(acts), 5.5), 3.6)
    axes = fig.subplots(1, len(acts), sharey=True, squeeze=False)[0]
    for ax, act in zip(axes, acts, strict=True):
        for method in methods:
            rows = curves[(curves["activation"] == act) & (curves["method"] == method)]
            if rows.empty:
                continue
            by_epoch = rows.groupby("epoch")[["train_error", "test_error"]]
            mean, low, high = (100 * f() for f in (by_epoch.mean, by_epoch.min, by_epoch.max))  # over seeds, %
            epochs, color = mean.index.to_numpy(), METHOD_COLORS.get(method, "0.3")
            for name in ("test", "train"):
                line = {"linestyle": LINESTYLES[name], "color": color, "linewidth": 1.2, "label": f"{method} {name}"}
                ax.plot(epochs, mean[f"{name}_error"].to_numpy(), **line)
            band = (low["test_error"].to_numpy(), high["test_error"].to_numpy())
            ax.fill_between(epochs, *band, color=color, alpha=0.15, linewidth=0)
        ax.set_yscale("log", nonpositive="mask")
        # Label 1-2-5 steps as percents; unlabelled minor ticks keep the axis uncluttered.
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_minor_formatter(NullFormatter())
        percent_axis(ax)
        ax.set_title(f"2x{units} {act}" if units else act)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.set_xlabel("epoch")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("error")
    legend_outside(fig, style_legend(methods, {"test": "test", "train (clean)": "train"}))
    if title:
        fig.suptitle(title, fontsize="medium")
    return save_figure(fig, out)


# -------------------------------------------------------------------------------- robustness


def plot_robustness(df: pd.DataFrame, out: str | Path, title: str | None = None) -> Figure:
    """White-box error (%) against eps, one panel per net: colour per method, line style per
    attack (`LINESTYLES`); the line is the mean over seeds, the band spans the seeds (min to max).

    `df` has the robustness stage's rows (seed, attack, eps, error_pct) plus "config" and
    "method" columns.
    """
    _require_columns(df, ("config", "method", "seed", "attack", "eps", "error_pct"), "plot_robustness")
    configs = list(dict.fromkeys(df["config"]))
    cols = min(3, len(configs))
    rows = math.ceil(len(configs) / cols)
    fig = new_figure(max(3.4 * cols, 5.5), 2.9 * rows + 1.0)
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False).ravel()
    for ax, config in zip(axes, configs, strict=False):
        here = df[df["config"] == config]
        for method in ordered(METHOD_COLORS, here["method"]):
            for attack in ordered(("fgsm", "pgd", "autoattack"), here["attack"]):
                rows_ = here[(here["method"] == method) & (here["attack"] == attack)]
                if rows_.empty:
                    continue
                by_eps = rows_.groupby("eps")["error_pct"]
                eps = by_eps.mean().index.to_numpy()
                color, name = METHOD_COLORS.get(method, "0.3"), ATTACK_NAMES.get(attack, attack.upper())
                marker = "o" if len(eps) == 1 else None  # AutoAttack at one eps: a point, not a line
                line = {"linestyle": LINESTYLES.get(attack, "-."), "marker": marker, "color": color, "linewidth": 1.3}
                ax.plot(eps, by_eps.mean().to_numpy(), **line, label=f"{method} {name}")
                band = (by_eps.min().to_numpy(), by_eps.max().to_numpy())
                ax.fill_between(eps, *band, color=color, alpha=0.15, linewidth=0)
        ax.set_title(config)
        ax.set_xlabel("eps")
        ax.grid(True, alpha=0.3)
        percent_axis(ax)
    for ax in axes[len(configs) :]:
        ax.set_axis_off()
    axes[0].set_ylabel("test error")
    attacks = ordered(("fgsm", "pgd", "autoattack"), df["attack"])
    legend_outside(fig, style_legend(ordered(METHOD_COLORS, df["method"]), {ATTACK_NAMES[a]: a for a in attacks}))
    if title:
        fig.suptitle(title, fontsize="medium")
    return save_figure(fig, out)


# -------------------------------------------------------------------------------- dvc plots


def _series(frame: pd.DataFrame, x: str, column: str) -> pd.DataFrame:
    """Mean, min and max over seeds of `column` (in %) per value of `x`."""
    grouped = frame.groupby(x)[column]
    return pd.DataFrame({"mean": 100 * grouped.mean(), "min": 100 * grouped.min(), "max": 100 * grouped.max()})


def plot_tables(curves: pd.DataFrame, robustness: pd.DataFrame) -> dict[str, str]:
    """The DVC plots of dvc.yaml's top-level `plots:` {relative path: CSV}: per dataset and net,
    the seed-mean training and test error per epoch of every method (with the seeds' spread of
    the test error), and the seed-mean white-box error against eps. `curves` has the trainer's
    curves.csv rows, `robustness` the report's tidy robustness rows, both with dataset, net and
    method columns. Every file has the same columns (a method that did not run is left empty),
    so one plot definition draws them all."""
    out = {}
    robustness = robustness[robustness["metric"] == "error_pct"].assign(error=lambda d: d["value"] / 100)
    for folder, frame, x in (("curves", curves, "epoch"), ("robustness", robustness, "eps")):
        for (ds, net), rows in frame.groupby(["dataset", "net"], sort=False):
            wide = pd.DataFrame()
            for method, name in PLOT_NAMES.items():
                here = rows[rows["method"] == method]
                if here.empty:
                    continue
                if folder == "curves":
                    test, train = _series(here, x, "test_error"), _series(here, x, "train_error")
                    series = {"test": test["mean"], "train": train["mean"]}
                    series |= {"test seed-min": test["min"], "test seed-max": test["max"]}
                else:
                    pgd, fgsm = (_series(here[here["attack"] == a], x, "error") for a in ("pgd", "fgsm"))
                    series = {"PGD": pgd["mean"], "FGSM": fgsm["mean"], "PGD seed-min": pgd["min"]}
                    series |= {"PGD seed-max": pgd["max"]}
                wide = wide.join(pd.DataFrame({f"{name} {k}": v for k, v in series.items()}), how="outer")
            columns = CURVE_SERIES if folder == "curves" else ROBUSTNESS_SERIES
            wide = wide.reindex(columns=columns).rename_axis(x).reset_index()
            out[f"{folder}/{ds}-{net}.csv"] = wide.to_csv(index=False, float_format="%.4g")
    return out

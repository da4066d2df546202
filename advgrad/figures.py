"""The paper's figures, plus the white-box FGSM sweep, as small PNGs.

Each function takes plain tensors, arrays or DataFrames and an output path, writes the PNG
atomically (`advgrad.io.atomic_path`) and returns the matplotlib Figure for inspection.
Figures are built with the object-oriented API on an Agg canvas, never through pyplot: there
is no global figure registry to leak into, no GUI backend to pick, nothing left to close.
PNG metadata carries no matplotlib version, so the same data gives the same bytes across
upgrades (the PNGs are tracked in git).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from advgrad.io import atomic_path
from advgrad.names import ACTIVATIONS

__all__ = ["plot_error_curves", "plot_weight_tiles", "plot_activation_histograms", "plot_robustness",
           "weight_mosaic"]

METHODS = ("backprop", "adversarial", "dropout")  # the paper's left-to-right order (Figures 2, 3)
SIDE = 28  # MNIST images are 28x28 = 784 pixels
METHOD_COLORS = {"backprop": "C0", "adversarial": "C3", "goodfellow": "C2", "dropout": "C4"}
DPI = 150


# -------------------------------------------------------------------------------- helpers

def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, out: str | Path) -> Figure:
    with atomic_path(out) as tmp:
        # format= is needed: the temporary file's suffix is not ".png".
        fig.savefig(tmp, format="png", metadata={"Software": None})
    return fig


def _numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def _ordered(known: Iterable[str], present: Iterable[str]) -> list[str]:
    """Known names in their canonical order, then any other present name in sorted order."""
    present = list(dict.fromkeys(present))
    return [k for k in known if k in present] + sorted(p for p in present if p not in known)


def _require_columns(df: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {', '.join(missing)}; "
                         f"got {', '.join(map(str, df.columns))}")


def _percent_axis(ax) -> None:
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}%"))


# -------------------------------------------------------------------------------- Figure 1

def plot_error_curves(curves: pd.DataFrame, out: str | Path, units: int | None = None,
                      title: str | None = None) -> Figure:
    """Figure 1: clean training error and test error per epoch, one panel per activation.

    `curves` has one row per (activation, method, epoch, seed) with `train_error` and
    `test_error` as fractions in [0, 1], as the trainer's curves.csv has them; they are drawn
    in percent. Colour per method, test solid and training dashed; lines are means over seeds
    and the band spans the seeds' test errors (min to max).
    The y axis is logarithmic like the paper's; 0 % cannot be drawn on it, so a mean of
    exactly 0 % is left out (the line stops) rather than clipped to an arbitrary floor.
    """
    _require_columns(curves, ("activation", "method", "epoch", "seed", "train_error", "test_error"),
                     "plot_error_curves")
    acts = _ordered(ACTIVATIONS, curves["activation"])
    methods = _ordered(("adversarial", "backprop", "goodfellow"), curves["method"])
    fig = _new_figure(3.4 * len(acts), 3.2)
    axes = fig.subplots(1, len(acts), sharey=True, squeeze=False)[0]
    for ax, act in zip(axes, acts, strict=True):
        for method in methods:
            rows = curves[(curves["activation"] == act) & (curves["method"] == method)]
            if rows.empty:
                continue
            by_epoch = rows.groupby("epoch")[["train_error", "test_error"]]
            mean, low, high = (100 * f() for f in (by_epoch.mean, by_epoch.min, by_epoch.max))  # over seeds, %
            epochs, color = mean.index.to_numpy(), METHOD_COLORS.get(method, "0.3")
            for column, style, name in (("test_error", "-", "test"), ("train_error", "--", "train")):
                ax.plot(epochs, mean[column].to_numpy(), linestyle=style, color=color, linewidth=1.2,
                        label=f"{method} {name}")
            ax.fill_between(epochs, low["test_error"].to_numpy(), high["test_error"].to_numpy(),
                            color=color, alpha=0.15, linewidth=0)
        ax.set_yscale("log", nonpositive="mask")
        # Label 1-2-5 steps as percents; unlabelled minor ticks keep the axis uncluttered.
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_minor_formatter(NullFormatter())
        _percent_axis(ax)
        ax.set_title(f"2x{units} {act}" if units else act)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.set_xlabel("epoch")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("error")
    axes[0].legend(fontsize="small")
    if title:
        fig.suptitle(title, fontsize="medium")
    return _save(fig, out)


# -------------------------------------------------------------------------------- Figure 2

def weight_mosaic(weights, n: int = 100) -> np.ndarray:
    """The first n first-layer units of `weights` as a grid of 28x28 tiles, each in [0, 1].

    `weights` is (h, 784) (nn.Linear.weight) or (784, h). Each tile is scaled to its own
    min..max so that weak and strong units are equally visible (a constant unit is 0.5).
    Tiles are separated by one NaN pixel, drawn as the background.
    """
    w = _numpy(weights)
    if w.ndim != 2 or SIDE * SIDE not in w.shape:
        raise ValueError(f"weight_mosaic: weights of shape {tuple(w.shape)} are neither (h, 784) nor (784, h)")
    units = w if w.shape[1] == SIDE * SIDE else w.T  # (h, 784)
    units = units[:n]
    lo, hi = units.min(axis=1, keepdims=True), units.max(axis=1, keepdims=True)
    span = hi - lo
    tiles = np.where(span > 0, (units - lo) / np.where(span > 0, span, 1.0), 0.5)  # (n, 784)
    cols = math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / cols)
    step = SIDE + 1
    mosaic = np.full((rows * step - 1, cols * step - 1), np.nan)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, cols)
        mosaic[r * step:r * step + SIDE, c * step:c * step + SIDE] = tile.reshape(SIDE, SIDE)
    return mosaic


def plot_weight_tiles(weights: Mapping[str, torch.Tensor], out: str | Path, n: int = 100) -> Figure:
    """Figure 2: the first n first-layer units of each net as 28x28 tiles, one panel per method."""
    methods = _ordered(METHODS, weights)
    cmap = matplotlib.colormaps["gray"].with_extremes(bad="white")
    fig = _new_figure(3.3 * len(methods), 3.6)
    axes = fig.subplots(1, len(methods), squeeze=False)[0]
    for ax, method in zip(axes, methods):
        # Antialiased resampling: the mosaic is not drawn at an integer zoom, and "nearest"
        # would double every k-th pixel row into visible stripes.
        ax.imshow(weight_mosaic(weights[method], n), cmap=cmap, vmin=0.0, vmax=1.0,
                  interpolation="antialiased")
        ax.set_title(method)
        ax.set_axis_off()
    return _save(fig, out)


# -------------------------------------------------------------------------------- Figure 3

def plot_activation_histograms(acts: Mapping[str, torch.Tensor], out: str | Path, bins: int = 50,
                               title: str | None = None) -> Figure:
    """Figure 3: histogram of hidden-unit activations (N, h), one panel per method.

    Each panel's title gives the fraction of exact zeros (section 3: 39 % -> 61 % for 2x400
    ReLU nets); `title` (which net, which images) goes above the panels. All panels share the
    bins so that their shapes can be compared.
    """
    methods = _ordered(METHODS, acts)
    values = {m: _numpy(acts[m]).ravel() for m in methods}
    lo = min(v.min() for v in values.values())
    hi = max(v.max() for v in values.values())
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    fig = _new_figure(3.2 * len(methods), 3.0)
    axes = fig.subplots(1, len(methods), sharey=True, squeeze=False)[0]
    for ax, method in zip(axes, methods):
        v = values[method]
        ax.hist(v, bins=edges, log=True, color="0.3")
        ax.set_title(f"{method}: {100 * np.mean(v == 0):.1f}% exact zeros")
        ax.set_xlabel("activation")
    axes[0].set_ylabel("count")
    if title:
        fig.suptitle(title, fontsize="medium")
    return _save(fig, out)


# -------------------------------------------------------------------------------- robustness

def plot_robustness(df: pd.DataFrame, out: str | Path, title: str | None = None) -> Figure:
    """White-box error (%) against eps, one panel per net: colour per method, FGSM dashed, PGD
    solid; the line is the mean over seeds, the band spans the seeds (min to max).

    `df` has the robustness stage's rows (seed, attack, eps, error_pct) plus "config" and
    "method" columns.
    """
    _require_columns(df, ("config", "method", "seed", "attack", "eps", "error_pct"), "plot_robustness")
    configs = list(dict.fromkeys(df["config"]))
    cols = min(3, len(configs))
    rows = math.ceil(len(configs) / cols)
    fig = _new_figure(3.4 * cols, 2.9 * rows + 0.4)
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False).ravel()
    for ax, config in zip(axes, configs, strict=False):
        here = df[df["config"] == config]
        for method in _ordered(METHOD_COLORS, here["method"]):
            for attack, style in (("fgsm", "--"), ("pgd", "-")):
                rows_ = here[(here["method"] == method) & (here["attack"] == attack)]
                if rows_.empty:
                    continue
                by_eps = rows_.groupby("eps")["error_pct"]
                eps = by_eps.mean().index.to_numpy()
                color = METHOD_COLORS.get(method, "0.3")
                ax.plot(eps, by_eps.mean().to_numpy(), linestyle=style, color=color, linewidth=1.3,
                        label=f"{method} {attack.upper()}")
                ax.fill_between(eps, by_eps.min().to_numpy(), by_eps.max().to_numpy(), color=color, alpha=0.15,
                                linewidth=0)
        ax.set_title(config)
        ax.set_xlabel("eps")
        ax.grid(True, alpha=0.3)
        _percent_axis(ax)
    for ax in axes[len(configs):]:
        ax.set_axis_off()
    axes[0].set_ylabel("test error")
    axes[0].legend(fontsize="x-small")
    if title:
        fig.suptitle(title, fontsize="medium")
    return _save(fig, out)

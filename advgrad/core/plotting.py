"""Shared figure plumbing: an Agg-canvas Figure and an atomic, reproducible PNG write.

Figures are built with the object-oriented API on an Agg canvas, never through pyplot: there
is no global figure registry to leak into, no GUI backend to pick, nothing left to close.
PNG metadata carries no matplotlib version, so the same data gives the same bytes across
upgrades (the PNGs are tracked in git).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from advgrad.core.io import atomic_path

METHOD_COLORS = {
    "backprop": "C0",
    "adversarial": "C3",
    "goodfellow": "C2",
    "dropout": "C4",
    "random": "C1",
    "vat": "C5",
}
# One convention in every figure: colour is the method; solid is the clean test error or FGSM,
# dashed the training error or PGD, dotted AutoAttack.
LINESTYLES = {"test": "-", "clean": "-", "fgsm": "-", "train": "--", "pgd": "--", "autoattack": ":"}
DPI = 150


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, out: str | Path) -> Figure:
    with atomic_path(out) as tmp:
        # format= is needed: the temporary file's suffix is not ".png".
        fig.savefig(tmp, format="png", metadata={"Software": None})
    return fig


def legend_outside(fig: Figure, entries: dict | None = None, ncols: int = 4, fontsize: str = "small") -> None:
    """One legend for all panels, below them, where it cannot cover data or the titles.
    `entries` {label: handle} defaults to every labelled line of the panels."""
    if entries is None:
        entries = {}
        for ax in fig.axes:
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                entries.setdefault(label, handle)
    if entries:
        ncols = min(ncols, len(entries))
        fig.legend(list(entries.values()), list(entries), loc="outside lower center", ncols=ncols, fontsize=fontsize)


def style_legend(methods, styles: dict[str, str]) -> dict:
    """Legend entries that say colour = method and line style = what is drawn, in one row each."""
    from matplotlib.lines import Line2D

    entries = {m: Line2D([], [], color=METHOD_COLORS.get(m, "0.3")) for m in methods}
    return entries | {name: Line2D([], [], color="0.2", linestyle=LINESTYLES[key]) for name, key in styles.items()}


def as_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def ordered(known: Iterable[str], present: Iterable[str]) -> list[str]:
    """Known names in their canonical order, then any other present name in sorted order."""
    present = list(dict.fromkeys(present))
    return [k for k in known if k in present] + sorted(p for p in present if p not in known)

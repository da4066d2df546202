"""Figures 2 and 3 of the paper: first-layer weights as 28x28 tiles, hidden-unit activation
histograms (the analyze stage). Each function writes its PNG atomically and returns the Figure."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import matplotlib
import numpy as np
import torch
from matplotlib.figure import Figure

from advgrad.core.plotting import as_numpy, legend_outside, new_figure, ordered, save_figure

METHODS = ("backprop", "adversarial", "dropout")  # the paper's left-to-right order (Figures 2, 3)
SIDE = 28  # MNIST images are 28x28 = 784 pixels


# -------------------------------------------------------------------------------- Figure 2


def weight_mosaic(weights, n: int = 100) -> np.ndarray:
    """The first n first-layer units of `weights` as a grid of 28x28 tiles, each in [0, 1].

    `weights` is (h, 784) (nn.Linear.weight) or (784, h). Each tile is scaled to its own
    min..max so that weak and strong units are equally visible (a constant unit is 0.5).
    Tiles are separated by one NaN pixel, drawn as the background.
    """
    w = as_numpy(weights)
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
        mosaic[r * step : r * step + SIDE, c * step : c * step + SIDE] = tile.reshape(SIDE, SIDE)
    return mosaic


def plot_weight_tiles(weights: Mapping[str, torch.Tensor], out: str | Path, n: int = 100) -> Figure:
    """Figure 2: the first n first-layer units of each net as 28x28 tiles, one panel per method."""
    methods = ordered(METHODS, weights)
    cmap = matplotlib.colormaps["gray"].with_extremes(bad="white")
    fig = new_figure(3.3 * len(methods), 3.6)
    axes = fig.subplots(1, len(methods), squeeze=False)[0]
    for ax, method in zip(axes, methods):
        # Antialiased resampling: the mosaic is not drawn at an integer zoom, and "nearest"
        # would double every k-th pixel row into visible stripes.
        ax.imshow(weight_mosaic(weights[method], n), cmap=cmap, vmin=0.0, vmax=1.0, interpolation="antialiased")
        ax.set_title(method)
        ax.set_axis_off()
    return save_figure(fig, out)


# -------------------------------------------------------------------------------- Figure 3


def plot_activation_histograms(
    acts: Mapping[str, torch.Tensor], out: str | Path, bins: int = 50, title: str | None = None
) -> Figure:
    """Figure 3: hidden-unit activations (N, h), one panel per method: a bar for the fraction of
    exact zeros beside the histogram of the positive part, both as fractions of all activations
    on a linear axis (section 3's claim is the zero fraction: 39 % -> 61 % for 2x400 ReLU nets).
    `title` (which net, which images) goes above the panels. All panels share the bins so that
    their shapes can be compared.
    """
    methods = ordered(METHODS, acts)
    values = {m: as_numpy(acts[m]).ravel() for m in methods}
    positive = np.concatenate([v[v != 0] for v in values.values()])
    lo, hi = (positive.min(), positive.max()) if positive.size else (0.0, 1.0)
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    width = edges[1] - edges[0]
    fig = new_figure(3.4 * len(methods), 3.4)
    axes = fig.subplots(1, len(methods), sharey=True, squeeze=False)[0]
    for ax, method in zip(axes, methods):
        v = values[method]
        zeros = np.mean(v == 0)
        ax.bar([lo - 1.5 * width], [zeros], width=2 * width, color="0.65", label="exact zeros")
        ax.hist(v[v != 0], bins=edges, weights=np.full((v != 0).sum(), 1 / v.size), color="0.3", label="positive")
        ax.set_title(f"{method}: {100 * zeros:.1f}% exact zeros", fontsize="medium")
        ax.set_xlabel("activation")
    axes[0].set_ylabel("fraction of activations")
    legend_outside(fig)
    if title:
        fig.suptitle(title, fontsize="medium")
    return save_figure(fig, out)

"""advgrad.report.figures and advgrad.evaluate.figures: each function writes a valid PNG atomically
and draws what it is given."""

from __future__ import annotations

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from advgrad.evaluate.figures import plot_activation_histograms, plot_weight_tiles, weight_mosaic
from advgrad.report.figures import plot_error_curves, plot_robustness

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def fake_curves(epochs: int = 12, seeds: int = 2) -> pd.DataFrame:
    """Decaying error curves (fractions); seed s adds s % so the mean over seeds is known."""
    rows = []
    for act in ("logistic", "tanh", "relu"):
        for method, scale in (("backprop", 1.0), ("adversarial", 0.7)):
            for seed in range(seeds):
                for epoch in range(1, epochs + 1):
                    rows.append(
                        {
                            "activation": act,
                            "method": method,
                            "epoch": epoch,
                            "seed": seed,
                            "train_error": (scale * 10.0 / epoch + seed) / 100,
                            "test_error": (scale * (1.0 + 10.0 / epoch) + seed) / 100,
                        }
                    )
    return pd.DataFrame(rows)


def assert_png(path, max_side: int = 2000) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 1000
    height, width = matplotlib.image.imread(path).shape[:2]
    assert 100 < width <= max_side and 100 < height <= max_side  # small and readable
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    assert plt.get_fignums() == []  # no pyplot figure left open


@pytest.fixture
def out(tmp_path):
    return tmp_path / "figs" / "figure.png"  # the folder does not exist yet


def test_error_curves_png_and_mean_over_seeds(out):
    fig = plot_error_curves(fake_curves(), out)
    assert_png(out)
    assert [ax.get_title() for ax in fig.axes] == ["logistic", "tanh", "relu"]
    lines = {line.get_label(): line for line in fig.axes[2].get_lines()}
    assert set(lines) == {"adversarial train", "adversarial test", "backprop train", "backprop test"}
    epochs = np.arange(1, 13)
    # in percent, the mean over seeds 0 and 1 of (0.7 * 10 / epoch + seed) = 7 / epoch + 0.5
    np.testing.assert_allclose(lines["adversarial train"].get_ydata(), 7.0 / epochs + 0.5)
    np.testing.assert_allclose(lines["backprop test"].get_ydata(), 1.0 + 10.0 / epochs + 0.5)
    assert lines["adversarial test"].get_linestyle() == "-" and lines["adversarial train"].get_linestyle() == "--"
    assert all(ax.get_legend() is None for ax in fig.axes) and len(fig.legends) == 1  # no legend over data
    assert lines["adversarial train"].get_color() == lines["adversarial test"].get_color()  # colour per method
    assert lines["backprop test"].get_color() != lines["adversarial test"].get_color()
    assert len(fig.axes[2].collections) == 2  # a seed band per method
    assert fig.axes[0].get_yscale() == "log"


def test_error_curves_name_missing_columns(out):
    with pytest.raises(ValueError, match="missing column.*test_error"):
        plot_error_curves(fake_curves().drop(columns="test_error"), out)
    assert not out.exists()


def test_weight_tiles_png(out):
    torch.manual_seed(0)
    weights = {"dropout": torch.randn(30, 784), "backprop": torch.randn(784, 30), "adversarial": torch.randn(30, 784)}
    fig = plot_weight_tiles(weights, out, n=25)
    assert_png(out)
    assert [ax.get_title() for ax in fig.axes] == ["backprop", "adversarial", "dropout"]  # paper order


def test_weight_mosaic_tiles_and_orientation():
    unit0 = torch.arange(784.0)  # tile 0: pixel (r, c) = 28 r + c, scaled by its own range
    w = torch.stack([unit0, torch.full((784,), 3.0), -5.0 * unit0, torch.randn(784)])  # (4, 784)
    mosaic = weight_mosaic(w, n=3)
    assert mosaic.shape == (2 * 29 - 1, 2 * 29 - 1)  # 3 tiles -> 2x2 grid, 1-pixel gaps
    np.testing.assert_allclose(mosaic[:28, :28], (np.arange(784) / 783).reshape(28, 28))
    np.testing.assert_allclose(mosaic[:28, 29:], 0.5)  # a constant unit is mid grey, not NaN
    np.testing.assert_allclose(mosaic[29:, :28], 1 - (np.arange(784) / 783).reshape(28, 28))
    assert np.isnan(mosaic[28]).all() and np.isnan(mosaic[29:, 29:]).all()  # gaps, empty cell
    np.testing.assert_array_equal(weight_mosaic(w.T, n=3), mosaic, strict=True)  # (784, h) alike
    with pytest.raises(ValueError, match=r"\(5, 100\)"):
        weight_mosaic(torch.zeros(5, 100))


def test_activation_histograms_png_and_zero_fraction(out):
    backprop = torch.cat([torch.zeros(39), torch.rand(61) + 0.1]).reshape(10, 10)  # 39 % zeros
    adversarial = torch.cat([torch.zeros(61), torch.rand(39) + 0.1]).reshape(10, 10)  # 61 % zeros
    fig = plot_activation_histograms({"adversarial": adversarial, "backprop": backprop}, out)
    assert_png(out)
    assert [ax.get_title() for ax in fig.axes] == ["backprop: 39.0% exact zeros", "adversarial: 61.0% exact zeros"]
    for ax, zeros in zip(fig.axes, (0.39, 0.61)):
        bar, *hist = ax.patches  # the exact-zero bar, then the histogram of the positive part
        assert bar.get_height() == pytest.approx(zeros)
        assert sum(p.get_height() for p in hist) == pytest.approx(1 - zeros)  # every activation counted once
        assert bar.get_x() + bar.get_width() <= min(p.get_x() for p in hist)  # zeros apart from the smallest bin
        assert ax.get_yscale() == "linear"


def test_robustness_png_colour_per_method_dash_per_attack_and_seed_band(out):
    rows = []
    for method, base in (("backprop", 10.0), ("adversarial", 2.0)):
        for seed, shift in ((0, 0.0), (1, 2.0)):
            for attack, factor in (("fgsm", 1.0), ("pgd", 2.0)):
                for eps in (0.0, 0.1, 0.3):
                    rows.append(
                        {
                            "config": "2x400 relu",
                            "method": method,
                            "seed": seed,
                            "attack": attack,
                            "eps": eps,
                            "error_pct": base * factor * eps * 10 + shift,
                        }
                    )
    fig = plot_robustness(pd.DataFrame(rows), out, title="mnist")
    assert_png(out)
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert set(lines) == {"backprop FGSM", "backprop PGD", "adversarial FGSM", "adversarial PGD"}
    # one convention across figures (advgrad.core.plotting.LINESTYLES): PGD dashed as in the eps study
    assert lines["backprop FGSM"].get_linestyle() == "-" and lines["backprop PGD"].get_linestyle() == "--"
    assert fig.axes[0].get_legend() is None and len(fig.legends) == 1  # beside the panels, not over data
    colours = {name: line.get_color() for name, line in lines.items()}
    assert colours["backprop FGSM"] == colours["backprop PGD"] != colours["adversarial PGD"]
    np.testing.assert_allclose(lines["adversarial PGD"].get_xdata(), [0.0, 0.1, 0.3])
    np.testing.assert_allclose(lines["adversarial PGD"].get_ydata(), [1.0, 5.0, 13.0])  # mean of the two seeds
    assert len(fig.axes[0].collections) == 4  # one seed band per line

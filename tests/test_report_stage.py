"""The report stage's loading: every number of runs/ lands in its own row and column.

A fixture runs/ folder holds a distinct error for every (activation, units, method), so a swap
of methods, configurations or datasets in `stages.report.load` changes a cell and fails."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml

from advgrad.report.figures import plot_tables
from advgrad.report.tables import metrics_json, render_tables, results_csv, summary
from stages import report
from stages.params import parse_params
from tests.real_data import ROOT
from tests.test_report import markdown_tables

METHODS = ("backprop", "adversarial", "goodfellow")


def error_of(act: str, units: int, method: str) -> float:
    """A distinct, recognisable value per net: e.g. relu-800-goodfellow -> 3.823."""
    return 1 + ("logistic", "tanh", "relu").index(act) + units / 1000 + METHODS.index(method) / 100 + 0.003


def write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


@pytest.fixture
def runs(tmp_path):
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw.update(seeds=2)
    raw["mnist"]["units"] = [400, 800]
    raw["cifar10"]["datasets"] = []
    params = parse_params(raw)
    runs = tmp_path / "runs"
    for act in ("logistic", "tanh", "relu"):
        for units in (400, 800):
            for method in METHODS:
                e = error_of(act, units, method)
                write_json(
                    runs / f"mnist-{act}-{units}-{method}" / "metrics.json",
                    {
                        "error_pct": e,
                        "std_pct": e / 10,
                        "n_seeds": 2,
                        "seeds": [0, 1],
                        # +- 1/8, a power of two: the mean over the two seeds is exactly e
                        "per_seed_pct": [e - 0.125, e + 0.125],
                        "data_verified": True,
                        "provenance": {"git_rev": "f" * 40, "git_dirty": False, "device": "cpu", "torch": "2.14.1"},
                    },
                )
                (runs / f"mnist-{act}-{units}-{method}" / "curves.csv").write_text(
                    "epoch,seed,train_error,test_error,train_loss\n"
                    + "".join(f"{ep},{s},{e / 200},{e / 100 + s / 1000},0.1\n" for s in (0, 1) for ep in (1, 2))
                )
                (runs / "robustness").mkdir(parents=True, exist_ok=True)
                (runs / "robustness" / f"mnist-{act}-{units}-{method}.csv").write_text(
                    "seed,attack,eps,error_pct,n_images\n"
                    + "".join(
                        f"{s},{a},{eps},{e + 10 * eps + (5 if a == 'pgd' else 0) + s},500\n"
                        for s in (0, 1)
                        for a in ("fgsm", "pgd")
                        for eps in (0.0, 0.1, 0.2, 0.3)
                    )
                )
    write_json(
        runs / "attack" / "mnist.json",
        {
            "eps": {
                # per pair: mean m and sample std s from the two values m -+ s / sqrt(2)
                "0.25": {
                    "backprop_per_pair_pct": [91.0 - 1.0 / 2**0.5, 91.0 + 1.0 / 2**0.5],
                    "adversarial_per_pair_pct": [21.0 - 2.0 / 2**0.5, 21.0 + 2.0 / 2**0.5],
                    "n_pairs": 2,
                    "pairs": [[0, 1], [1, 0]],
                },
                "0.5": {
                    "backprop_per_pair_pct": [99.0 - 0.5 / 2**0.5, 99.0 + 0.5 / 2**0.5],
                    "adversarial_per_pair_pct": [61.0 - 3.0 / 2**0.5, 61.0 + 3.0 / 2**0.5],
                    "n_pairs": 2,
                    "pairs": [[0, 1], [1, 0]],
                },
            }
        },
    )
    per_method = {
        m: {
            "overall": z,
            "per_layer": [z - 0.01, z + 0.01],
            "n_seeds": 2,
            "seeds": [0, 1],
            "per_seed_overall": [z + 0.002, z - 0.002],  # seed 0 is the figure's
            "figure_overall": z + 0.002,
        }
        for m, z in (("backprop", 0.41), ("adversarial", 0.63), ("dropout", 0.5))
    }
    write_json(
        runs / "analysis" / "mnist" / "sparsity.json",
        {"images": "the 10000 test images", "figure_seed": 0, **per_method},
    )
    return params, runs


def test_every_number_lands_in_its_row_and_column(runs):
    params, runs = runs
    loaded, curves = report.load(params, runs)
    results = summary(loaded)
    for act in ("logistic", "tanh", "relu"):
        for units in (400, 800):
            row = results["table2"]["mnist"][f"{act}-{units}"]
            for method in METHODS:
                assert row[method]["error_pct"] == error_of(act, units, method), (act, units, method)
            # the paired difference adversarial - back-prop is the difference of the nets' values
            assert row["difference"]["mean_pct"] == pytest.approx(
                error_of(act, units, "adversarial") - error_of(act, units, "backprop")
            )
            assert row["goodfellow_difference"]["mean_pct"] == pytest.approx(
                error_of(act, units, "goodfellow") - error_of(act, units, "backprop")
            )
            pgd = results["robustness"]["mnist"][f"{act}-{units}"]["adversarial"]["pgd"]["0.1"]
            assert pgd["error_pct"] == pytest.approx(error_of(act, units, "adversarial") + 1 + 5 + 0.5)
    assert results["attack"]["mnist"]["0.25"]["adversarial_pct"] == 21.0
    assert results["sparsity"]["mnist"]["adversarial_zero_frac"] == 0.63
    assert results["sparsity"]["mnist"]["figure_zero_frac"] == {"backprop": 0.412, "adversarial": 0.632}
    assert loaded.run["data_verified"] is True

    text = render_tables(loaded)
    table2 = {(row[0], row[1]): row for row in markdown_tables(text.split("## Table 2")[1])[0][1]}
    assert table2[("2x800", "tanh")][3].startswith(f"{error_of('tanh', 800, 'adversarial'):.2f} ± ")
    assert table2[("2x800", "tanh")][5].startswith(f"{error_of('tanh', 800, 'backprop'):.2f} ± ")
    assert table2[("2x800", "tanh")][7].startswith(f"{error_of('tanh', 800, 'goodfellow'):.2f} ± ")
    attack = markdown_tables(text.split("## FGSM transfer")[1])[0][1]
    assert [row[3:5] for row in attack] == [["91.00 ± 1.00", "21.00 ± 2.00"], ["99.00 ± 0.50", "61.00 ± 3.00"]]
    metrics = metrics_json(loaded)
    relu = metrics["table2"]["mnist"]["relu-400"]
    assert relu["adversarial"]["error_pct"] == round(error_of("relu", 400, "adversarial"), 2)
    # reports/results.csv: one row per (net, method, seed, metric) of each kind
    rows = results_csv(loaded).splitlines()
    assert (
        f"table2,mnist,tanh-800,tanh,800,,goodfellow,1,,,,,error_pct,{error_of('tanh', 800, 'goodfellow') + 0.125}"
        in rows
    )
    # the curves of every net, with its keys (Figure 1 and reports/plots draw them)
    assert set(curves.groupby(["net", "method"]).groups) == {
        (f"{a}-{u}", m) for a in ("logistic", "tanh", "relu") for u in (400, 800) for m in METHODS
    }
    plots = plot_tables(curves, loaded.tables["robustness"])
    assert len(plots) == 2 * 6  # curves and robustness of each net
    tanh800 = list(csv.DictReader(io.StringIO(plots["curves/mnist-tanh-800.csv"])))
    assert float(tanh800[1]["Goodfellow test"]) == pytest.approx(error_of("tanh", 800, "goodfellow") + 0.05, abs=1e-3)
    assert float(tanh800[1]["back-prop train"]) == pytest.approx(error_of("tanh", 800, "backprop") / 2, abs=1e-3)


def test_a_configuration_not_in_params_does_not_leak_into_the_tables(runs):
    params, runs = runs
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw.update(seeds=2)
    raw["mnist"]["units"] = [400]
    raw["mnist"]["methods"]["goodfellow"] = ["relu"]
    results = summary(report.load(parse_params(raw), runs)[0])
    assert set(results["table2"]["mnist"]) == {"logistic-400", "tanh-400", "relu-400"}
    assert "goodfellow" not in results["table2"]["mnist"]["tanh-400"]
    assert set(results["robustness"]["mnist"]["tanh-400"]) == {"backprop", "adversarial"}


def test_the_window_before_the_reported_one_and_the_still_learning_table(runs):
    """At a reduced epoch count tables.md shows whether the error still fell: the seed-mean test
    error of the `last_epochs` epochs before the reported window, read from curves.csv."""
    _, runs = runs
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw.update(seeds=2)
    raw["mnist"].update(units=[400, 800], epochs=4, last_epochs=2)
    raw["cifar10"]["datasets"] = []
    params = parse_params(raw)
    # epochs 1-4: test error 5, 4, 3, 2 % (+ 1 point for seed 1): the window before is epochs 1-2
    (runs / "mnist-relu-400-adversarial" / "curves.csv").write_text(
        "epoch,seed,train_error,test_error,train_loss\n"
        + "".join(f"{ep},{s},0.01,{(6 - ep + s) / 100},0.1\n" for s in (0, 1) for ep in (4, 3, 2, 1))
    )
    loaded, _ = report.load(params, runs)
    t2 = loaded.tables["table2"]
    before = t2[(t2["metric"] == "window_before_pct") & (t2["net"] == "relu-400") & (t2["method"] == "adversarial")]
    assert dict(zip(before["seed"], before["value"])) == pytest.approx({0: 4.5, 1: 5.5})
    text = render_tables(loaded)
    assert "**Still learning at the end of the run** (4 of the paper's 150 epochs)" in text
    # the reported window: metrics.json's 3.413 -+ 0.125, below 4.5 and 5.5 in both seeds
    row = next(line for line in text.splitlines() if line.startswith("| mnist     | 2x400 ReLU | adversarial"))
    assert [c.strip() for c in row.split("|")[4:-1]] == ["5.00", "3.41", "2 of 2"]
    assert "The error fell in every seed in 1 of 1 nets and methods" in text

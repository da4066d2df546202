"""DVC stage: reports/tables.md, metrics.json, headline.md, results.csv, figures/*.png and plots/.

The list of configurations comes from params.yaml, never from globbing runs/: results of a
configuration that is no longer in params cannot leak into the tables. `load` turns every result
file of those configurations into the tidy tables of advgrad.report.tables (one row per seed and
metric), written as they are to reports/results.csv; every number of the report is a pivot of
them. A number is printed only if a run produced it; a configuration without results is "not run".
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import shutil
from importlib.metadata import version
from pathlib import Path

import pandas as pd

from advgrad.core.io import save_json, save_text, staging_dir
from advgrad.report import tables
from advgrad.report.figures import plot_error_curves, plot_robustness, plot_tables
from advgrad.report.ledger import converged_epoch
from advgrad.report.tables import Results
from stages.common import cli, stage_errors
from stages.params import MNIST_METHODS, Params


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def flat_dict(node: dict, prefix: str = "") -> dict:
    """A nested dict as {dotted key: value}, tuples as lists."""
    out = {}
    for key, value in node.items():
        if isinstance(value, dict):
            out.update(flat_dict(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = list(value) if isinstance(value, tuple) else value
    return out


def flat_settings(params: Params) -> dict:
    """params.yaml as {dotted key: value}, lists as lists (the protocol table's keys)."""
    return flat_dict(dataclasses.asdict(params))


def merge_provenance(blocks: list[dict]) -> dict:
    """One summary of the provenance blocks of every training result of the run."""

    def distinct(key):
        return sorted({b[key] for b in blocks if b.get(key) is not None})

    dirty = [b.get("git_dirty") for b in blocks]
    return {
        "git_revs": distinct("git_rev"),
        "git_dirty": True if any(dirty) else (None if None in dirty else False),
        "dvc_exp_names": distinct("dvc_exp_name"),
        "dvc_exp_baseline_revs": distinct("dvc_exp_baseline_rev"),
        "devices": distinct("device"),
        "torch": distinct("torch"),
    }


def load(params: Params, runs: Path) -> tuple[Results, pd.DataFrame]:
    """The run's results as tidy tables, and the curves.csv rows of every MNIST net (one row per
    seed and epoch, with the net's keys)."""
    rows: dict[str, list[dict]] = {kind: [] for kind in tables.KINDS}
    curves, trained, not_run = [], [], {}

    def per_seed(kind: str, metrics: dict, keys: dict) -> None:  # a training stage's Table 2/3 statistic
        trained.append(metrics)
        pairs = zip(metrics["seeds"], metrics["per_seed_pct"])
        rows[kind] += [{**keys, "seed": s, "metric": "error_pct", "value": v} for s, v in pairs]

    p = params.mnist
    for ds, act, units, method in itertools.product(p.datasets, p.activations, p.units, MNIST_METHODS):
        if act not in p.trained(method):
            continue
        keys = {"dataset": ds, "net": f"{act}-{units}", "activation": act, "units": units, "method": method}
        key = f"{ds}-{act}-{units}-{method}"
        if (m := _read_json(runs / key / "metrics.json")) is not None:
            per_seed("table2", m, keys)
            if (seconds := m.get("provenance", {}).get("seconds_per_epoch")) is not None:
                rows["timing"].append({**keys, "metric": "seconds_per_epoch", "value": seconds})
            if (runs / key / "curves.csv").exists():
                curves.append(df := pd.read_csv(runs / key / "curves.csv").assign(**keys))
                w = p.last_epochs
                for s, g in df.sort_values("epoch").groupby("seed"):
                    # Figure 1's "converge in about 50 epochs" (advgrad.report.ledger)
                    value = converged_epoch(100 * g["train_error"])
                    rows["table2"].append({**keys, "seed": s, "metric": "converged_epoch", "value": value})
                    if len(g) >= 2 * w:  # the window before the reported one: was the error still falling?
                        value = 100 * g["test_error"].iloc[-2 * w : -w].mean()
                        rows["table2"].append({**keys, "seed": s, "metric": "window_before_pct", "value": value})
        if (csv := runs / "robustness" / f"{key}.csv").exists():
            df = pd.read_csv(csv).rename(columns={"error_pct": "value"})  # seed, attack, eps, value, n_images
            rows["robustness"] += df.assign(**keys, metric="error_pct").to_dict("records")
            rows["robustness"] += [  # AutoAttack runs on the first robustness.autoattack.images of them
                {**keys, "attack": attack, "metric": "n_images", "value": g["n_images"].iloc[0]}
                for attack, g in df.groupby("attack")
            ]
    for ds in params.mnist.datasets:
        net = {"dataset": ds, "net": "relu-400", "activation": "relu", "units": 400}
        fit = (
            _read_json(runs / f"{ds}-relu-400-{m}-fit" / "metrics.json")
            for m in ("backprop", "adversarial", "random", "dropout")
        )
        trained += [m for m in fit if m is not None]
        # runs/attack: each target family's error per (source seed, target seed) pair
        for eps, e in ((_read_json(runs / "attack" / f"{ds}.json") or {}).get("eps") or {}).items():
            if float(eps) not in params.attack.eps:
                continue
            if e.get("not_run"):
                not_run[f"attack/{ds}"] = e["not_run"]
            rows["attack"] += [
                {**net, "method": m, "eps": float(eps), "source_seed": source, "seed": target}
                | {"metric": "error_pct", "value": value}
                for m in MNIST_METHODS
                for (source, target), value in zip(e["pairs"], e.get(f"{m}_per_pair_pct", []), strict=False)
            ]
        if (s := _read_json(runs / "analysis" / ds / "sparsity.json")) is not None:
            images = re.search(r"\d+", s["images"])  # "the 10000 test images"
            rows["sparsity"] += [{**net, "metric": "figure_seed", "value": s["figure_seed"]}]
            rows["sparsity"] += [{**net, "metric": "n_images", "value": int(images[0])}] if images else []
            for m in ("backprop", "adversarial"):  # Figure 3's nets; the paper's 39 % -> 61 %
                seeds = zip(s[m]["seeds"], s[m]["per_seed_overall"])
                rows["sparsity"] += [
                    {**net, "method": m, "seed": seed, "layer": "all", "metric": "zero_frac", "value": v}
                    for seed, v in seeds
                ] + [  # the stage keeps the per-layer fractions as means over seeds only
                    {**net, "method": m, "layer": i + 1, "metric": "mean_zero_frac", "value": v}
                    for i, v in enumerate(s[m]["per_layer"])
                ]
    c = params.cifar10
    for ds, (arch, method), prep in itertools.product(c.datasets, c.cells, c.preprocessing):
        if (m := _read_json(runs / f"{ds}-{arch}-{prep}-{method}" / "metrics.json")) is not None:
            per_seed("table3", m, {"dataset": ds, "net": arch, "prep": prep, "method": method})
    run = {
        "datasets": list(params.mnist.datasets),
        "cifar_datasets": list(c.datasets),
        "settings": flat_settings(params),
        "provenance": merge_provenance([m["provenance"] for m in trained if "provenance" in m]),
        "dvc": version("dvc"),
        # Verified only if some run happened and every run's data was verified.
        "data_verified": bool(trained) and all(m.get("data_verified", False) for m in trained),
    }
    tidy = {kind: tables.tidy(r) for kind, r in rows.items()}
    columns = ["epoch", "seed", "train_error", "test_error", "dataset", "net", "activation", "units", "method"]
    curves_df = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=columns)
    return Results(run, tidy, tables.notes(run), not_run=not_run), curves_df


def write_figures(params: Params, runs: Path, results: Results, curves: pd.DataFrame, out: Path) -> list[str]:
    """reports/figures: Figure 1 and the robustness figure of each dataset, drawn from the tables.tidy
    rows, and Figures 2-3 as the analyze stage drew them; the file names."""
    units, robust = tables.fig1_units(results.run["settings"]), results.tables["robustness"]

    with staging_dir(out) as tmp:  # the folder appears whole or not at all
        for ds in params.mnist.datasets:
            fig1 = curves[(curves["dataset"] == ds) & (curves["units"] == units)]
            if not (fig1 := fig1[fig1["method"].isin(tables.FIGURE1_METHODS)]).empty:
                title = f"{ds}: training and test error per epoch, mean over {params.seeds} seeds"
                plot_error_curves(fig1, tmp / f"fig1_error_curves-{ds}.png", units=units, title=title)
            rb = robust[(robust["dataset"] == ds) & (robust["metric"] == "error_pct")]
            if not rb.empty:
                rb = rb.assign(config="2x" + rb["units"].astype(str) + " " + rb["activation"], error_pct=rb["value"])
                plot_robustness(rb, tmp / f"robustness-{ds}.png", title=f"{ds}: white-box error against eps")
            for fig in ("fig2_first_layer_weights", "fig3_hidden_activations"):
                if (src := runs / "analysis" / ds / f"{fig}.png").exists():
                    shutil.copyfile(src, tmp / f"{fig}-{ds}.png")
        return sorted(p.name for p in tmp.iterdir())


def main(argv=None) -> None:
    args, params = cli(__doc__, argv, ("--runs", Path, Path("runs")), ("--out", Path, Path("reports")))
    with stage_errors("report"):
        results, curves = load(params, args.runs)
        written = write_figures(params, args.runs, results, curves, args.out / "figures")
        results = dataclasses.replace(results, figures=tuple(written))
        plots = plot_tables(curves, results.tables["robustness"])
        with staging_dir(args.out / "plots") as tmp:
            for rel, text in plots.items():
                save_text(text, tmp / rel)
        save_json(tables.metrics_json(results), args.out / "metrics.json")
        save_text(tables.render_tables(results), args.out / "tables.md")
        save_text(tables.headline(results), args.out / "headline.md")
        save_text(tables.results_csv(results), args.out / "results.csv")


if __name__ == "__main__":
    main()

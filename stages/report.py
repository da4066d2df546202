"""DVC stage: reports/tables.md, reports/metrics.json and reports/figures/*.png.

The list of configurations comes from params.yaml, never from globbing runs/: results of a
configuration that is no longer in params cannot leak into the tables. A number is printed
only if a run produced it; a configuration without results is reported as "not run".
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from importlib.metadata import version
from pathlib import Path

import pandas as pd

from advgrad.core.io import save_json, save_text
from advgrad.core.stats import mean_std, paired_difference
from advgrad.report.figures import plot_error_curves, plot_robustness
from advgrad.report.tables import headline, metrics_json, render_tables
from stages.common import cli, stage_errors
from stages.params import MNIST_METHODS, Params

FIGURE1_METHODS = ("backprop", "adversarial")  # the paper's Figure 1 shows these


def notes(params: Params) -> list[str]:
    """Every choice made where the paper is silent or ambiguous (see also the Protocol table)."""
    return [
        "MNIST output layer: logistic (sigmoid) units with binary cross-entropy on one-hot targets, "
        "summed over the 10 outputs, as in the author's later Torch code (anokland/dfa-torch); the "
        "paper says only 'logistic layer' and 'cross-entropy'. The gradient is the mean over the "
        "mini-batch, from the paper's text ('The learning rate was averaged over the number of "
        "samples in each mini-batch'); the author's code sums its BCE gradient over the batch.",
        "FGSM uses sign(0) = 0 (torch.sign); the perturbed training input is "
        + ("clipped to [0, 1]." if params.mnist.clip else "not clipped to [0, 1] (author's code)."),
        "Attack examples are " + ("clipped to [0, 1]." if params.attack.clip else
                                  "not clipped to [0, 1] (the paper does not say)."),
        "Algorithm 1 step 2 computes only the input gradient (no weight gradients); with eps = 0 the "
        "step is exactly standard back-propagation, and the backprop baselines are that code path.",
        f"Validation split: the last {params.mnist.validation_size} training images, as the author's "
        "code's -validate option takes them (the paper says only that a validation set was used). "
        "Table 2 nets train on the whole training set; the 2x400 ReLU nets of the FGSM transfer "
        "experiment and of Figures 2-3 train without the validation split.",
        "FGSM transfer: source seed i attacks the back-prop and the adversarial target of seed i+1, "
        "never its own seed.",
        "Goodfellow et al.'s method (beyond the paper): their eq. 3, "
        f"{params.mnist.clean_weight:g} J(x) + {1 - params.mnist.clean_weight:g} J(x + mu), with this project's "
        "nets, eps, learning rates, epochs, seeds and loss; mu held constant. Not Table 1's 0.78 % (a 2x1600 "
        "maxout net with dropout under another protocol).",
        "Robustness (beyond the paper): each net attacked with its own gradients on the first "
        f"{'all' if params.robustness.images is None else params.robustness.images} test images; FGSM and "
        f"L-infinity PGD ({params.robustness.pgd_steps} steps of {params.robustness.pgd_step_size:g}, uniform "
        f"random start, {params.robustness.pgd_restarts} restart(s)), examples "
        + ("clipped to [0, 1]" if params.robustness.clip else "not clipped")
        + "; an image is broken if the training objective or softmax cross-entropy breaks it.",
        f"Figure 2's dropout net: input dropout {params.mnist.dropout.input}, hidden dropout "
        f"{params.mnist.dropout.hidden} (rates not given in the paper; Srivastava et al. 2014's MNIST values).",
        "CIFAR-10 'simple' normalisation: one global scalar mean and std of the training set "
        f"(author's code); ZCA fitted on the training set, eigenvalue regulariser {params.cifar10.zca_epsilon:g} "
        "on [0, 1] pixels (the author's unsup.zca_whiten default, 1e-5 on 0-255 pixels, is 1.54e-10)"
        + (", after global contrast normalisation." if params.cifar10.gcn else ", no contrast normalisation."),
        f"CIFAR-10 conv dropout: {', '.join(f'{r:g}' for r in params.cifar10.dropout.conv)} in conv blocks "
        f"1-3, {params.cifar10.dropout.conv_position.replace('_', ' ')}. The paper says '0.25 for "
        "convolutional layers'; the author's conv code drops 0.25, 0.25, 0.5 after each ReLU, before "
        "the pooling (cifar10.dropout.conv: [0.25, 0.25, 0.25] is the paper's wording).",
        f"CIFAR-10 learning-rate rule (author's code): running mean m = {params.cifar10.halving_decay:g} m "
        f"+ {1 - params.cifar10.halving_decay:g} err of the epoch's online training error, m starting at 1; "
        "halve when err >= m; stop after "
        f"{params.cifar10.max_halvings} halvings, {100 * params.cifar10.target_train_error:g} % training error "
        f"or {params.cifar10.max_epochs} epochs. Max-norm {params.cifar10.max_norm:g} on every layer's "
        "incoming weight vectors.",
        "CIFAR-10 momentum with Torch7 semantics (the author's framework): v = m v + (1 - dampening) g, "
        f"dampening {params.cifar10.conv.dampening:g} for the conv net; the test error of each seed is "
        "the error at the end of its training.",
    ] + ([f"Figure 1 shows the 2x{fig1_units(params)} nets: this run has no 2x800 nets."]
         if params.mnist.units and fig1_units(params) != 800 else [])


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
    return {"git_revs": distinct("git_rev"),
            "git_dirty": True if any(dirty) else (None if None in dirty else False),
            "dvc_exp_names": distinct("dvc_exp_name"), "dvc_exp_baseline_revs": distinct("dvc_exp_baseline_rev"),
            "devices": distinct("device"), "torch": distinct("torch")}


def fig1_units(params: Params) -> int | None:
    """Figure 1 shows the 2x800 nets; a run without them shows its widest nets instead."""
    units = params.mnist.units
    return 800 if 800 in units else max(units, default=None)


def _statistic(metrics: dict) -> dict:
    """The table entry of one training stage's metrics.json."""
    return {k: metrics[k] for k in ("error_pct", "std_pct", "n_seeds")}


def _per_seed(metrics: dict) -> dict[int, float]:
    return dict(zip(metrics.get("seeds", []), metrics.get("per_seed_pct", [])))


def robustness_entry(csv_path: Path) -> dict | None:
    """One robustness CSV as {"n_images", "fgsm": {eps: stat}, "pgd": {eps: stat}}, a stat being
    the mean ± std over seeds of the error in percent (eps "0" is the clean error)."""
    if not csv_path.exists():
        return None
    df = pd.read_csv(csv_path)
    entry = {"n_images": int(df["n_images"].iloc[0])}
    for attack, rows in df.groupby("attack"):
        entry[attack] = {}
        for eps, at_eps in rows.groupby("eps"):
            mean, std = mean_std(at_eps.sort_values("seed")["error_pct"].tolist())
            entry[attack][f"{eps:g}"] = {"error_pct": mean, "std_pct": std, "n_seeds": len(at_eps)}
    return entry


def gather(params: Params, runs: Path) -> tuple[dict, dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """The results dict of advgrad.report.tables, plus per dataset the curves of Figure 1's nets and the
    robustness rows of every net."""
    p = params.mnist
    curve_units = fig1_units(params)
    table2, attack, sparsity, table3, curves, robustness, robust_rows = {}, {}, {}, {}, {}, {}, {}
    run_metrics = []
    for ds in p.datasets:
        rows, frames, robust = {}, [], []
        for act in p.activations:
            for units in p.units:
                cfg, per_seed = f"{act}-{units}", {}
                for method in MNIST_METHODS:
                    if act not in p.trained(method):
                        continue
                    key = f"{ds}-{act}-{units}-{method}"
                    m = _read_json(runs / key / "metrics.json")
                    if m is not None:
                        run_metrics.append(m)
                        rows.setdefault(cfg, {})[method] = _statistic(m)
                        per_seed[method] = _per_seed(m)
                        curves_csv = runs / key / "curves.csv"
                        if units == curve_units and method in FIGURE1_METHODS and curves_csv.exists():
                            frames.append(pd.read_csv(curves_csv).assign(activation=act, method=method))
                    r_csv = runs / "robustness" / f"{key}.csv"
                    entry = robustness_entry(r_csv)
                    if entry is not None:
                        robustness.setdefault(ds, {}).setdefault(cfg, {})[method] = entry
                        robust.append(pd.read_csv(r_csv).assign(config=f"2x{units} {act}", method=method))
                for method, name in (("adversarial", "difference"), ("goodfellow", "goodfellow_difference")):
                    if method in per_seed and "backprop" in per_seed:
                        diff = paired_difference(per_seed[method], per_seed["backprop"])
                        if diff is not None:
                            rows[cfg][name] = diff
        table2[ds] = rows
        if frames:
            curves[ds] = pd.concat(frames, ignore_index=True)
        if robust:
            robust_rows[ds] = pd.concat(robust, ignore_index=True)
        for method in ("backprop", "adversarial", "dropout"):
            m = _read_json(runs / f"{ds}-relu-400-{method}-fit" / "metrics.json")
            if m is not None:
                run_metrics.append(m)
        a = _read_json(runs / "attack" / f"{ds}.json")
        if a is not None:
            attack[ds] = {eps: row for eps, row in a["eps"].items()
                          if float(eps) in params.attack.eps}
        s = _read_json(runs / "analysis" / ds / "sparsity.json")
        if s is not None:
            sparsity[ds] = {"backprop_zero_frac": s["backprop"]["overall"],
                            "adversarial_zero_frac": s["adversarial"]["overall"],
                            "per_layer": {k: s[k]["per_layer"] for k in ("backprop", "adversarial")},
                            "seeds": s["backprop"]["seeds"], "images": s["images"],
                            "figure_seed": s["figure_seed"],
                            "figure_zero_frac": {k: s[k]["figure_overall"] for k in ("backprop", "adversarial")}}
    c = params.cifar10
    for ds in c.datasets:
        for arch, method in c.cells:
            for prep in c.preprocessing:
                m = _read_json(runs / f"{ds}-{arch}-{prep}-{method}" / "metrics.json")
                if m is not None:
                    run_metrics.append(m)
                    table3.setdefault(f"{arch}-{prep}", {})[method] = _statistic(m)
    run = {
        "datasets": list(p.datasets), "cifar_datasets": list(c.datasets),
        "settings": flat_settings(params),
        "provenance": merge_provenance([m["provenance"] for m in run_metrics if "provenance" in m]),
        "dvc": version("dvc"),
        # Verified only if some run happened and every run's data was verified.
        "data_verified": bool(run_metrics) and all(m.get("data_verified", False) for m in run_metrics),
    }
    results = {"run": run, "table2": table2, "attack": attack, "sparsity": sparsity,
               "robustness": robustness, "table3": table3, "notes": notes(params)}
    return results, curves, robust_rows


def figure_captions(params: Params, results: dict, written: list[str]) -> dict[str, list[dict]]:
    """{tables.md section: [{"path", "caption"}]} of the figures that were written: which data,
    which nets, which seeds (or their mean) and which images each shows."""
    n, out = params.seeds, {}
    methods = ", ".join(m for m in ("backprop", "adversarial", "goodfellow")
                        if any(m in cfg for ds in results["table2"].values() for cfg in ds.values()))
    for ds in params.mnist.datasets:
        sp = results["sparsity"].get(ds, {})
        seed, images = sp.get("figure_seed", params.seed_base), sp.get("images", "the test images")
        robust = results["robustness"].get(ds, {})
        n_images = sorted({e["n_images"] for cfg in robust.values() for e in cfg.values()})
        captions = {
            "table2": (f"fig1_error_curves-{ds}.png",
                       f"Figure 1 ({ds}): clean training error (dashed) and test error (solid) per epoch of the "
                       f"2x{fig1_units(params)} nets ({methods}), mean over {n} seeds; the band spans the seeds' "
                       "test errors."),
            "sparsity": (f"fig2_first_layer_weights-{ds}.png",
                         f"Figure 2 ({ds}): first-layer weights of the 2x400 ReLU nets trained without the "
                         f"validation split (back-prop, adversarial, dropout), seed {seed}, 100 units as 28x28 tiles."),
            "sparsity3": (f"fig3_hidden_activations-{ds}.png",
                          f"Figure 3 ({ds}): hidden-unit activations of seed {seed}'s 2x400 ReLU nets (back-prop, "
                          f"adversarial) on {images}, with the fraction of exact zeros."),
            "robustness": (f"robustness-{ds}.png",
                           f"Robustness ({ds}): white-box error against eps, PGD solid and FGSM dashed, colour per "
                           f"method, mean over {n} seeds (band: the seeds' spread), on the first "
                           f"{', '.join(map(str, n_images)) or '?'} test images."),
        }
        for section, (name, caption) in captions.items():
            if name in written:
                out.setdefault(section.rstrip("3"), []).append({"path": f"figures/{name}", "caption": caption})
    return out


def write_figures(params: Params, runs: Path, curves: dict[str, pd.DataFrame],
                  robust_rows: dict[str, pd.DataFrame], out: Path) -> list[str]:
    """Build reports/figures in a temporary folder, then swap it into place; the file names."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".figures.", dir=out.parent))
    try:
        for ds, df in curves.items():
            plot_error_curves(df, tmp / f"fig1_error_curves-{ds}.png", units=fig1_units(params),
                              title=f"{ds}: training and test error per epoch, mean over {params.seeds} seeds")
        for ds, df in robust_rows.items():
            plot_robustness(df, tmp / f"robustness-{ds}.png", title=f"{ds}: white-box error against eps")
        for ds in params.mnist.datasets:
            for fig in ("fig2_first_layer_weights", "fig3_hidden_activations"):
                src = runs / "analysis" / ds / f"{fig}.png"
                if src.exists():
                    shutil.copyfile(src, tmp / f"{fig}-{ds}.png")
        written = sorted(p.name for p in tmp.iterdir())
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return written


PLOT_METHODS = ("backprop", "adversarial", "goodfellow")
PLOT_NAMES = {"backprop": "back-prop", "adversarial": "adversarial", "goodfellow": "Goodfellow"}
CURVE_SERIES = [f"{PLOT_NAMES[m]} {s}" for m in PLOT_METHODS
                for s in ("test", "train", "test seed-min", "test seed-max")]
ROBUSTNESS_SERIES = [f"{PLOT_NAMES[m]} {a}" for m in PLOT_METHODS
                     for a in ("PGD", "FGSM", "PGD seed-min", "PGD seed-max")]


def _series(frame: pd.DataFrame, x: str, column: str) -> pd.DataFrame:
    """Mean, min and max over seeds of `column` (in %) per value of `x`."""
    grouped = frame.groupby(x)[column]
    return pd.DataFrame({"mean": 100 * grouped.mean(), "min": 100 * grouped.min(), "max": 100 * grouped.max()})


def plot_tables(params: Params, runs: Path) -> dict[str, str]:
    """The DVC plots of dvc.yaml's top-level `plots:` {relative path: CSV}: per dataset and net,
    the seed-mean training and test error per epoch of every method (with the seeds' spread of
    the test error), and the seed-mean white-box error against eps. Every file has the same
    columns (a method that did not run is left empty), so one plot definition draws them all."""
    out = {}
    for ds in params.mnist.datasets:
        for act in params.mnist.activations:
            for units in params.mnist.units:
                curves, robust = pd.DataFrame(), pd.DataFrame()
                for method in PLOT_METHODS:
                    name, key = PLOT_NAMES[method], f"{ds}-{act}-{units}-{method}"
                    if act not in params.mnist.trained(method):
                        continue
                    if (runs / key / "curves.csv").exists():
                        c = pd.read_csv(runs / key / "curves.csv")
                        test, train = _series(c, "epoch", "test_error"), _series(c, "epoch", "train_error")
                        curves = curves.join(pd.DataFrame({f"{name} test": test["mean"], f"{name} train": train["mean"],
                                                           f"{name} test seed-min": test["min"],
                                                           f"{name} test seed-max": test["max"]}), how="outer")
                    if (runs / "robustness" / f"{key}.csv").exists():
                        r = pd.read_csv(runs / "robustness" / f"{key}.csv").assign(error=lambda d: d["error_pct"] / 100)
                        pgd, fgsm = (_series(r[r["attack"] == a], "eps", "error") for a in ("pgd", "fgsm"))
                        robust = robust.join(pd.DataFrame({f"{name} PGD": pgd["mean"], f"{name} FGSM": fgsm["mean"],
                                                           f"{name} PGD seed-min": pgd["min"],
                                                           f"{name} PGD seed-max": pgd["max"]}), how="outer")
                for folder, frame, x, series in (("curves", curves, "epoch", CURVE_SERIES),
                                                 ("robustness", robust, "eps", ROBUSTNESS_SERIES)):
                    if not frame.empty:
                        frame = frame.reindex(columns=series).rename_axis(x).reset_index()
                        out[f"{folder}/{ds}-{act}-{units}.csv"] = frame.to_csv(index=False, float_format="%.4g")
    return out


def write_plots(tables: dict[str, str], out: Path) -> None:
    """reports/plots, written in a temporary folder and swapped into place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".plots.", dir=out.parent))
    try:
        for rel, text in tables.items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_text(text)
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


README_START, README_END = "<!-- results: generated from reports/headline.md -->", "<!-- /results -->"


def sync_readme(readme: Path, block: str) -> None:
    """Put `block` (reports/headline.md) between the README's results markers."""
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        raise SystemExit(f"report: {readme} has no {README_START} ... {README_END} block")
    head, rest = text.split(README_START, 1)
    save_text(head + README_START + "\n" + block.strip() + "\n" + README_END + rest.split(README_END, 1)[1], readme)


def main(argv=None) -> None:
    args, params = cli(__doc__, argv, ("--runs", Path, Path("runs")), ("--out", Path, Path("reports")),
                       ("--sync-readme", Path, None))
    if args.sync_readme:  # by hand, after a committed run: python -m stages.report --sync-readme README.md
        sync_readme(args.sync_readme, (args.out / "headline.md").read_text())
        return
    with stage_errors("report"):
        results, curves, robust_rows = gather(params, args.runs)
        written = write_figures(params, args.runs, curves, robust_rows, args.out / "figures")
        results["figures"] = figure_captions(params, results, written)
        write_plots(plot_tables(params, args.runs), args.out / "plots")
        save_json(metrics_json(results), args.out / "metrics.json")
        save_text(render_tables(results), args.out / "tables.md")
        save_text(headline(results), args.out / "headline.md")


if __name__ == "__main__":
    main()

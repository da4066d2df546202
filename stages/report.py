"""DVC stage: reports/tables.md, reports/metrics.json and reports/figures/*.png.

The list of configurations comes from params.yaml, never from globbing runs/: results of a
configuration that is no longer in params cannot leak into the tables. A number is printed
only if a run produced it; a configuration without results is reported as "not run".
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import shutil
import subprocess
import tempfile
from importlib.metadata import version
from pathlib import Path

import pandas as pd

from advgrad.figures import plot_error_curves, plot_whitebox
from advgrad.io import save_json, save_text
from advgrad.report import metrics_json, render_tables
from stages.params import Params, load_params_or_exit

log = logging.getLogger("advgrad.report")

def notes(params: Params) -> list[str]:
    """Every choice made where the paper is silent or ambiguous (DESIGN.md)."""
    return [
        "MNIST output layer: logistic (sigmoid) units with binary cross-entropy on one-hot targets, "
        "summed over the 10 outputs and averaged over the mini-batch, as in the author's later Torch "
        "code (anokland/dfa-torch); the paper says only 'logistic layer' and 'cross-entropy'.",
        "FGSM uses sign(0) = 0 (torch.sign); the perturbed training input is "
        + ("clipped to [0, 1]." if params.mnist.clip else "not clipped to [0, 1] (author's code)."),
        "Attack examples are " + ("clipped to [0, 1]." if params.attack.clip else
                                  "not clipped to [0, 1] (the paper does not say)."),
        "Algorithm 1 step 2 computes only the input gradient (no weight gradients); with eps = 0 the "
        "step is exactly standard back-propagation, and the backprop baselines are that code path.",
        f"Validation split: the last {params.mnist.validation_size} training images. Table 2 nets train "
        "on the whole training set; the 2x400 ReLU nets of the FGSM transfer experiment and of "
        "Figures 2-3 train without the validation split.",
        "FGSM transfer: source seed i attacks backprop seed i+1 (never itself) and adversarial seed i.",
        f"Figure 2's dropout net: input dropout {params.mnist.dropout.input}, hidden dropout "
        f"{params.mnist.dropout.hidden} (rates not given in the paper; Srivastava et al. 2014's MNIST values).",
        "Error = per seed, the mean test error of the last "
        f"{params.mnist.last_epochs} epochs; mean ± sample std (ddof 1) over seeds.",
        "CIFAR-10 'simple' normalisation: one global scalar mean and std of the training set "
        f"(author's code); ZCA fitted on the training set, eigenvalue regulariser {params.cifar10.zca_epsilon}"
        + (", after global contrast normalisation." if params.cifar10.gcn else ", no contrast normalisation."),
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


def _git_rev() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return rev + ("+uncommitted" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def fig1_units(params: Params) -> int | None:
    """Figure 1 shows the 2x800 nets; a run without them shows its widest nets instead."""
    units = params.mnist.units
    return 800 if 800 in units else max(units, default=None)


def _statistic(metrics: dict) -> dict:
    """The table entry of one training stage's metrics.json."""
    return {k: metrics[k] for k in ("error_pct", "std_pct", "n_seeds")}


def gather(params: Params, runs: Path) -> tuple[dict, dict[str, pd.DataFrame]]:
    """The results dict of advgrad.report, plus the per-dataset curves of Figure 1's nets."""
    p = params.mnist
    curve_units = fig1_units(params)
    table2, attack, sparsity, table3, curves = {}, {}, {}, {}, {}
    run_metrics = []
    for ds in p.datasets:
        rows, frames = {}, []
        for act in p.activations:
            for units in p.units:
                for method in ("backprop", "adversarial"):
                    key = f"{ds}-{act}-{units}-{method}"
                    m = _read_json(runs / key / "metrics.json")
                    if m is None:
                        continue
                    run_metrics.append(m)
                    rows.setdefault(f"{act}-{units}", {})[method] = _statistic(m)
                    curves_csv = runs / key / "curves.csv"
                    if units == curve_units and curves_csv.exists():
                        frames.append(pd.read_csv(curves_csv).assign(activation=act, method=method))
        table2[ds] = rows
        if frames:
            curves[ds] = pd.concat(frames, ignore_index=True)
        a = _read_json(runs / "attack" / f"{ds}.json")
        if a is not None:
            attack[ds] = {eps: row for eps, row in a["eps"].items()
                          if float(eps) in params.attack.eps}
        s = _read_json(runs / "analysis" / ds / "sparsity.json")
        if s is not None:
            sparsity[ds] = {"backprop_zero_frac": s["backprop"]["overall"],
                            "adversarial_zero_frac": s["adversarial"]["overall"],
                            "per_layer": {k: s[k]["per_layer"] for k in ("backprop", "adversarial")}}
    c = params.cifar10
    for ds in c.datasets:
        for arch in c.archs:
            for prep in c.preprocessing:
                for method in c.methods:
                    m = _read_json(runs / f"{ds}-{arch}-{prep}-{method}" / "metrics.json")
                    if m is not None:
                        run_metrics.append(m)
                        table3.setdefault(f"{arch}-{prep}", {})[method] = _statistic(m)
    devices = sorted({m.get("device", "?") for m in run_metrics})
    run = {
        "datasets": list(p.datasets), "epochs": p.epochs,
        "seeds": params.seeds, "train_size": p.train_size, "device": ", ".join(devices) or "none",
        "torch": run_metrics[0].get("torch", "?") if run_metrics else version("torch"),
        "dvc": version("dvc"), "git_rev": _git_rev(),
        # Verified only if some run happened and every run's data was verified.
        "data_verified": bool(run_metrics) and all(m.get("data_verified", False) for m in run_metrics),
        "eps": params.eps, "batch_size": p.batch_size, "lr": dataclasses.asdict(p.lr),
        "cifar": ({"max_epochs": c.max_epochs, "train_size": c.train_size, "seeds": params.seeds}
                  if c.datasets else None),
    }
    results = {"run": run, "table2": table2, "attack": attack, "sparsity": sparsity,
               "table3": table3, "notes": notes(params)}
    return results, curves


def write_figures(params: Params, runs: Path, curves: dict[str, pd.DataFrame], out: Path) -> None:
    """Build reports/figures in a temporary folder, then swap it into place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".figures.", dir=out.parent))
    try:
        for ds, df in curves.items():
            plot_error_curves(df, tmp / f"fig1_error_curves-{ds}.png", units=fig1_units(params))
        for ds in params.mnist.datasets:
            frames = []
            for act in params.mnist.activations:
                for units in params.mnist.units:
                    for method in ("backprop", "adversarial"):
                        f = runs / "whitebox" / f"{ds}-{act}-{units}-{method}.csv"
                        if f.exists():
                            frames.append(pd.read_csv(f).assign(model=f"2x{units} {act} {method}"))
            if frames:
                plot_whitebox(pd.concat(frames, ignore_index=True), tmp / f"whitebox_fgsm-{ds}.png")
            for fig in ("fig2_first_layer_weights", "fig3_hidden_activations"):
                src = runs / "analysis" / ds / f"{fig}.png"
                if src.exists():
                    shutil.copyfile(src, tmp / f"{fig}-{ds}.png")
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, default=Path("runs"))
    ap.add_argument("--out", type=Path, default=Path("reports"))
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    params = load_params_or_exit(args.params)
    results, curves = gather(params, args.runs)
    write_figures(params, args.runs, curves, args.out / "figures")
    save_json(metrics_json(results), args.out / "metrics.json")
    save_text(render_tables(results), args.out / "tables.md")


if __name__ == "__main__":
    main()

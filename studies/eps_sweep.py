"""The eps study: clean test error and white-box PGD error against the training eps, per method.

Run a sweep of DVC experiments, then gather them:

    dvc exp run --queue -S 'eps=0.02,0.05,0.08,0.12,0.2' <the settings of the committed run>
    dvc queue start -j 1
    python -m studies.eps_sweep --dataset mnist --net relu-400

It reads `dvc exp show --json` (each experiment's params and reports/metrics.json) and each
experiment's committed seed-mean curves (reports/plots/curves/<ds>-<net>.csv, for the clean
error over the final `--last` epochs: at a short reduced run Table 2's window covers most of
training), keeps the experiments with the same settings apart from eps, and writes reports/eps_sweep.md (the table
and the command lines) and reports/eps_sweep.png (the paper's 0.08 marked); both are tracked by
git, outside the report stage's outputs. Back-prop
does not depend on eps: it is drawn as a flat reference line.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import yaml
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from advgrad.core.io import save_text
from advgrad.core.plotting import LINESTYLES, METHOD_COLORS, legend_outside, save_figure
from advgrad.report.figures import PLOT_NAMES, percent_axis  # the report's dvc plots columns
from advgrad.report.tables import cell
from stages.report import flat_dict  # params keys as the report stage flattens them

METHODS = ("backprop", "adversarial", "goodfellow")
PAPER_EPS = 0.08


def git_curves(rev: str, dataset: str, net: str) -> str | None:
    """The seed-mean curves CSV that experiment `rev` committed (None if it has none)."""
    out = subprocess.run(
        ["git", "show", f"{rev}:reports/plots/curves/{dataset}-{net}.csv"], capture_output=True, text=True
    )
    return out.stdout if out.returncode == 0 else None


def final_epochs_error(curves_text: str | None, method: str, last: int) -> float | None:
    """The seed-mean test error (%) averaged over the last `last` epochs of a curves CSV."""
    if not curves_text:
        return None
    col = f"{PLOT_NAMES[method]} test"
    values = [float(r[col]) for r in csv.DictReader(io.StringIO(curves_text)) if r.get(col) not in (None, "")]
    return round(sum(values[-last:]) / len(values[-last:]), 3) if values else None


def experiments(exp_show: list[dict]) -> tuple[list[dict], list[str]]:
    """Flatten `dvc exp show --json` into [{"name", "rev", "params", "metrics"}], one per finished
    experiment (and commit) that has reports/metrics.json, and the names of the experiments left
    out because they are queued, running or failed (a running one shows its baseline's metrics)."""
    out, unfinished = [], []
    for commit in exp_show:
        entries = [(commit, None)] + [
            (e, group.get("executor")) for group in commit.get("experiments") or [] for e in group.get("revs", [])
        ]
        for entry, executor in entries:
            name = entry.get("name") or (entry.get("rev") or "")[:7]
            if executor and executor.get("state") != "success":
                unfinished.append(f"{name} ({executor.get('state')})")
                continue
            data = entry.get("data") or {}
            params = ((data.get("params") or {}).get("params.yaml") or {}).get("data")
            metrics = ((data.get("metrics") or {}).get("reports/metrics.json") or {}).get("data")
            if params and metrics:
                out.append({"name": name, "rev": entry.get("rev"), "params": params, "metrics": metrics})
    return out, unfinished


def _without_eps(params: dict) -> str:
    return json.dumps({k: v for k, v in params.items() if k != "eps"}, sort_keys=True)


def overrides(params: dict, defaults: dict) -> list[str]:
    """The `-S key=value` settings (eps apart) under which `params` differ from `defaults` (the
    committed params.yaml, the paper's protocol)."""
    flat, base = flat_dict(params), flat_dict(defaults)
    return [
        f"{k}={yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}"
        for k, v in sorted(flat.items())
        if k != "eps" and base.get(k, object()) != v
    ]


def sweep_rows(
    exps: list[dict], dataset: str, net: str, pgd_eps: str = "0.1", last: int = 3, read_curves=None
) -> list[dict]:
    """One row per training eps, per method: Table 2's statistic, the seed-mean test error over
    the final `last` epochs (from the experiment's committed curves) and the PGD error."""
    read_curves = read_curves or git_curves
    rows = {}
    for e in exps:
        curves = read_curves(e["rev"], dataset, net) if e.get("rev") else None
        eps = e["params"]["eps"]
        t2 = e["metrics"].get("table2", {}).get(dataset, {}).get(net, {})
        rb = e["metrics"].get("robustness", {}).get(dataset, {}).get(net, {})
        row = rows.setdefault(eps, {"eps": eps, "experiments": set()})
        row["experiments"].add(e["name"])
        for method in METHODS:
            if method in t2:
                row[f"{method}_clean"] = t2[method]
            final = final_epochs_error(curves, method, last)
            if final is not None:
                row[f"{method}_final"] = final
            pgd = rb.get(method, {}).get("pgd", {}).get(pgd_eps)
            if pgd:
                row[f"{method}_pgd"] = pgd
    return [rows[k] for k in sorted(rows)]


def stat_cell(stat: dict | None) -> str:
    """A metrics.json statistic as the report prints it, `mean ± std (n=k)`."""
    return cell(stat["error_pct"], stat.get("std_pct", 0), stat.get("n_seeds")) if stat else cell(None)


def render(
    rows: list[dict],
    dataset: str,
    net: str,
    pgd_eps: str,
    figure: str | None,
    settings: list[str] | None = None,
    verified: bool | None = None,
    last: int = 3,
    window: str = "the last epochs",
) -> str:
    lines = [f"# The eps study: {dataset}, 2x{net.split('-')[1]} {net.split('-')[0]}", ""]
    if settings:
        eps_list = ",".join(f"{r['eps']:g}" for r in rows)
        lines += [
            "**Reduced scale, not the paper's protocol**: every experiment ran the committed "
            "params.yaml with " + ", ".join(f"`{s}`" for s in settings) + ".",
            "",
            "Reproduce (with `ADVGRAD_DATA_MIRROR` set for a local copy of the data: README, Data):",
            "",
            "```",
            f"dvc exp run --queue -S 'eps={eps_list}' " + " ".join(f"-S '{s}'" for s in settings),
            "dvc queue start -j 1",
            f"python -m studies.eps_sweep --dataset {dataset} --net {net} --last {last}",
            "```",
            "",
        ]
    if verified is not None:
        lines += [f"Dataset checksums: {'verified' if verified else '**not verified**'}.", ""]
    lines += [
        f"Per training eps and method: the clean test error averaged over the final {last} epochs of the "
        f"seed-mean curve (the figure's clean panel); Table 2's statistic, the mean test error over "
        f"{window}, mean ± std over seeds (it also counts how fast a net learns when the window is "
        f"most of the run); and the white-box PGD error at eps {pgd_eps} (the robustness section's "
        f"threat model, its image subset), mean ± std over seeds. The paper's eps is {PAPER_EPS}. "
        "Back-prop does not read eps: its rows are the same nets in every experiment, a reference.",
        "",
        "Generated by `python -m studies.eps_sweep` from `dvc exp show --json` and each experiment's "
        "committed reports/plots/curves.",
        "",
    ]
    head = [
        "training eps",
        "method",
        f"clean, final {last} epochs %",
        "Table 2 statistic %",
        f"PGD {pgd_eps} %",
        "experiment",
    ]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        for m in METHODS:
            final = r.get(f"{m}_final")
            cells = [
                f"{r['eps']:g}",
                m,
                "not available" if final is None else f"{final:.2f}",
                stat_cell(r.get(f"{m}_clean")),
                stat_cell(r.get(f"{m}_pgd")),
                ", ".join(sorted(r["experiments"])),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    if figure:
        lines += [
            "",
            f"![The eps study]({figure})",
            "",
            f"*{dataset}, 2x{net.split('-')[1]} {net.split('-')[0]}: clean test error over the final {last} "
            f"epochs (left) and PGD error at eps {pgd_eps} (right) against the training eps, seed means; "
            f"the paper's {PAPER_EPS} dotted.*",
        ]
    return "\n".join(lines) + "\n"


def _value(row: dict, method: str, key: str) -> float | None:
    """The clean panel's final-epochs error (Table 2's statistic without curves), or PGD's."""
    if key == "clean" and f"{method}_final" in row:
        return row[f"{method}_final"]
    stat = row.get(f"{method}_{key}")
    return stat["error_pct"] if stat else None


def plot(rows: list[dict], out: Path, title: str, pgd_eps: str, last: int = 3):
    fig = Figure(figsize=(8.5, 3.4), dpi=150, layout="constrained")
    FigureCanvasAgg(fig)
    clean_ax, pgd_ax = fig.subplots(1, 2, sharex=True)
    clean_ax.set_yscale("log")  # a net that fails to train would flatten the others' differences
    clean_ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}%" if str(v)[0] in "1235" else ""))
    for method in METHODS:
        for ax, key in ((clean_ax, "clean"), (pgd_ax, "pgd")):
            pts = [(r["eps"], v) for r in rows if (v := _value(r, method, key)) is not None]
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax.plot(
                    xs,
                    ys,
                    marker="o",
                    color=METHOD_COLORS[method],
                    linestyle=LINESTYLES[key],
                    label=method,
                )
    for ax, name in ((clean_ax, f"clean test error, final {last} epochs"), (pgd_ax, f"PGD error at eps {pgd_eps}")):
        ax.axvline(PAPER_EPS, color="0.5", linewidth=0.8, linestyle=":")
        ax.set_title(name)
        ax.set_xlabel("training eps")
        ax.grid(True, alpha=0.3)
        percent_axis(ax)
    legend_outside(fig)
    fig.suptitle(title, fontsize="medium")
    return save_figure(fig, out)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--net", default="relu-400", help="<activation>-<units>")
    ap.add_argument("--pgd-eps", default="0.1")
    ap.add_argument("--last", type=int, default=3, help="epochs at the end of training the clean error averages")
    ap.add_argument("--exp-show", type=Path, help="a saved `dvc exp show --json` (default: run it)")
    ap.add_argument("--out", type=Path, default=Path("reports"))
    ap.add_argument(
        "--params",
        type=Path,
        default=Path("params.yaml"),
        help="the defaults the settings line is written against (the committed protocol)",
    )
    args = ap.parse_args(argv)
    if args.exp_show:
        shown = json.loads(args.exp_show.read_text())
    else:
        shown = json.loads(
            subprocess.run(
                [sys.executable, "-m", "dvc", "exp", "show", "--json", "-A"], capture_output=True, text=True, check=True
            ).stdout
        )
    exps, unfinished = experiments(shown)
    if unfinished:
        print(f"eps_sweep: left out, not finished: {', '.join(unfinished)}", file=sys.stderr)
    groups: dict[str, list[dict]] = {}
    for e in exps:
        groups.setdefault(_without_eps(e["params"]), []).append(e)
    best = max(groups.values(), key=lambda g: len({e["params"]["eps"] for e in g}), default=[])
    if len({e["params"]["eps"] for e in best}) < 2:
        raise SystemExit("eps_sweep: no two experiments differ in eps alone; queue a sweep first (see --help)")
    rows = sweep_rows(best, args.dataset, args.net, args.pgd_eps, args.last)
    mnist = best[0]["params"].get("mnist", {})
    window = (
        f"the last {min(mnist['last_epochs'], mnist['epochs'])} of {mnist['epochs']} epochs"
        if {"last_epochs", "epochs"} <= mnist.keys()
        else "the last epochs"
    )
    settings = overrides(best[0]["params"], yaml.safe_load(args.params.read_text())) if args.params.exists() else None
    verified = all(e["metrics"].get("run", {}).get("data_verified", False) for e in best)
    scale = f"{mnist.get('epochs', '?')} epochs, {best[0]['params'].get('seeds', '?')} seeds"
    plot(
        rows,
        args.out / "eps_sweep.png",
        f"{args.dataset} 2x{args.net.split('-')[1]} {args.net.split('-')[0]}, {scale}: error against the training eps",
        args.pgd_eps,
        args.last,
    )
    save_text(
        render(rows, args.dataset, args.net, args.pgd_eps, "eps_sweep.png", settings, verified, args.last, window),
        args.out / "eps_sweep.md",
    )
    print(f"eps_sweep: {len(rows)} training eps from {len(best)} experiments -> {args.out / 'eps_sweep.md'}")


if __name__ == "__main__":
    main()

"""reports/tables.md, metrics.json and headline.md as pivots of one run's tidy results.

The report stage loads every result of the run into tidy tables (`Results.tables`), one per kind
of result (`KINDS`) with the columns `COLUMNS`: one row per seed and metric (the transfer attack:
per eps and target, as runs/attack stores it). `metric` says what `value` is: `error_pct` a
test-error percentage, `zero_frac` a fraction of exact zero activations, `mean_*` / `std_*` a
statistic the producing stage stored without its per-seed values, `n_images`, `n_pairs` and
`figure_seed` counts. Every number printed is a selection or pivot of those rows (`summary`),
its statistics those of advgrad.core.stats. The prose is the template tables.md.j2 (headline.md.j2
for the README block), the paper's numbers come from advgrad.report.paper and the protocol every
setting is compared with from advgrad.report.protocol. A number the run did not produce is
printed "not run", never invented.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from advgrad.core.names import CIFAR_PREPS
from advgrad.core.stats import mean_std, paired_difference
from advgrad.report import ledger, paper, protocol, verdicts
from advgrad.report.ledger import METHOD_NAMES, NO_COUNTERPART, net_order, paper_stat, pct, setting, split_net

COLUMNS = tuple("dataset net activation units prep method seed source_seed eps attack layer metric value".split())
KINDS = ("table2", "attack", "sparsity", "robustness", "table3", "timing")
NOT_RUN, NOT_RECORDED = "not run", "not recorded"
ROBUSTNESS_EPS = ("0.1", "0.2", "0.3")
MASKING_GAP_PCT = 2.0  # PGD this many points below AutoAttack: PGD was fooled (stages/robustness.py)
HEADLINE_NET = "relu-400"  # metrics.json's `headline`: the net of the transfer attack and Figures 2-3
FIGURE1_METHODS = ("backprop", "adversarial")  # the paper's Figure 1 shows these
TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).parent), undefined=StrictUndefined, autoescape=False)


@dataclass(frozen=True)
class Results:
    """One run: its facts (`run`: datasets, cifar_datasets, settings as dotted params keys,
    provenance, dvc version, data_verified), the tidy tables {kind: DataFrame of COLUMNS}, the
    notes, the figure files written and, per "<kind>/<dataset>", why a result has no value."""

    run: dict
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    figures: tuple[str, ...] = ()
    not_run: dict[str, str] = field(default_factory=dict)

    def rows(self, kind: str, metric: str | None = None, **keys) -> pd.DataFrame:
        """The rows of one kind that hold a value, of `metric` (None: every metric) and `keys` (compared as text)."""
        df = self.tables.get(kind)
        df = tidy([]) if df is None else df[df["value"].notna()]
        for key, value in (({"metric": metric} if metric else {}) | keys).items():
            df = df[df[key].astype(str) == str(value)]
        return df


def tidy(rows: Iterable[dict]) -> pd.DataFrame:
    """Rows as a table of COLUMNS; a key a row does not have is missing (NaN)."""
    return pd.DataFrame(list(rows), columns=list(COLUMNS)).astype(
        {"seed": "Int64", "source_seed": "Int64", "units": "Int64"}
    )


def results_csv(results: Results) -> str:
    """reports/results.csv: every row of every kind, so that a reader can recompute each number."""
    frames = [df.assign(kind=kind) for kind, df in results.tables.items() if not df.empty]
    table = pd.concat(frames, ignore_index=True) if frames else tidy([]).assign(kind=None)
    return table[["kind", *COLUMNS]].to_csv(index=False, lineterminator="\n")


def _branches(run: dict) -> set[str]:
    """The parts of the pipeline the run has: MNIST (with its attacks) and/or CIFAR-10."""
    mnist = {"mnist", "attack", "robustness"} if run.get("datasets") else set()
    return mnist | ({"cifar10"} if run.get("cifar_datasets") else set())


def fig1_units(settings: dict) -> int | None:
    """Figure 1 shows the 2x800 nets; a run without them shows its widest nets instead."""
    units = settings.get("mnist.units") or []
    return 800 if 800 in units else max(units, default=None)


def notes(run: dict) -> tuple[str, ...]:
    """The notes of the run's branches (advgrad.report.protocol.NOTES), and which nets Figure 1 shows."""
    branches, units = _branches(run), fig1_units(run.get("settings") or {})
    out = [text for branch, text in protocol.NOTES if (branch is None and branches) or branch in branches]
    figure1 = [f"Figure 1 shows the 2x{units} nets: this run has no 2x800 nets."] if units not in (None, 800) else []
    return tuple(out + figure1)


# -------------------------------------------------------------------------------- formatting


def _whole_pct(value: float) -> str:
    # The paper prints the attack and sparsity numbers as whole percents: "22.00" would claim a
    # precision it does not give.
    return f"{float(value):.0f}"


def _signed(value: float) -> str:
    text = f"{float(value):+.2f}"
    return "+0.00" if text == "-0.00" else text


def _eps(eps: float | str) -> str:
    """One spelling per eps, so that 0.5, "0.5" and "0.50" are one row and one metric."""
    return f"{float(eps):g}"


def cell(mean: float | None, std: float | None = None, n: int | None = None) -> str:
    """`mean ± std (n=k)` of what was produced, else "not run"."""
    if mean is None or math.isnan(mean):
        return NOT_RUN
    return pct(mean) + ("" if std is None else f" ± {pct(std)}") + ("" if n is None else f" (n={n})")


def _stat_cell(stat: dict | None) -> str:
    """A statistic over seeds; the spread only from two seeds on (one value has none)."""
    if not stat:
        return NOT_RUN
    return cell(stat["error_pct"], stat["std_pct"] if stat["n_seeds"] > 1 else None, stat["n_seeds"])


def _difference_cell(d: dict | None) -> str:
    """A paired difference: `mean ± 95 % half-width (n=k)`."""
    if not d:
        return NOT_RUN
    n = d["n"]
    return _signed(d["mean_pct"]) + (f" ± {pct(d['ci95_pct'])} (n={n})" if n > 1 else " (n=1, no interval)")


def _markdown(rows: list[list[str]], headers: list[str]) -> str:
    # disable_numparse: keep "1.00" as printed (tabulate would re-format it as "1").
    return pd.DataFrame(rows, columns=headers).to_markdown(index=False, tablefmt="github", disable_numparse=True)


def _ordered(known: Iterable[str], seen: Iterable[str]) -> list[str]:
    known = list(known)
    return known + sorted(set(seen) - set(known))


# -------------------------------------------------------------------------------- pivots


def _stat(values: Iterable[float]) -> dict:
    values = [float(v) for v in values]
    mean, std = mean_std(values)
    return {"error_pct": mean, "std_pct": std, "n_seeds": len(values)}


def _at(node: dict, *keys: str) -> dict:
    """node[k1][k2]..., made where missing."""
    for key in keys:
        node = node.setdefault(key, {})
    return node


def _check(results: Results) -> None:
    unknown = sorted(set(results.tables) - set(KINDS))
    if unknown:
        raise ValueError(f"results: unknown section(s) {', '.join(map(repr, unknown))}; known: {', '.join(KINDS)}")
    for kind in ("table2", "robustness"):
        for net in results.rows(kind)["net"].unique():
            split_net(net)


def summary(results: Results) -> dict:
    """Every statistic of the report, nested as reports/metrics.json (unrounded), with the facts
    the tables print beside them (sparsity: seeds, images, Figure 3's seed; robustness: images)."""
    out: dict[str, dict] = {kind: {} for kind in KINDS}
    for (ds, net), g in results.rows("table2", "error_pct").groupby(["dataset", "net"]):
        entry = _at(out["table2"], ds, net)
        by_seed = {m: dict(zip(gm["seed"], gm["value"])) for m, gm in g.groupby("method")}
        entry.update({m: _stat(gm["value"]) for m, gm in g.groupby("method")})
        # the paper's claim as a number: same seed = same initial weights and mini-batch order
        for method, name in (("adversarial", "difference"), ("goodfellow", "goodfellow_difference")):
            if diff := paired_difference(by_seed.get(method, {}), by_seed.get("backprop", {})):
                entry[name] = diff
    for (ds, eps, m), g in results.rows("attack", "error_pct").groupby(["dataset", "eps", "method"]):
        entry = _at(out["attack"], ds, _eps(eps))
        mean, std = mean_std(g["value"])
        entry |= {f"{m}_pct": mean, "n_pairs": len(g)} | ({f"{m}_std_pct": std} if len(g) > 1 else {})
    for ds, g in results.rows("sparsity").groupby("dataset"):
        entry, fact = _at(out["sparsity"], ds), g.set_index("metric")["value"]
        overall = g[(g["metric"] == "zero_frac") & (g["layer"] == "all")]
        layers = g[g["metric"] == "mean_zero_frac"].sort_values("layer")
        methods = ("backprop", "adversarial")
        entry |= {f"{m}_zero_frac": mean_std(o["value"])[0] for m, o in overall.groupby("method") if m in methods}
        entry["per_layer"] = {m: list(layers[layers["method"] == m]["value"]) for m in methods}
        entry["seeds"] = sorted({int(s) for s in overall["seed"]})
        if "n_images" in fact:
            entry["images"] = f"the {int(fact['n_images'])} test images"
        if "figure_seed" in fact:
            seed = entry["figure_seed"] = int(fact["figure_seed"])
            shown = overall[overall["seed"] == seed]
            entry["figure_zero_frac"] = dict(zip(shown["method"], shown["value"]))
    rb = results.rows("robustness")
    keys = ["dataset", "net", "method", "attack", "eps"]
    for (ds, net, m, attack, eps), g in rb[rb["metric"] == "error_pct"].groupby(keys):
        _at(out["robustness"], ds, net, m, attack)[_eps(eps)] = _stat(g["value"])
    for r in rb[rb["metric"] == "n_images"].itertuples():
        key = "autoattack_images" if r.attack == "autoattack" else "n_images"
        _at(out["robustness"], r.dataset, r.net, r.method)[key] = int(r.value)
    for (net, prep, m), g in results.rows("table3", "error_pct").groupby(["net", "prep", "method"]):
        _at(out["table3"], f"{net}-{prep}")[m] = _stat(g["value"])
    return out


# -------------------------------------------------------------------------------- header


def _protocol_rows(run: dict) -> list[tuple[protocol.Setting, Any]]:
    """(setting, this run's value) for every protocol row of the branches the run has; a fixed
    choice of the code has its reference value, a key the run did not record NOT_RECORDED."""
    settings, branches = run.get("settings") or {}, _branches(run)
    return [
        (row, row.value if row.key is None else settings.get(row.key, NOT_RECORDED))
        for row in protocol.PROTOCOL
        if row.branch in branches
    ]


def _differences(run: dict) -> tuple[list[str], list[str], list[str], list[str]]:
    """The run's departures from the protocol: (reductions of scale, changes of the paper's
    values, changes of our defaults where the paper is silent, configurations not run)."""
    reduced, paper_changes, default_changes, seen = [], [], [], set()
    scope = [f"the {name} branch (no {tables})" for key, name, tables in _BRANCH_NAMES if not run.get(key)]
    for row, value in _protocol_rows(run):
        if row.key is None or row.key in seen or ledger.same_setting(value, row.value):
            continue
        seen.add(row.key)  # `seeds` belongs to both branches: listed once
        where = "paper" if row.source == protocol.PAPER else f"default, {row.source}"
        text = f"{row.key} {setting(value)} ({where}: {setting(row.value)})"
        if row.key in protocol.SCOPE:
            scope.append(text)
        else:
            changes = reduced if row.reduction else paper_changes if row.source == protocol.PAPER else default_changes
            changes.append(text)
    return reduced, paper_changes, default_changes, scope


_BRANCH_NAMES = (("datasets", "MNIST", "Tables 1-2, Figures 1-3"), ("cifar_datasets", "CIFAR-10", "Table 3"))


def _provenance(prov: dict | None) -> str:
    """Where the results come from: commit(s), uncommitted code, DVC experiment."""
    if not prov or not prov.get("git_revs"):
        return "no training result recorded one" if prov is not None else NOT_RECORDED
    short = lambda revs: ", ".join(r[:12] if r else "unknown" for r in revs)
    text = short(prov["git_revs"]) if len(prov["git_revs"]) == 1 else f"several commits ({short(prov['git_revs'])})"
    if prov.get("git_dirty"):
        text += " with uncommitted code changes"
    elif prov.get("git_dirty") is None:
        text += " (uncommitted changes unknown)"
    if prov.get("dvc_exp_names"):
        base = short(prov.get("dvc_exp_baseline_revs") or [])
        text += f"; DVC experiment {', '.join(prov['dvc_exp_names'])}" + (f" based on {base}" if base else "")
    return text


def _this_run(run: dict) -> str:
    """The table above everything: datasets, code, device, versions, data."""
    prov = run.get("provenance")
    recorded = lambda key: setting(prov.get(key)) if prov else NOT_RECORDED
    rows = [
        ["MNIST-format datasets", setting(run["datasets"]) if run.get("datasets") else "branch off"],
        ["CIFAR-10", setting(run["cifar_datasets"]) if run.get("cifar_datasets") else "branch off"],
        ["code", _provenance(prov)],
        ["device", recorded("devices")],
        ["torch / dvc", f"{recorded('torch')} / {setting(run.get('dvc'))}"],
        ["data", {True: "checksums verified", False: "UNVERIFIED"}.get(run.get("data_verified"), "unknown")],
    ]
    return _markdown(rows, ["this run", ""])


# -------------------------------------------------------------------------------- sections


def _still_falling(results: Results) -> dict | None:
    """Per dataset, net and method: the seed-mean test error of the window before the reported one
    (metric window_before_pct) and of the reported one, and in how many seeds it fell between them."""
    t2, keys = results.rows("table2"), ["dataset", "net", "method", "seed"]
    before = t2[t2["metric"] == "window_before_pct"]
    if before.empty:
        return None
    both = before.merge(t2[t2["metric"] == "error_pct"], on=keys, suffixes=("_before", "_last"))
    rows, every = [], 0
    for (ds, net, m), g in sorted(
        both.groupby(keys[:3]), key=lambda kv: (kv[0][0], net_order(kv[0][1]), list(METHOD_NAMES).index(kv[0][2]))
    ):
        fell = int((g["value_last"] < g["value_before"]).sum())
        every += fell == len(g)
        means = [pct(g[f"value_{w}"].mean()) for w in ("before", "last")]
        rows.append([ds, ledger.net_name(net), METHOD_NAMES.get(m, m), *means, f"{fell} of {len(g)}"])
    headers = ["dataset", "net", "method", "window before, %", "reported window, %", "seeds whose error fell"]
    return {"table": _markdown(rows, headers), "every": every, "cells": len(rows)}


def _baseline(by_net: dict, act: str) -> str:
    """Our back-prop cell for Table 1's 2x800 row of `act`: 2x800, or the widest width that ran."""
    widths = {split_net(n)[1] for n, e in by_net.items() if split_net(n)[0] == act and "backprop" in e}
    if not widths:
        return NOT_RUN
    units = 800 if 800 in widths else max(widths)
    cell_ = _stat_cell(by_net[f"{act}-{units}"]["backprop"])
    return cell_ if units == 800 else f"{cell_} at 2x{units}"


def _table1(s: dict, datasets: list[str]) -> str:
    columns = datasets or [None]
    rows = []
    for row in paper.TABLE1:
        # Only the three plain back-propagation rows are reproduced: the eps = 0 baselines, at
        # 2x800 where that ran, else at the widest net that ran, marked with its width.
        reproduced, act = row.method == "Back-propagation" and row.arch == "2x800", row.units.lower()
        ours = [_baseline(s["table2"].get(d, {}), act) if reproduced else NO_COUNTERPART for d in columns]
        citation = row.citation + ("[^simard]" if row.citation.startswith("Simard") else "")
        rows.append([row.method, citation, row.arch, row.units, pct(row.error_pct), *ours])
    ours_headers = [f"ours back-prop, ± sd ({d})" if d else "ours back-prop, ± sd" for d in columns]
    return _markdown(rows, ["method", "citation", "arch", "units", "paper error %", *ours_headers])


def _table2(s: dict, dataset: str | None) -> str:
    by_net = s["table2"].get(dataset, {})
    compare = dataset in (None, "mnist")  # the paper's numbers are MNIST's
    rows = []
    for net in sorted({f"{a}-{u}" for a, u in paper.TABLE2} | set(by_net), key=net_order):
        (act, units), e = split_net(net), by_net.get(net, {})
        ref, adversarial = paper.TABLE2.get((act, units)), e.get("adversarial")
        row = [f"2x{units}", ledger.ACT_NAMES.get(act, act), paper_stat(ref), _stat_cell(adversarial)]
        if compare:
            row.append(_signed(adversarial["error_pct"] - ref.mean_pct) if ref and adversarial else NO_COUNTERPART)
        row += [_stat_cell(e.get("backprop")), _difference_cell(e.get("difference")), _stat_cell(e.get("goodfellow"))]
        rows.append(row + [_difference_cell(e.get("goodfellow_difference"))])
    headers = ["arch", "units", "paper adversarial, the paper's ±", "ours adversarial, ± sd"]
    headers += ["ours − paper"] if compare else []
    headers += ["ours back-prop, ± sd", "adversarial − back-prop, ± 95 % half-width", "ours Goodfellow et al., ± sd"]
    headers += ["Goodfellow − back-prop, ± 95 % half-width"]
    return _markdown(rows, headers)


def _attack(s: dict, dataset: str | None) -> str:
    ours, refs = s["attack"].get(dataset, {}), {_eps(e): row for e, row in paper.ATTACK.items()}
    rows = []
    for eps in sorted(set(refs) | set(ours), key=float):
        ref, e = refs.get(eps), ours.get(eps, {})
        paper_cells = [_whole_pct(ref.backprop_pct), _whole_pct(ref.adversarial_pct)] if ref else [NO_COUNTERPART] * 2
        ours_cells = [cell(e.get(f"{m}_pct"), e.get(f"{m}_std_pct")) for m in ("backprop", "adversarial", "random")]
        rows.append([eps, *paper_cells, *ours_cells, str(int(e["n_pairs"])) if "n_pairs" in e else NOT_RUN])
    headers = ["eps", "paper back-prop", "paper adversarial", "ours back-prop, ± sd", "ours adversarial, ± sd"]
    headers += ["ours random sign, ± sd (beyond the paper)", "n pairs"]
    return _markdown(rows, headers)


def _sparsity(s: dict, dataset: str | None) -> str:
    e = s["sparsity"].get(dataset, {})
    per_layer, figure = e.get("per_layer") or {}, e.get("figure_zero_frac") or {}
    n_layers = max((len(v) for v in per_layer.values()), default=0)
    rows = []
    for m in ("backprop", "adversarial"):
        overall, shown = (NOT_RUN if v is None else pct(100 * v) for v in (e.get(f"{m}_zero_frac"), figure.get(m)))
        layers = [pct(100 * z) for z in per_layer.get(m) or []]
        layers += [NOT_RUN] * (n_layers - len(layers))
        rows.append([m, _whole_pct(100 * paper.SPARSITY[m]), overall, *layers, shown])
    headers = ["method", "paper zeros %", "ours zeros % (mean over seeds)"]
    headers += [f"ours layer {i + 1} %" for i in range(n_layers)]
    return _markdown(rows, headers + [f"ours zeros %, seed {setting(e.get('figure_seed'))} (Figure 3)"])


def _robustness(s: dict, dataset: str | None, warnings: list[str], masking: list[str]) -> dict:
    by_net = s["robustness"].get(dataset, {}) if dataset else {}
    entries = [e for net in by_net.values() for e in net.values()]
    images, aa_images = ({e[k] for e in entries if k in e} for k in ("n_images", "autoattack_images"))
    aa_eps = sorted({eps for e in entries for eps in e.get("autoattack", {})}, key=float)
    rows = []
    for net in sorted(by_net, key=net_order):
        act, units = split_net(net)
        for m in [m for m in _ordered(METHOD_NAMES, by_net[net]) if m in by_net[net]]:
            fgsm, pgd, aa = (by_net[net][m].get(a, {}) for a in ("fgsm", "pgd", "autoattack"))
            row = [f"2x{units}", ledger.ACT_NAMES.get(act, act), METHOD_NAMES.get(m, m), _stat_cell(fgsm.get("0"))]
            name = f"{dataset} 2x{units} {act} {m} eps"
            for eps in ROBUSTNESS_EPS:
                row += [_stat_cell(fgsm.get(eps)), _stat_cell(pgd.get(eps))]
                if eps in fgsm and eps in pgd and pgd[eps]["error_pct"] < fgsm[eps]["error_pct"]:
                    f, g = fgsm[eps]["error_pct"], pgd[eps]["error_pct"]
                    warnings.append(f"{name} {eps}: PGD {pct(g)} % < FGSM {pct(f)} %")
            for eps in aa_eps:
                row.append(_stat_cell(aa.get(eps)))
                if eps in aa and eps in pgd and pgd[eps]["error_pct"] < aa[eps]["error_pct"] - MASKING_GAP_PCT:
                    g, a = pgd[eps]["error_pct"], aa[eps]["error_pct"]
                    masking.append(f"{name} {eps}: PGD {pct(g)} % < AutoAttack {pct(a)} % − {MASKING_GAP_PCT:g}")
            rows.append(row)
    headers = ["arch", "units", "method", "clean, ± sd"] + [f"{a} {e}" for e in ROBUSTNESS_EPS for a in ("FGSM", "PGD")]
    return {
        "table": _markdown(rows, headers + [f"AutoAttack {e}" for e in aa_eps]) if by_net else None,
        "images": ", ".join(map(str, sorted(images))),
        "autoattack_images": ", ".join(map(str, sorted(aa_images))),
    }


def _table3(s: dict) -> str:
    ours = {tuple(key.rsplit("-", 1)): methods for key, methods in s["table3"].items()}
    archs = _ordered(paper.TABLE3_ARCH_NAMES, (a for a, _ in ours))
    preps = _ordered(CIFAR_PREPS, (p for _, p in ours))
    methods = _ordered(paper.TABLE3_METHOD_NAMES, (m for v in ours.values() for m in v))
    rows = []
    for arch in archs:
        for m in methods:
            row = [paper.TABLE3_ARCH_NAMES.get(arch, arch), paper.TABLE3_METHOD_NAMES.get(m, m)]
            for prep in preps:
                row += [paper_stat(paper.TABLE3.get((arch, m, prep))), _stat_cell(ours.get((arch, prep), {}).get(m))]
            rows.append(row)
    names = {"paper": "paper, the paper's ±", "ours": "ours, ± sd"}
    return _markdown(rows, ["arch", "method"] + [f"{names[w]} {p.upper()}" for p in preps for w in names])


def _protocol_table(run: dict) -> str | None:
    """The whole protocol table with this run's value of each setting; None without a branch."""
    rows = []
    for row, value in _protocol_rows(run):
        mark = "" if row.key is None or ledger.same_setting(value, row.value) else " **≠**"
        rows.append(
            [row.key or "(fixed)", row.name, setting(row.value), row.source, row.evidence, setting(value) + mark]
        )
    headers = ["params.yaml key", "setting", "reference", "source", "evidence", "this run"]
    return _markdown(rows, headers) if rows else None


def _datasets(run: dict, s: dict) -> list[str]:
    """The run's MNIST-format datasets, then any other dataset a section has results for."""
    names = list(run.get("datasets") or [])
    for kind in ("table2", "attack", "sparsity"):
        names += sorted(d for d in s[kind] if d not in names)
    return names


TEMPLATES.filters.update(setting=setting, whole=_whole_pct)
TEMPLATES.globals.update(paper=paper, cell=cell, METHOD_NAMES=METHOD_NAMES)


def _render(template: str, **context) -> str:
    # The template writes each paragraph between blank lines; a paragraph left out leaves blank
    # lines behind, collapsed here so that the template reads like the page it renders.
    text = TEMPLATES.get_template(template).render(**context)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n") + "\n"


def _frame(df: pd.DataFrame) -> str:
    return _markdown(df.values.tolist(), list(df.columns))


def render_tables(results: Results) -> str:
    """reports/tables.md: the run's configuration, then each of the paper's tables beside ours,
    each with its figures, the notes and the protocol."""
    _check(results)
    s, run, warnings, masking = summary(results), results.run, [], []
    datasets = _datasets(run, s)
    each = datasets or [None]  # a section of the MNIST branch is printed, "not run", without a dataset
    methods = set(results.rows("table2", "error_pct")["method"])
    claims = ledger.ledger(results)
    return _render(
        "tables.md.j2",
        ledger=_frame(claims),
        direction={d: [_frame(t) if not t.empty else None for t in ledger.direction_tables(results, d)] for d in each},
        judged=int((~claims["verdict"].str.match("not run|not comparable|shown")).sum()),
        rules={  # the ledger's stated constants, for the words above it
            "level": f"{100 * verdicts.LEVEL:g} %",
            "paper_runs": verdicts.PAPER_RUNS,
            "margin": ledger.MARGIN,
            "tolerance": ledger.TOLERANCE,
            "converged": ledger.CONVERGED_PCT,
        },
        run=run,
        s=s,
        datasets=datasets,
        differences=_differences(run),
        this_run=_this_run(run),
        still_falling=_still_falling(results),
        paper_epochs=next(s.value for s in protocol.PROTOCOL if s.key == "mnist.epochs"),
        table1=_table1(s, datasets),
        table2={d: _table2(s, d) for d in each},
        attack={d: _attack(s, d) for d in each},
        sparsity={d: _sparsity(s, d) for d in each},
        robustness={d: _robustness(s, d, warnings, masking) for d in each},
        warnings=warnings,
        masking=masking,
        table3=_table3(s),
        notes=results.notes,
        not_run=results.not_run,
        protocol=_protocol_table(run),
        figures=set(results.figures),
        fig1_units=fig1_units(run.get("settings") or {}),
        fig1_methods=", ".join(m for m in FIGURE1_METHODS if m in methods),
    )


def headline(results: Results, figures_dir: str = "reports/figures") -> str:
    """The README's results block: what ran, the Table 2 rows, the transfer attack and the
    robustness at a glance, and Figure 1; generated with the report so that it cannot drift."""
    s, run = summary(results), results.run
    ds = next(iter(run.get("datasets") or []), None)
    by_net = s["table2"].get(ds, {})
    beyond = [m for m in ("goodfellow", "random", "vat") if any(m in e for e in by_net.values())]  # those that ran
    rows = [
        [ledger.net_name(net), paper_stat(paper.TABLE2.get(split_net(net)))]
        + [_stat_cell(e.get("adversarial")), _stat_cell(e.get("backprop")), _difference_cell(e.get("difference"))]
        + [_stat_cell(e.get(m)) for m in beyond]
        for net, e in sorted(by_net.items(), key=lambda kv: net_order(kv[0]))
    ]
    headers = ["net", "paper adversarial, the paper's ±", "ours adversarial, ± sd", "ours back-prop, ± sd"]
    headers += ["adversarial − back-prop, ± 95 % half-width"] + [f"ours {METHOD_NAMES[m]}, ± sd" for m in beyond]
    claims = ledger.ledger(results)
    direction = claims[claims["paper"].str.match("[<>] 0 ")]
    timing = results.rows("timing", "seconds_per_epoch")
    timing = timing[timing["dataset"] == ds]
    epochs = (run.get("settings") or {}).get("mnist.epochs")
    return _render(
        "headline.md.j2",
        epoch_seconds={
            METHOD_NAMES[m]: f"{timing[timing['method'] == m]['value'].median():.0f}"
            for m in METHOD_NAMES
            if (timing["method"] == m).any()
        },
        stages=len(timing),
        device=setting(prov["devices"]) if (prov := run.get("provenance")) and prov.get("devices") else NOT_RECORDED,
        training_hours=f"{timing['value'].sum() * epochs / 3600:.1f}" if epochs and len(timing) else None,
        directions=_frame(direction[["claim", "ours", "run", "verdict"]]),
        verdict_counts=claims["verdict"].str.replace(r" \(.*", "", regex=True).value_counts().to_dict(),
        ds=ds,
        run=run,
        reduced=bool(_differences(run)[0]),
        table=_markdown(rows, headers),
        attack=s["attack"].get(ds, {}),
        robust=s["robustness"].get(ds, {}).get(HEADLINE_NET, {}),
        figures_dir=figures_dir,
    )


# -------------------------------------------------------------------------------- metrics.json


def _number(key: str, value) -> int | float:
    """A metric as it means: counts as int, fractions to 4 decimals, percents to 2 (as tables.md
    and the paper print them), so that `dvc exp show` and `dvc metrics diff` stay readable."""
    if key == "n" or key.startswith("n_"):
        return int(value)
    return round(float(value), 4 if key.endswith("_frac") else 2)


def _rounded(node: dict, keep=lambda key: True) -> dict:
    """Every number of a nested dict as `_number` writes it; empty entries left out."""
    out = {}
    for key, value in node.items():
        if keep(key):
            value = _rounded(value, keep) if isinstance(value, dict) else _number(key, value)
            if value != {}:
                out[key] = value
    return out


def metrics_json(results: Results) -> dict:
    """reports/metrics.json: percent errors and zero fractions for `dvc metrics`.

    The per-layer sparsity lists stay in tables.md (dvc metrics shows scalars). Params are not
    copied (DVC shows them beside the metrics); `run` holds only facts params cannot tell: the
    dataset list as one scalar and whether every input was verified.
    """
    _check(results)
    s, run = summary(results), results.run
    ds = next(iter(run.get("datasets") or []), None)
    t2, rb = (s[k].get(ds, {}).get(HEADLINE_NET, {}) for k in ("table2", "robustness"))
    headline = {
        "adv_pct": t2.get("adversarial", {}).get("error_pct"),
        "bp_pct": t2.get("backprop", {}).get("error_pct"),
        "diff_pct": t2.get("difference", {}).get("mean_pct"),
        "pgd_0.1_pct": rb.get("adversarial", {}).get("pgd", {}).get("0.1", {}).get("error_pct"),
    }
    return {
        # A few short columns for `dvc exp show` (2x400 ReLU of the first dataset; README).
        "headline": {k: _number(k, v) for k, v in headline.items() if v is not None},
        "table2": _rounded(s["table2"]),
        "attack": _rounded(s["attack"]),
        "sparsity": _rounded(s["sparsity"], lambda k: k in s["sparsity"] or k.endswith("_zero_frac")),
        "robustness": _rounded(s["robustness"], lambda k: k not in ("n_images", "autoattack_images")),
        "table3": _rounded(s["table3"]),
        "run": {"dataset": ",".join(run.get("datasets") or []), "data_verified": run.get("data_verified") is True},
    }

"""The claims ledger: every claim of the paper that a number can check, with a computed verdict.

Each row is one claim, the paper's value, ours (from the run's per-seed rows, `Results.tables`),
the scale ours ran at, and the verdict of advgrad.report.verdicts by its stated rules. Direction
claims are judged at any scale; a value claim is judged only at the claim's protocol, else it is
`not comparable` with the departures named (advgrad.report.protocol's paper settings of its
branch, the dataset, unverified data). Claims without the paper's ± get the stated TOLERANCE.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from advgrad.core.names import ACTIVATIONS
from advgrad.core.stats import mean_std
from advgrad.report import paper, protocol
from advgrad.report.verdicts import LEVEL, bound_verdict, direction_verdict, t_interval, value_verdict

ACT_NAMES = {"logistic": "logistic", "tanh": "tanh", "relu": "ReLU"}  # as the paper prints them
METHOD_NAMES = {
    "backprop": "back-prop",
    "adversarial": "adversarial",
    "goodfellow": "Goodfellow et al.",
    "random": "random sign",
    "vat": "VAT",
}
# Largest half-width of the ours − paper interval that can count as reproduced (claims with a ±),
# in points of test error: a fifth of the smallest gap between Table 2's cells of one activation
# would be finer than 5 runs resolve; these are the widths an interval of 5 seeds reaches.
MARGIN = {"mnist": 0.15, "cifar10": 1.0}
# The band around a claim printed without a ± (whole percents, "about", "roughly").
TOLERANCE = {"transfer": 5.0, "sparsity": 5.0, "epochs": 25.0, "time_ratio": 0.3}
CONVERGED_PCT = 0.01  # Figure 1: "converge to zero": the first epoch with clean train error <= this
FIGURE1_EPOCHS = 50  # "converge in about 50 epochs"
DROPOUT_MAX_NORM_PCT = next(r.error_pct for r in paper.TABLE1 if r.arch == "2x8192")


def converged_epoch(train_error_pct: Sequence[float]) -> float:
    """The first epoch (1-based) whose clean training error is at most CONVERGED_PCT; NaN if none."""
    return next((i + 1.0 for i, e in enumerate(train_error_pct) if e <= CONVERGED_PCT), math.nan)


# -------------------------------------------------------------------------------- shared with tables.py
# The ledger and the tables print the same names and numbers alike; tables.py imports them from here.


NO_COUNTERPART = "—"  # the paper has no such number


def pct(value: float) -> str:
    return f"{float(value):.2f}"


def paper_stat(stat: paper.Stat | None) -> str:
    return NO_COUNTERPART if stat is None else f"{pct(stat.mean_pct)} ± {pct(stat.std_pct)}"


def setting(value: Any) -> str:
    """A configuration value as typed in params.yaml (None = all data)."""
    if value is None:
        return "all"
    if isinstance(value, dict):
        return ", ".join(f"{k} {setting(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(setting(v) for v in value) or "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def same_setting(a: Any, b: Any) -> bool:
    """Equal as params.yaml values: a list and a tuple of the same items are the same."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return a == b


def split_net(net: str) -> tuple[str, int]:
    """("relu", 400) of "relu-400"."""
    act, _, units = str(net).rpartition("-")
    if not act or not units.isdigit():
        raise ValueError(f"results: net {net!r} is not '<activation>-<units>'")
    return act, int(units)


def net_order(net: str) -> tuple[int, str, int]:
    act, units = split_net(net)
    return (ACTIVATIONS.index(act) if act in ACTIVATIONS else len(ACTIVATIONS), act, units)


def net_name(net: str) -> str:
    act, units = split_net(net)
    return f"2x{units} {ACT_NAMES.get(act, act)}"


# -------------------------------------------------------------------------------- the ledger


def _values_cell(values: Sequence[float], fmt: str = ".2f") -> str:
    if not values:
        return "not run"
    mean, sd = mean_std(values)
    return f"{mean:{fmt}} (sd {sd:{fmt}}, n={len(values)})" if len(values) > 1 else f"{mean:{fmt}} (n=1)"


def _difference_cell(diffs: Sequence[float], fmt: str = "+.2f", bound_fmt: str = ".2f") -> str:
    if not diffs:
        return "not run"
    mean, interval = f"{mean_std(diffs)[0]:{fmt}}", t_interval(diffs)
    if interval is None:
        return f"{mean} (n=1, no interval)"
    low, high = (f"{x:{bound_fmt}}" for x in interval)
    return f"{mean}, {100 * LEVEL:g} % CI [{low}, {high}] (n={len(diffs)})"


def departures(run: dict, branch: str, dataset: str | None = None) -> list[str]:
    """How the run departs from the paper's protocol of `branch` (mnist, attack, cifar10), briefly
    (the header of tables.md has each with the paper's value): the paper's settings it changed,
    another dataset, data not verified."""
    settings = run.get("settings") or {}
    # Which nets and methods ran is the run's scope, not its protocol: a 2x400 cell is
    # comparable whether or not the 2x800 nets ran.
    out = [
        f"{row.key.rpartition('.')[2]} {setting(settings[row.key])}"
        for row in protocol.PROTOCOL
        if row.branch == branch and row.source == protocol.PAPER and row.key in settings
        if row.key not in protocol.SCOPE and not same_setting(settings[row.key], row.value)
    ]
    if dataset not in (None, "mnist", "cifar-10"):
        out.append(f"data {dataset}")
    if run.get("data_verified") is not True:
        out.append("data not verified")
    return out


class _Run:
    """The run's per-seed rows, looked up by key."""

    def __init__(self, results):
        self.results, self.run, self.tables = results, results.run, results.tables
        self.settings = self.run.get("settings") or {}

    def rows(self, kind: str, metric: str = "error_pct", **keys) -> pd.DataFrame:
        return self.results.rows(kind, metric, **keys)

    def by_seed(self, kind: str, metric: str = "error_pct", **keys) -> dict:
        rows = self.rows(kind, metric, **keys)
        return {int(s): float(v) for s, v in zip(rows["seed"], rows["value"]) if pd.notna(s)}

    def by_pair(self, **keys) -> dict:
        """The transfer attack's error per (source seed, target seed)."""
        return {(int(p.source_seed), int(p.seed)): p.value for p in self.rows("attack", **keys).itertuples()}

    def nets(self, dataset: str) -> list[str]:
        df = self.tables.get("table2")
        return [] if df is None or df.empty else sorted(set(df[df["dataset"] == dataset]["net"]), key=net_order)

    def scale(self, net: str, n: int, branch: str = "mnist") -> str:
        cifar = branch == "cifar10"
        size = self.settings.get("cifar10.train_size" if cifar else "mnist.train_size")
        size = "" if size is None else f", {size} training images"
        epochs = setting(self.settings.get("cifar10.max_epochs" if cifar else "mnist.epochs", "?"))
        name = paper.TABLE3_ARCH_NAMES.get(net, net) if cifar else net_name(net)
        return f"{name}, n={n}, {epochs} epochs{size}"


def _paired(a: dict, b: dict) -> list[float]:
    return [a[s] - b[s] for s in sorted(set(a) & set(b))]


def _row(claim: str, source: str, paper_value: str, ours: str, scale: str, verdict: str) -> dict:
    return {"claim": claim, "paper": f"{paper_value} ({source})", "ours": ours, "run": scale, "verdict": verdict}


def _direction_row(claim: str, source: str, sign: int, diffs: list[float], scale: str) -> dict:
    """A direction claim: the paired differences, judged on the paper's side `sign`."""
    paper_value = "< 0" if sign < 0 else "> 0"
    return _row(claim, source, paper_value, _difference_cell(diffs), scale, direction_verdict(diffs, sign))


def _direction_rows(r: _Run) -> list[dict]:
    rows = []
    for net in r.nets("mnist"):
        adv = r.by_seed("table2", dataset="mnist", net=net, method="adversarial")
        for other, claim, source in (
            ("backprop", "adversarial back-propagation lowers the test error", "§3, Tables 1-2"),
            ("random", "the adversarial direction, not noise of its size, lowers it", "§5; our control"),
        ):
            if diffs := _paired(adv, r.by_seed("table2", dataset="mnist", net=net, method=other)):
                name = f"{claim}: adversarial − {METHOD_NAMES[other]}"
                rows.append(_direction_row(name, source, -1, diffs, r.scale(net, len(diffs))))
    if not rows:
        rows.append(_row("adversarial back-propagation lowers the test error", "§3", "< 0", "not run", "", "not run"))
    for eps in sorted({float(e) for e in r.rows("attack")["eps"].dropna()}):
        diffs = _paired(r.by_pair(eps=eps, method="adversarial"), r.by_pair(eps=eps, method="backprop"))
        claim = f"the adversarial target is fooled less by FGSM transfer, eps {eps:g}: adversarial − back-prop target"
        rows.append(_direction_row(claim, "§3", -1, diffs, r.scale("relu-400", len(diffs)) + ", pairs share nets"))
    zeros = {m: r.by_seed("sparsity", "zero_frac", method=m, layer="all") for m in ("adversarial", "backprop")}
    diffs = [100 * d for d in _paired(zeros["adversarial"], zeros["backprop"])]
    claim = "adversarial training raises the fraction of exact zeros (2x400 ReLU hidden units), points"
    return rows + [_direction_row(claim, "§3, Figure 3", +1, diffs, r.scale("relu-400", len(diffs)))]


def _value_rows(r: _Run) -> list[dict]:
    off, rows = "; ".join(departures(r.run, "mnist", "mnist")), []

    def value(claim: str, source: str, paper_value: str, ours: list[float], verdict: str, scale: str = "") -> None:
        """A value claim's row; the scale that of the 2x400 ReLU nets unless given."""
        scale = scale or r.scale("relu-400", len(ours))
        rows.append(_row(claim, source, paper_value, _values_cell(ours), scale, verdict))

    def table2_claim(claim: str, source: str, paper_value: str, net: str, method: str, *ref: float) -> None:
        # the paper's mean, and its ± where it prints one: the margin applies, without one a band as wide
        ours = list(r.by_seed("table2", dataset="mnist", net=net, method=method).values())
        verdict = value_verdict(ours, *ref, not_comparable=off, margin=MARGIN["mnist"], tolerance=MARGIN["mnist"])
        value(claim, source, paper_value, ours, verdict, r.scale(net, len(ours)))

    for (act, units), ref in sorted(paper.TABLE2.items(), key=lambda kv: (ACTIVATIONS.index(kv[0][0]), kv[0][1])):
        claim = f"Table 2: 2x{units} {ACT_NAMES[act]}, adversarial"
        table2_claim(claim, "Table 2", paper_stat(ref), f"{act}-{units}", "adversarial", *ref)
    # The abstract: "from 1.60% to 0.95% in a logistic network, and from 1.40% to 0.78% [ReLU]".
    # The first side of each pair is Table 1's literature baseline (Simard et al.; Wan et al.),
    # compared with our back-prop at that width; the second is Table 2's best cell of the activation.
    for act, base_pct, best_units in (("logistic", 1.60, 1200), ("relu", 1.40, 800)):
        ref, name = paper.TABLE2[(act, best_units)], ACT_NAMES[act]
        claim = f"abstract: {name} back-prop baseline (Table 1's literature 2x800 net; ours: our back-prop)"
        table2_claim(claim, "abstract, Table 1", pct(base_pct), f"{act}-800", "backprop", base_pct)
        claim = f"abstract: {name} adversarial (Table 2's 2x{best_units} cell)"
        table2_claim(claim, "abstract, Table 2", pct(ref.mean_pct), f"{act}-{best_units}", "adversarial", *ref)
    ours = list(r.by_seed("table2", dataset="mnist", net="relu-400", method="adversarial").values())
    claim = "2x400 ReLU adversarial beats 2x8192 dropout + max-norm (Srivastava et al., Table 1)"
    verdict = bound_verdict(ours, DROPOUT_MAX_NORM_PCT, -1, not_comparable=off)
    value(claim, "§6", f"< {pct(DROPOUT_MAX_NORM_PCT)}", ours, verdict)
    attack_off = "; ".join(departures(r.run, "attack", "mnist") + departures(r.run, "mnist", "mnist"))
    for eps, ref in sorted(paper.ATTACK.items()):
        for method, paper_pct in (("backprop", ref.backprop_pct), ("adversarial", ref.adversarial_pct)):
            ours = list(r.rows("attack", eps=eps, method=method)["value"])
            verdict = value_verdict(ours, paper_pct, not_comparable=attack_off, tolerance=TOLERANCE["transfer"])
            claim = f"FGSM transfer, eps {eps:g}: error of the {METHOD_NAMES[method]} target"
            value(claim, "§3", f"{paper_pct:.0f}", ours, verdict, r.scale("relu-400", len(ours)) + ", pairs")
    for method, frac in paper.SPARSITY.items():
        ours = [100 * v for v in r.by_seed("sparsity", "zero_frac", method=method, layer="all").values()]
        verdict = value_verdict(ours, 100 * frac, not_comparable=off, tolerance=TOLERANCE["sparsity"])
        claim = f"fraction of exact zeros, 2x400 ReLU {METHOD_NAMES[method]}, %"
        value(claim, "§3, Figure 3", f"{100 * frac:.0f}", ours, verdict)
    rows += _figure1_rows(r, off)
    seconds = {m: r.rows("timing", "seconds_per_epoch", dataset="mnist", method=m) for m in ("adversarial", "backprop")}
    per_net = {m: dict(zip(df["net"], df["value"])) for m, df in seconds.items()}
    ratios = [
        per_net["adversarial"][n] / per_net["backprop"][n]
        for n in sorted(set(per_net["adversarial"]) & set(per_net["backprop"]))
    ]
    claim = "an adversarial epoch takes roughly 70 % longer than a back-prop one"
    claim += " (median epoch wall times, evaluation included, our device)"
    verdict = value_verdict(ratios, paper.EPOCH_TIME_RATIO, tolerance=TOLERANCE["time_ratio"])
    value(claim, "§6", f"{paper.EPOCH_TIME_RATIO:g}", ratios, verdict, f"one ratio per net, n={len(ratios)}")
    claim = "adversarial back-prop's first-layer filters are more localized (Figure 2)"
    rows.append(_row(claim, "§3, Figure 2", "shown", "Figure 2 below", "2x400 ReLU", "shown, not judged"))
    off = "; ".join(departures(r.run, "cifar10", "cifar-10"))
    for (arch, method, prep), ref in paper.TABLE3.items():
        ours = list(r.by_seed("table3", net=arch, method=method, prep=prep).values())
        verdict = value_verdict(ours, ref.mean_pct, ref.std_pct, not_comparable=off, margin=MARGIN["cifar10"])
        claim = f"Table 3: {paper.TABLE3_ARCH_NAMES[arch]} {paper.TABLE3_METHOD_NAMES[method]}, {prep.upper()}"
        value(claim, "Table 3", paper_stat(ref), ours, verdict, r.scale(arch, len(ours), "cifar10"))
    return rows


def _figure1_rows(r: _Run, off: str) -> list[dict]:
    """Figure 1: "the ReLU and logistic networks converge in about 50 epochs, but the tanh
    network needs more time" (2x800 nets, adversarial, clean training error to zero)."""
    epochs = {
        a: r.by_seed("table2", "converged_epoch", dataset="mnist", net=f"{a}-800", method="adversarial")
        for a in ACT_NAMES
    }
    rows = []
    for act in ("relu", "logistic"):
        ours = [e for e in epochs[act].values() if not math.isnan(e)]
        never = len(epochs[act]) - len(ours)
        verdict = value_verdict(ours, FIGURE1_EPOCHS, not_comparable=off, tolerance=TOLERANCE["epochs"])
        if never and not off:
            verdict = f"inconclusive ({never} of {len(epochs[act])} seeds never reached it)"
        claim = f"Figure 1: 2x800 {ACT_NAMES[act]} reaches zero clean training error in about 50 epochs"
        cell = _values_cell(ours, ".0f") + (f", {never} never" if never else "")
        verdict, scale = verdict if epochs[act] else "not run", r.scale(f"{act}-800", len(epochs[act]))
        rows.append(_row(claim, "§3, Figure 1", str(FIGURE1_EPOCHS), cell, scale, verdict))
    later = {
        s: e - max(epochs["relu"].get(s, math.nan), epochs["logistic"].get(s, math.nan))
        for s, e in epochs["tanh"].items()
    }
    diffs = [d for d in later.values() if not math.isnan(d)]
    claim = "Figure 1: 2x800 tanh needs more epochs than ReLU and logistic (tanh − the later of them)"
    verdict = "not run" if not diffs else f"not comparable ({off})" if off else direction_verdict(diffs, +1)
    cell = _difference_cell(diffs, "+.0f", "+.0f")
    return rows + [_row(claim, "§3, Figure 1", "> 0", cell, r.scale("tanh-800", len(diffs)), verdict)]


def ledger(results) -> pd.DataFrame:
    """One row per claim: claim, paper (value and where), ours, run (net, n, epochs), verdict."""
    r = _Run(results)
    return pd.DataFrame(_direction_rows(r) + _value_rows(r))


# -------------------------------------------------------------------------------- beyond the paper

DIRECTION_METHODS = ("backprop", "random", "adversarial", "goodfellow", "vat")


def direction_tables(results, dataset: str, eps: float = 0.1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ "Is it the direction?" (beyond the paper): per net, each method's clean error, white-box
    PGD and AutoAttack error at `eps` and, for the 2x400 ReLU transfer targets, its FGSM transfer
    error (at each attack eps); then the paired differences adversarial − random and adversarial −
    back-prop of each, with the direction verdict (the paper's side: adversarial lower)."""
    r = _Run(results)
    attack_eps = sorted({float(e) for e in r.rows("attack", dataset=dataset)["eps"].dropna()})
    labels = ["clean (Table 2 statistic)", f"PGD {eps:g}", f"AutoAttack {eps:g}"]
    labels += [f"FGSM transfer {e:g}" for e in attack_eps]

    def measures(net: str, method: str) -> list[dict]:
        """Per column of `labels`: the values per seed (transfer: per pair)."""
        keys = {"dataset": dataset, "net": net, "method": method}
        return [
            r.by_seed("table2", **keys),
            *(r.by_seed("robustness", **keys, attack=attack, eps=eps) for attack in ("pgd", "autoattack")),
            *(r.by_pair(**keys, eps=e) for e in attack_eps),
        ]

    values, differences = [], []
    for net in r.nets(dataset):
        got = {m: measures(net, m) for m in DIRECTION_METHODS}
        ran = [m for m in DIRECTION_METHODS if got[m][0]]
        values += [[net_name(net), METHOD_NAMES[m], *(_values_cell(list(v.values())) for v in got[m])] for m in ran]
        for other in ("random", "backprop"):
            if "adversarial" in ran and other in ran:
                diffs = [_paired(a, b) for a, b in zip(got["adversarial"], got[other], strict=True)]
                cells = [f"{_difference_cell(d)}: {direction_verdict(d, -1)}" if d else "not run" for d in diffs]
                differences.append([net_name(net), f"adversarial − {METHOD_NAMES[other]}", *cells])
    return (
        pd.DataFrame(values, columns=["net", "method", *labels]),
        pd.DataFrame(differences, columns=["net", "comparison", *labels]),
    )

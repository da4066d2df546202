"""Render reports/tables.md and the content of reports/metrics.json from one run's results.

The report stage gathers every result of the run into one plain dict and calls
`render_tables(results)` (markdown: the paper's number beside ours) and
`metrics_json(results)` (the DESIGN.md "reports/metrics.json" schema). Errors are test-error
percentages, `*_zero_frac` are fractions in [0, 1]. The shape of `results`:

    results = {
      "run": {                       # the configuration, printed above the tables
        "datasets": ["mnist"],       # MNIST-format datasets of the run (mnist, fashion-mnist)
        "epochs": 150, "seeds": 5,
        "train_size": None,          # MNIST training images, None = all
        "device": "cpu", "torch": "2.14.1", "dvc": "3.67.1", "git_rev": "abc1234",
        "data_verified": True,       # False: some input had no known checksum
        "eps": 0.08, "batch_size": 10, "lr": {"logistic": 0.5, "tanh": 0.01, "relu": 0.05},
        "cifar": {"max_epochs": 300, "train_size": None, "seeds": 5},   # None: branch off
      },
      "table2": {"<dataset>": {"<act>-<units>": {          # e.g. "relu-800"
          "backprop": {"error_pct": m, "std_pct": s, "n_seeds": n},
          "adversarial": {...}}}},
      "attack": {"<dataset>": {"<eps>": {                  # FGSM transfer, section 3
          "backprop_pct": e, "backprop_std_pct": s, "adversarial_pct": e, "adversarial_std_pct": s,
          "n_pairs": n}}},
      "sparsity": {"<dataset>": {"backprop_zero_frac": z, "adversarial_zero_frac": z,
                                 "per_layer": {"backprop": [z1, z2], "adversarial": [z1, z2]}}},
      "table3": {"<arch>-<prep>": {"<method>": {"error_pct": m, "std_pct": s, "n_seeds": n}}},
      "notes": ["choices made where the paper is ambiguous", ...],
    }

Any section or entry may be missing or partial. Only what the run produced is printed; a paper
number without a reproduced counterpart gets "not run", never a number. The paper's protocol
comes from `advgrad.paper`, its single source.
"""

from __future__ import annotations

import copy
from typing import Any, Iterable

from tabulate import tabulate

from advgrad import paper

__all__ = ["render_tables", "metrics_json", "NOT_RUN"]

NOT_RUN = "not run"
NO_COUNTERPART = "—"  # a cell with nothing to compare (e.g. a Table 1 row we do not reproduce)
SECTIONS = ("run", "table2", "attack", "sparsity", "table3", "notes")
ACTIVATIONS = ("logistic", "tanh", "relu")
ACT_NAMES = {"logistic": "logistic", "tanh": "tanh", "relu": "ReLU"}  # as the paper prints them
CIFAR_PREPS = ("zca", "simple")


# -------------------------------------------------------------------------------- formatting

def _pct(value: float) -> str:
    return f"{float(value):.2f}"


def _whole_pct(value: float) -> str:
    # The attack and sparsity numbers are printed as whole percents in the paper; printing
    # "22.00" would claim a precision the paper does not give.
    return f"{float(value):.0f}"


def _signed(value: float) -> str:
    text = f"{float(value):+.2f}"
    return "+0.00" if text == "-0.00" else text


def _setting(value: Any) -> str:
    """A configuration value as typed in params.yaml (None = all data)."""
    if value is None:
        return "all"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_setting(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_setting(v) for v in value) or "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _paper_stat(stat: paper.Stat | None) -> str:
    return NO_COUNTERPART if stat is None else f"{_pct(stat.mean_pct)} ± {_pct(stat.std_pct)}"


def _ours(entry: dict | None, mean: str = "error_pct", std: str | None = "std_pct",
          n: str | None = "n_seeds") -> str:
    """`mean ± std (n=k)` from whatever part of an entry the run produced, else "not run"."""
    if not entry or entry.get(mean) is None:
        return NOT_RUN
    text = _pct(entry[mean])
    if std and entry.get(std) is not None:
        text += f" ± {_pct(entry[std])}"
    if n and entry.get(n) is not None:
        text += f" (n={int(entry[n])})"
    return text


def _table(headers: list[str], rows: list[list[str]]) -> str:
    # disable_numparse: keep "1.00" as printed (tabulate would otherwise re-format it as "1").
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


# -------------------------------------------------------------------------------- keys

def _split_key(key: str, what: str, section: str) -> tuple[str, str]:
    head, sep, tail = str(key).rpartition("-")
    if not sep or not head or not tail:
        raise ValueError(f"results[{section!r}]: key {key!r} is not '{what}'")
    return head, tail


def _table2_key(key: str) -> tuple[str, int]:
    act, units = _split_key(key, "<activation>-<units>", "table2")
    if not units.isdigit():
        raise ValueError(f"results['table2']: key {key!r} is not '<activation>-<units>'")
    return act, int(units)


def _act_order(act: str) -> tuple[int, str]:
    return (ACTIVATIONS.index(act) if act in ACTIVATIONS else len(ACTIVATIONS), act)


def _eps_key(eps: float | str) -> str:
    """One spelling per epsilon, so 0.5, "0.5" and "0.50" are the same row and metric."""
    return f"{float(eps):g}"


def _datasets(results: dict) -> list[str]:
    """The run's MNIST-format datasets, then any other dataset a section has results for."""
    names = list(results.get("run", {}).get("datasets") or [])
    for section in ("table2", "attack", "sparsity"):
        names += sorted(d for d in results.get(section, {}) if d not in names)
    return names


def _check_sections(results: dict) -> None:
    unknown = sorted(set(results) - set(SECTIONS))
    if unknown:
        raise ValueError(f"results: unknown section(s) {', '.join(map(repr, unknown))}; "
                         f"known: {', '.join(SECTIONS)}")


# -------------------------------------------------------------------------------- header

def _reductions(run: dict) -> list[str]:
    """Every way the run is smaller than the paper's protocol (a missing value counts)."""
    out = []
    if run.get("datasets"):
        epochs, seeds = run.get("epochs"), run.get("seeds")
        if epochs is None or epochs < paper.MNIST_PROTOCOL["epochs"]:
            out.append(f"MNIST epochs {_setting(epochs)} (paper {paper.MNIST_PROTOCOL['epochs']})")
        if seeds is None or seeds < paper.MNIST_PROTOCOL["seeds"]:
            out.append(f"seeds {_setting(seeds)} (paper {paper.MNIST_PROTOCOL['seeds']})")
        if run.get("train_size") is not None:
            out.append(f"MNIST train_size {run['train_size']} "
                       f"(paper: all {paper.MNIST_PROTOCOL['train_size']})")
    cifar = run.get("cifar")
    if cifar:
        max_epochs, seeds = cifar.get("max_epochs"), cifar.get("seeds")
        if max_epochs is None or max_epochs < paper.CIFAR_PROTOCOL["max_epochs"]:
            out.append(f"CIFAR-10 max_epochs {_setting(max_epochs)} "
                       f"(paper {paper.CIFAR_PROTOCOL['max_epochs']})")
        if seeds is None or seeds < paper.CIFAR_PROTOCOL["seeds"]:
            out.append(f"CIFAR-10 seeds {_setting(seeds)} (paper {paper.CIFAR_PROTOCOL['seeds']})")
        if cifar.get("train_size") is not None:
            out.append(f"CIFAR-10 train_size {cifar['train_size']} "
                       f"(paper: all {paper.CIFAR_PROTOCOL['train_size']})")
    return out


def _changes(run: dict) -> list[str]:
    """MNIST settings that differ from the paper's (not smaller, but not the same experiment)."""
    if not run.get("datasets"):
        return []
    out = []
    for key in ("eps", "batch_size"):
        if key in run and run[key] != paper.MNIST_PROTOCOL[key]:
            out.append(f"{key} {_setting(run[key])} (paper {_setting(paper.MNIST_PROTOCOL[key])})")
    for act, lr in (run.get("lr") or {}).items():
        paper_lr = paper.MNIST_PROTOCOL["lr"].get(act)
        if lr != paper_lr:
            out.append(f"lr.{act} {_setting(lr)} (paper {_setting(paper_lr)})")
    return out


def _header(run: dict) -> str:
    lines = ["# Nøkland (2015), \"Improving Back-Propagation by Adding an Adversarial Gradient\": "
             "the paper's numbers and this run's", ""]
    reductions = _reductions(run)
    if reductions:
        lines += ["**Reduced-scale run: not comparable to the paper's numbers**. "
                  f"Reduced: {'; '.join(reductions)}.", ""]
    changes = _changes(run)
    if changes:
        lines += [f"**Changed from the paper's protocol**: {'; '.join(changes)}.", ""]
    if run.get("data_verified") is not True:
        why = "verification status not recorded" if run.get("data_verified") is None else \
            "some input files had no known checksum (ADVGRAD_ALLOW_UNVERIFIED=1)"
        lines += [f"**WARNING: unverified data**: {why}.", ""]
    if "fashion-mnist" in (run.get("datasets") or []):
        lines += ["**fashion-mnist: the paper's numbers are for MNIST**; on fashion-mnist they are "
                  "a point of reference, not a target.", ""]

    paper_lr = _setting(paper.MNIST_PROTOCOL["lr"])
    cifar = run.get("cifar")
    cifar_run = "branch off" if not cifar else (
        f"max_epochs {_setting(cifar.get('max_epochs'))}, train_size {_setting(cifar.get('train_size'))}, "
        f"seeds {_setting(cifar.get('seeds'))}")
    cifar_paper = (f"max_epochs {paper.CIFAR_PROTOCOL['max_epochs']}, "
                   f"train_size all ({paper.CIFAR_PROTOCOL['train_size']}), "
                   f"seeds {paper.CIFAR_PROTOCOL['seeds']}")
    verified = {True: "checksums verified", False: "UNVERIFIED"}.get(run.get("data_verified"), "unknown")
    rows = [
        ["MNIST-format datasets", _setting(run.get("datasets", [])), "mnist"],
        ["MNIST epochs", _setting(run.get("epochs")), str(paper.MNIST_PROTOCOL["epochs"])],
        ["seeds (runs per configuration)", _setting(run.get("seeds")), str(paper.MNIST_PROTOCOL["seeds"])],
        ["MNIST train_size", _setting(run.get("train_size")), f"all ({paper.MNIST_PROTOCOL['train_size']})"],
        ["eps (adversarial training)", _setting(run.get("eps")), _setting(paper.MNIST_PROTOCOL["eps"])],
        ["batch size", _setting(run.get("batch_size")), str(paper.MNIST_PROTOCOL["batch_size"])],
        ["learning rate", _setting(run.get("lr")), paper_lr],
        ["CIFAR-10", cifar_run, cifar_paper],
        ["device", _setting(run.get("device")), NO_COUNTERPART],
        ["torch / dvc", f"{_setting(run.get('torch'))} / {_setting(run.get('dvc'))}", NO_COUNTERPART],
        ["git revision", _setting(run.get("git_rev")), NO_COUNTERPART],
        ["data", verified, NO_COUNTERPART],
    ]
    lines.append(_table(["setting", "this run", "paper"], rows))
    return "\n".join(lines)


# -------------------------------------------------------------------------------- sections

def _table1(results: dict, datasets: list[str]) -> str:
    table2 = results.get("table2", {})
    columns = datasets or [None]
    headers = ["method", "citation", "arch", "units", "paper error %"] + [
        f"ours back-prop ({d})" if d else "ours back-prop" for d in columns]
    rows = []
    for row in paper.TABLE1:
        # Only the three plain back-propagation rows are reproduced: the eps = 0 baselines.
        reproduced = row.method == "Back-propagation" and row.arch == "2x800"
        ours = [_ours(table2.get(d, {}).get(f"{row.units.lower()}-800", {}).get("backprop"))
                if reproduced else NO_COUNTERPART for d in columns]
        rows.append([row.method, row.citation, row.arch, row.units, _pct(row.error_pct)] + ours)
    return "\n".join([
        "## Table 1: previously published MNIST results, and our back-prop baselines", "",
        f"Paper: {paper.TABLE1_SOURCE}. Ours: the same code as Table 2 with eps = 0, "
        "test error % as mean ± std over seeds (n = seeds).", "",
        _table(headers, rows)])


def _table2(results: dict, datasets: list[str]) -> str:
    parts = ["## Table 2: adversarial back-propagation on MNIST", "",
             f"Paper: {paper.TABLE2_SOURCE}, mean ± std % over 5 runs of the mean test error of the "
             "last 10 epochs. Ours: the same statistic over our seeds (n = seeds); "
             "ours − paper compares the adversarial means."]
    if not datasets:
        parts += ["", f"**{NOT_RUN}**: no MNIST-format dataset in this run."]
    for dataset in datasets or [None]:
        ours = results.get("table2", {}).get(dataset, {}) if dataset else {}
        by_key = {_table2_key(k): v for k, v in ours.items()}
        keys = sorted(set(paper.TABLE2) | set(by_key), key=lambda k: (_act_order(k[0]), k[1]))
        rows = []
        for act, units in keys:
            stat, entry = paper.TABLE2.get((act, units)), by_key.get((act, units), {})
            adversarial = entry.get("adversarial") or {}
            both = stat is not None and adversarial.get("error_pct") is not None
            rows.append([f"2x{units}", ACT_NAMES.get(act, act), _paper_stat(stat), _ours(adversarial),
                         _signed(adversarial["error_pct"] - stat.mean_pct) if both else NO_COUNTERPART,
                         _ours(entry.get("backprop"))])
        if dataset:
            parts += ["", f"### {dataset}" + (" (the paper's numbers are for MNIST)"
                                               if dataset != "mnist" else "")]
        parts += ["", _table(["arch", "units", "paper adversarial", "ours adversarial",
                              "ours − paper", "ours back-prop"], rows)]
    return "\n".join(parts)


def _attack(results: dict, datasets: list[str]) -> str:
    parts = ["## FGSM transfer attack (section 3)", "",
             f"Paper: {paper.ATTACK_SOURCE}. FGSM examples made from the validation set with a 2x400 "
             "ReLU back-prop model; error % of another 2x400 ReLU back-prop model and of a 2x400 ReLU "
             "adversarially trained one. Ours: mean ± std over n (source, target) model pairs."]
    if not datasets:
        parts += ["", f"**{NOT_RUN}**: no MNIST-format dataset in this run."]
    paper_rows = {_eps_key(e): row for e, row in paper.ATTACK.items()}
    for dataset in datasets or [None]:
        by_eps = results.get("attack", {}).get(dataset, {}) if dataset else {}
        ours = {_eps_key(e): v for e, v in by_eps.items()}
        rows = []
        for eps in sorted(set(paper_rows) | set(ours), key=float):
            row, entry = paper_rows.get(eps), ours.get(eps) or {}
            rows.append([
                eps,
                _whole_pct(row.backprop_pct) if row else NO_COUNTERPART,
                _whole_pct(row.adversarial_pct) if row else NO_COUNTERPART,
                _ours(entry, "backprop_pct", "backprop_std_pct", None),
                _ours(entry, "adversarial_pct", "adversarial_std_pct", None),
                str(int(entry["n_pairs"])) if entry.get("n_pairs") is not None else NOT_RUN])
        if dataset:
            parts += ["", f"### {dataset}"]
        parts += ["", _table(["eps", "paper back-prop", "paper adversarial", "ours back-prop",
                              "ours adversarial", "n pairs"], rows)]
    return "\n".join(parts)


def _sparsity(results: dict, datasets: list[str]) -> str:
    parts = ["## Sparsity of the hidden units (section 3, Figure 3)", "",
             f"Paper: {paper.SPARSITY_SOURCE}. Fraction (%) of exact zeros among the hidden-unit "
             "activations of a 2x400 ReLU net, overall and per hidden layer."]
    if not datasets:
        parts += ["", f"**{NOT_RUN}**: no MNIST-format dataset in this run."]
    for dataset in datasets or [None]:
        entry = results.get("sparsity", {}).get(dataset, {}) if dataset else {}
        per_layer = entry.get("per_layer") or {}
        n_layers = max((len(v) for v in per_layer.values()), default=0)
        rows = []
        for method in ("backprop", "adversarial"):
            overall = entry.get(f"{method}_zero_frac")
            layers = list(per_layer.get(method) or [])
            rows.append([method, _whole_pct(100 * paper.SPARSITY[method]),
                         NOT_RUN if overall is None else _pct(100 * overall)]
                        + [_pct(100 * z) for z in layers] + [NOT_RUN] * (n_layers - len(layers)))
        if dataset:
            parts += ["", f"### {dataset}"]
        parts += ["", _table(["method", "paper zeros %", "ours zeros %"]
                             + [f"ours layer {i + 1} %" for i in range(n_layers)], rows)]
    return "\n".join(parts)


def _ordered(known: Iterable[str], seen: Iterable[str]) -> list[str]:
    known = list(known)
    return known + sorted(set(seen) - set(known))


def _table3(results: dict) -> str:
    ours: dict[tuple[str, str], dict] = {}
    for key, methods in results.get("table3", {}).items():
        arch, prep = _split_key(key, "<arch>-<prep>", "table3")
        ours[(arch, prep)] = methods
    archs = _ordered(paper.TABLE3_ARCH_NAMES, (a for a, _ in ours))
    preps = _ordered(CIFAR_PREPS, (p for _, p in ours))
    methods = _ordered(paper.TABLE3_METHOD_NAMES, (m for v in ours.values() for m in v))
    parts = ["## Table 3: CIFAR-10 test error", "",
             f"Paper: {paper.TABLE3_SOURCE}, mean ± std % over 5 runs. "
             "Ours: mean ± std over seeds (n = seeds)."]
    if not ours:
        why = " (CIFAR-10 branch off)" if not results.get("run", {}).get("cifar") else ""
        parts += ["", f"**{NOT_RUN}**{why}: no CIFAR-10 result in this run."]
    headers = ["arch", "method"]
    for prep in preps:
        headers += [f"paper {prep.upper()}", f"ours {prep.upper()}"]
    rows = []
    for arch in archs:
        for method in methods:
            row = [paper.TABLE3_ARCH_NAMES.get(arch, arch), paper.TABLE3_METHOD_NAMES.get(method, method)]
            for prep in preps:
                row += [_paper_stat(paper.TABLE3.get((arch, method, prep))),
                        _ours(ours.get((arch, prep), {}).get(method))]
            rows.append(row)
    parts += ["", _table(headers, rows)]
    return "\n".join(parts)


def _notes(results: dict) -> str:
    notes = results.get("notes") or []
    body = "\n".join(f"- {note}" for note in notes) if notes else "- None recorded."
    return "## Notes: choices made where the paper is ambiguous\n\n" + body


def render_tables(results: dict) -> str:
    """reports/tables.md: the run's configuration, then each of the paper's tables beside ours."""
    _check_sections(results)
    datasets = _datasets(results)
    parts = [_header(results.get("run", {})), _table1(results, datasets), _table2(results, datasets),
             _attack(results, datasets), _sparsity(results, datasets), _table3(results), _notes(results)]
    return "\n\n".join(parts) + "\n"


# -------------------------------------------------------------------------------- metrics.json

def _pick(entry: dict | None, keys: tuple[str, ...]) -> dict:
    """The listed keys an entry has, as JSON numbers (counts as int); absent ones stay absent."""
    entry = entry or {}
    return {k: (int(entry[k]) if k.startswith("n_") else float(entry[k]))
            for k in keys if entry.get(k) is not None}


_STAT = ("error_pct", "std_pct", "n_seeds")
_ATTACK = ("backprop_pct", "adversarial_pct", "backprop_std_pct", "adversarial_std_pct", "n_pairs")
_SPARSITY = ("backprop_zero_frac", "adversarial_zero_frac")


def _nonempty(d: dict) -> dict:
    return {k: v for k, v in d.items() if v}


def metrics_json(results: dict) -> dict:
    """reports/metrics.json (DESIGN.md): percent errors and zero fractions for `dvc metrics`.

    The per-layer sparsity lists stay in tables.md (dvc metrics shows scalars). `run.dataset`
    is the comma-joined dataset list, a scalar that `dvc exp show` can put in a column.
    """
    _check_sections(results)
    run = copy.deepcopy(results.get("run", {}))
    datasets = run.pop("datasets", [])
    return {
        "table2": _nonempty({d: _nonempty({cfg: _nonempty({m: _pick(e, _STAT) for m, e in methods.items()})
                                           for cfg, methods in configs.items()})
                             for d, configs in results.get("table2", {}).items()}),
        "attack": _nonempty({d: _nonempty({_eps_key(e): _pick(v, _ATTACK) for e, v in by_eps.items()})
                             for d, by_eps in results.get("attack", {}).items()}),
        "sparsity": _nonempty({d: _pick(v, _SPARSITY) for d, v in results.get("sparsity", {}).items()}),
        "table3": _nonempty({k: _nonempty({m: _pick(e, _STAT) for m, e in methods.items()})
                             for k, methods in results.get("table3", {}).items()}),
        "run": {"dataset": ",".join(datasets or []), **run},
    }

"""Render reports/tables.md and the content of reports/metrics.json from one run's results.

The report stage gathers every result of the run into one plain dict and calls
`render_tables(results)` (markdown: the paper's number beside ours) and
`metrics_json(results)` (reports/metrics.json, for `dvc metrics`). Errors are test-error
percentages, `*_zero_frac` are fractions in [0, 1]. The shape of `results`:

    results = {
      "run": {                       # the configuration, printed above the tables
        "datasets": ["mnist"],       # MNIST-format datasets of the run (mnist, fashion-mnist)
        "cifar_datasets": [],        # CIFAR-10-format datasets ([]: branch off)
        "settings": {"eps": 0.08, "mnist.epochs": 150, ...},   # params.yaml, dotted keys
        "provenance": {"git_revs": ["<sha>"], "git_dirty": False, "dvc_exp_names": [],
                       "dvc_exp_baseline_revs": [], "devices": ["cpu"], "torch": ["2.14.1"]},
        "dvc": "3.67.1",
        "data_verified": True,       # False: some input had no known checksum
      },
      "table2": {"<dataset>": {"<act>-<units>": {          # e.g. "relu-800"
          "backprop": {"error_pct": m, "std_pct": s, "n_seeds": n},
          "adversarial": {...},
          "difference": {"mean_pct": d, "ci95_pct": c, "n": n}}}},  # adversarial - backprop, by seed
      "attack": {"<dataset>": {"<eps>": {                  # FGSM transfer, section 3
          "backprop_pct": e, "backprop_std_pct": s, "adversarial_pct": e, "adversarial_std_pct": s,
          "n_pairs": n, "not_run": "why, when no pair could be formed"}}},
      "sparsity": {"<dataset>": {"backprop_zero_frac": z, "adversarial_zero_frac": z,
                                 "per_layer": {"backprop": [z1, z2], "adversarial": [z1, z2]},
                                 "seeds": [0, 1], "images": "the 10000 test images",
                                 "figure_seed": 0, "figure_zero_frac": {"backprop": z, ...}}},
      "table3": {"<arch>-<prep>": {"<method>": {"error_pct": m, "std_pct": s, "n_seeds": n}}},
      "notes": ["choices made where the paper is ambiguous", ...],
    }

Any section or entry may be missing or partial. Only what the run produced is printed; a paper
number without a reproduced counterpart gets "not run", never a number. The paper's numbers
come from `advgrad.report.paper`, the protocol every setting is compared with from `advgrad.report.protocol`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from tabulate import tabulate

from advgrad.core.names import ACTIVATIONS, CIFAR_PREPS
from advgrad.report import paper, protocol

__all__ = ["render_tables", "metrics_json", "headline", "NOT_RUN"]

NOT_RUN = "not run"
NO_COUNTERPART = "—"  # a cell with nothing to compare (e.g. a Table 1 row we do not reproduce)
SECTIONS = ("run", "table2", "attack", "sparsity", "robustness", "table3", "notes", "figures")
ROBUSTNESS_EPS = ("0.1", "0.2", "0.3")
HEADLINE_NET = "relu-400"  # the net of metrics.json's `headline`: the transfer and Figure 2-3 net
METHOD_NAMES = {"backprop": "back-prop", "adversarial": "adversarial", "goodfellow": "Goodfellow et al."}
ACT_NAMES = {"logistic": "logistic", "tanh": "tanh", "relu": "ReLU"}  # as the paper prints them


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

NOT_RECORDED = "not recorded"


def _same(a: Any, b: Any) -> bool:
    """Equal as params.yaml values: a list and a tuple of the same items are the same."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return a == b


def _branches(run: dict) -> set[str]:
    """The parts of the pipeline this run has: MNIST (with its attack) and/or CIFAR-10."""
    return ({"mnist", "attack", "robustness"} if run.get("datasets") else set()) | (
        {"cifar10"} if run.get("cifar_datasets") else set())


def _protocol_rows(run: dict) -> list[tuple[protocol.Setting, Any]]:
    """(setting, this run's value) for every protocol row of the run's branches. A fixed choice
    of the code (no params key) has its reference value; a key the run did not record gets
    NOT_RECORDED."""
    settings = run.get("settings") or {}
    branches = _branches(run)
    return [(row, row.value if row.key is None else settings.get(row.key, NOT_RECORDED))
            for row in protocol.PROTOCOL if row.branch in branches]


def _difference(row: protocol.Setting, value: Any) -> str:
    where = "paper" if row.source == protocol.PAPER else f"default, {row.source}"
    return f"{row.key} {_setting(value)} ({where}: {_setting(row.value)})"


def _differences(run: dict) -> tuple[list[str], list[str], list[str]]:
    """This run's departures from the protocol table: (reductions of scale, other changes from
    the paper's values, changes from our defaults where the paper is silent)."""
    reduced, paper_changes, default_changes, seen = [], [], [], set()
    for row, value in _protocol_rows(run):
        if row.key is None or row.key in seen or _same(value, row.value):
            continue
        seen.add(row.key)  # `seeds` belongs to both branches: listed once
        text = _difference(row, value)
        if row.reduction:
            reduced.append(text)
        elif row.source == protocol.PAPER:
            paper_changes.append(text)
        else:
            default_changes.append(text)
    return reduced, paper_changes, default_changes


def _window(run: dict) -> list[str]:
    """What the Table 2 statistic averages, and a warning when that is most of the run."""
    if not run.get("datasets"):
        return []
    settings = run.get("settings") or {}
    last, epochs = settings.get("mnist.last_epochs"), settings.get("mnist.epochs")
    if last is None or epochs is None:
        return [f"**Error statistic**: window {NOT_RECORDED}."]
    used = min(last, epochs)
    lines = [f"**Error statistic** (Tables 1-2): per seed, the mean test error of the last {used} of "
             f"{epochs} epochs (paper: the last 10 of 150); then mean ± sample std over seeds."]
    if 2 * used > epochs:
        lines.append(f"**Warning**: the window covers more than half of the run ({used} of {epochs} "
                     "epochs), so it averages the learning curve, not its end.")
    return lines


def _short(rev: str | None) -> str:
    return rev[:12] if rev else "unknown"


def _provenance(prov: dict | None) -> str:
    """Where the results come from: commit(s), uncommitted code, DVC experiment."""
    if not prov or not prov.get("git_revs"):
        return "no training result recorded one" if prov is not None else NOT_RECORDED
    revs = ", ".join(_short(r) for r in prov["git_revs"])
    text = revs if len(prov["git_revs"]) == 1 else f"several commits ({revs})"
    if prov.get("git_dirty"):
        text += " with uncommitted code changes"
    elif prov.get("git_dirty") is None:
        text += " (uncommitted changes unknown)"
    if prov.get("dvc_exp_names"):
        base = ", ".join(_short(r) for r in prov.get("dvc_exp_baseline_revs") or [])
        text += f"; DVC experiment {', '.join(prov['dvc_exp_names'])}" + (f" based on {base}" if base else "")
    return text


def _header(run: dict) -> str:
    lines = ["# Nøkland (2015), \"Improving Back-Propagation by Adding an Adversarial Gradient\": "
             "the paper's numbers and this run's", ""]
    reduced, paper_changes, default_changes = _differences(run)
    if reduced:
        lines += ["**Reduced-scale run: not comparable to the paper's numbers**. "
                  f"Reduced: {'; '.join(reduced)}.", ""]
    if paper_changes:
        lines += [f"**Changed from the paper's protocol**: {'; '.join(paper_changes)}.", ""]
    if default_changes:
        lines += ["**Changed from our defaults where the paper is silent**: "
                  f"{'; '.join(default_changes)}.", ""]
    for line in _window(run):
        lines += [line, ""]
    if run.get("data_verified") is not True:
        why = "verification status not recorded" if run.get("data_verified") is None else \
            "some input files had no known checksum (ADVGRAD_ALLOW_UNVERIFIED=1)"
        lines += [f"**WARNING: unverified data**: {why}.", ""]
    if any(d != "mnist" for d in run.get("datasets") or []):
        others = ", ".join(d for d in run["datasets"] if d != "mnist")
        lines += [f"**{others}: the paper's numbers are for MNIST**; on {others} they are "
                  "a point of reference, not a target.", ""]

    prov = run.get("provenance")
    verified = {True: "checksums verified", False: "UNVERIFIED"}.get(run.get("data_verified"), "unknown")
    rows = [
        ["MNIST-format datasets", _setting(run.get("datasets", [])) if run.get("datasets") else "branch off"],
        ["CIFAR-10", _setting(run.get("cifar_datasets")) if run.get("cifar_datasets") else "branch off"],
        ["code", _provenance(prov)],
        ["device", _setting((prov or {}).get("devices")) if prov else NOT_RECORDED],
        ["torch / dvc", f"{_setting((prov or {}).get('torch')) if prov else NOT_RECORDED} / "
                        f"{_setting(run.get('dvc'))}"],
        ["data", verified],
    ]
    lines.append(_table(["this run", ""], rows))
    lines += ["", "Every setting, its reference value and where that comes from: "
                  "[Protocol](#protocol-every-setting-and-its-source) at the end."]
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
        citation = row.citation + ("[^simard]" if row.citation.startswith("Simard") else "")
        rows.append([row.method, citation, row.arch, row.units, _pct(row.error_pct)] + ours)
    return "\n".join([
        "## Table 1: previously published MNIST results, and our back-prop baselines", "",
        f"Paper: {paper.TABLE1_SOURCE}. Ours: the same code as Table 2 with eps = 0, "
        "test error % as mean ± std over seeds (n = seeds).", "",
        _table(headers, rows), "",
        "[^simard]: Simard et al. (2003) report 1.6 % for a net with a single hidden layer of 800 "
        "units; the paper lists it as 2x800. Our back-prop column is a 2x800 net.",
    ])


def _difference_cell(entry: dict | None) -> str:
    """Adversarial minus back-prop, paired by seed: `mean ± ci95 (n=k)`."""
    if not entry or entry.get("mean_pct") is None:
        return NOT_RUN
    text = _signed(entry["mean_pct"])
    if entry.get("ci95_pct") is not None:
        text += f" ± {_pct(entry['ci95_pct'])}"
    n = entry.get("n")
    return text + (f" (n={int(n)})" if n is not None and n != 1 else " (n=1, no interval)")


def _per_dataset(intro: list[str], datasets: list[str], body: Callable[[str | None], list[str]]) -> str:
    """A section of the MNIST branch: its intro, then `body(dataset)` under a heading per dataset
    (or once, marked "not run", when the branch has no dataset)."""
    parts = list(intro)
    if not datasets:
        parts += ["", f"**{NOT_RUN}**: no MNIST-format dataset in this run."]
    for dataset in datasets or [None]:
        if dataset:
            parts += ["", f"### {dataset}" + (" (the paper's numbers are for MNIST)" if dataset != "mnist" else "")]
        parts += body(dataset)
    return "\n".join(parts)


def _table2(results: dict, datasets: list[str]) -> str:
    def body(dataset: str | None) -> list[str]:
        by_key = {_table2_key(k): v for k, v in results.get("table2", {}).get(dataset, {}).items()}
        keys = sorted(set(paper.TABLE2) | set(by_key), key=lambda k: (_act_order(k[0]), k[1]))
        compare = dataset in (None, "mnist")  # the paper's numbers are MNIST's
        rows = []
        for act, units in keys:
            stat, entry = paper.TABLE2.get((act, units)), by_key.get((act, units), {})
            adversarial = entry.get("adversarial") or {}
            both = stat is not None and adversarial.get("error_pct") is not None
            row = [f"2x{units}", ACT_NAMES.get(act, act), _paper_stat(stat), _ours(adversarial)]
            if compare:
                row.append(_signed(adversarial["error_pct"] - stat.mean_pct) if both else NO_COUNTERPART)
            rows.append(row + [_ours(entry.get("backprop")), _difference_cell(entry.get("difference")),
                               _ours(entry.get("goodfellow")), _difference_cell(entry.get("goodfellow_difference"))])
        headers = ["arch", "units", "paper adversarial", "ours adversarial"] + (
            ["ours − paper"] if compare else []) + ["ours back-prop", "adversarial − back-prop",
                                                    "ours Goodfellow et al.", "Goodfellow − back-prop"]
        return ["", _table(headers, rows)]

    return _per_dataset([
        "## Table 2: adversarial back-propagation on MNIST", "",
        f"Paper: {paper.TABLE2_SOURCE}, mean ± std % over 5 runs of the mean test error of the "
        "last 10 epochs. Ours: the same statistic over our seeds (n = seeds). "
        "**adversarial − back-prop**: the paper's claim as a number, the per-seed difference "
        "(same seed = same initial weights and shuffling) with its 95 % Student-t interval; "
        "negative means adversarial back-propagation has the lower test error. "
        "ours − paper compares the adversarial means, on MNIST only. **Goodfellow et al.**: their "
        "(2014) eq. 3 objective, 0.5 J(x) + 0.5 J(x + mu), trained here with this net, eps and "
        "protocol (beyond the paper); it is not Table 1's 0.78 % (a 2x1600 maxout net with dropout, "
        "another protocol), which it must not be compared with."], datasets, body)


def _attack(results: dict, datasets: list[str]) -> str:
    paper_rows = {_eps_key(e): row for e, row in paper.ATTACK.items()}

    def body(dataset: str | None) -> list[str]:
        ours = {_eps_key(e): v for e, v in results.get("attack", {}).get(dataset, {}).items()}
        rows, reasons = [], sorted({v["not_run"] for v in ours.values() if v.get("not_run")})
        for eps in sorted(set(paper_rows) | set(ours), key=float):
            row, entry = paper_rows.get(eps), ours.get(eps) or {}
            rows.append([
                eps,
                _whole_pct(row.backprop_pct) if row else NO_COUNTERPART,
                _whole_pct(row.adversarial_pct) if row else NO_COUNTERPART,
                _ours(entry, "backprop_pct", "backprop_std_pct", None),
                _ours(entry, "adversarial_pct", "adversarial_std_pct", None),
                str(int(entry["n_pairs"])) if entry.get("n_pairs") is not None else NOT_RUN])
        return ["", _table(["eps", "paper back-prop", "paper adversarial", "ours back-prop",
                            "ours adversarial", "n pairs"], rows)] + [
            f"\n**{NOT_RUN}**: {reason}." for reason in reasons]

    settings = results.get("run", {}).get("settings") or {}
    inputs, clip = settings.get("attack.inputs", NOT_RECORDED), settings.get("attack.clip", NOT_RECORDED)
    units = {"pixels": "pixels of [0, 1] (the paper's text; the literal protocol)",
             "standardized": "standard deviations of the training pixels (attack.inputs: standardized, "
                             "the author's code's -normalization simple; the fit nets were trained so too)"}
    reading = (f"**Reading of this run**: eps in {units.get(inputs, inputs)}; examples "
               + {True: "clipped to [0, 1]", False: "not clipped"}.get(clip, f"clip {clip}") + ". "
               "Ours are far above the paper's under the literal protocol; every reading we measured, and "
               "what they leave: README, section \"The FGSM transfer gap\".")
    return _per_dataset([
        "## FGSM transfer attack (section 3)", "",
        f"Paper: {paper.ATTACK_SOURCE}. FGSM examples made from the validation set with a 2x400 "
        "ReLU back-prop model; error % of another 2x400 ReLU back-prop model and of a 2x400 ReLU "
        "adversarially trained one. Ours: mean ± std over n (source, target) pairs; source seed i "
        "attacks the back-prop and the adversarial target of seed i+1, so the two targets differ "
        "only in the method and never share the source's initial weights.", "", reading], datasets, body)


def _sparsity(results: dict, datasets: list[str]) -> str:
    def body(dataset: str | None) -> list[str]:
        entry = results.get("sparsity", {}).get(dataset, {})
        per_layer = entry.get("per_layer") or {}
        figure = entry.get("figure_zero_frac") or {}
        n_layers = max((len(v) for v in per_layer.values()), default=0)
        seed = entry.get("figure_seed")
        rows = []
        for method in ("backprop", "adversarial"):
            overall = entry.get(f"{method}_zero_frac")
            layers = list(per_layer.get(method) or [])
            rows.append([method, _whole_pct(100 * paper.SPARSITY[method]),
                         NOT_RUN if overall is None else _pct(100 * overall)]
                        + [_pct(100 * z) for z in layers] + [NOT_RUN] * (n_layers - len(layers))
                        + [NOT_RUN if figure.get(method) is None else _pct(100 * figure[method])])
        parts, seeds = [], entry.get("seeds")
        if seeds or entry.get("images"):
            parts += ["", f"Images: {entry.get('images', NOT_RECORDED)}; seeds {_setting(seeds)} "
                          f"(n={len(seeds or [])}); Figure 3 shows seed {_setting(seed)}."]
        return parts + ["", _table(["method", "paper zeros %", "ours zeros % (mean over seeds)"]
                                   + [f"ours layer {i + 1} %" for i in range(n_layers)]
                                   + [f"ours zeros %, seed {_setting(seed)} (Figure 3)"], rows)]

    return _per_dataset([
        "## Sparsity of the hidden units (section 3, Figure 3)", "",
        f"Paper: {paper.SPARSITY_SOURCE}. Fraction (%) of exact zeros among the hidden-unit "
        "activations of a 2x400 ReLU net, overall and per hidden layer. Ours: the 2x400 ReLU "
        "nets trained without the validation split; the mean over their seeds, and the one "
        "seed that Figure 3 shows."], datasets, body)


def _robustness(results: dict, datasets: list[str]) -> str:
    settings = results.get("run", {}).get("settings") or {}
    warnings = []

    def body(dataset: str | None) -> list[str]:
        by_cfg = results.get("robustness", {}).get(dataset, {}) if dataset else {}
        if not by_cfg:
            return ["", f"**{NOT_RUN}**: no robustness result for this dataset."]
        rows, images = [], set()
        for cfg in sorted(by_cfg, key=lambda k: (_act_order(_table2_key(k)[0]), _table2_key(k)[1])):
            act, units = _table2_key(cfg)
            for method in [m for m in _ordered(METHOD_NAMES, by_cfg[cfg]) if m in by_cfg[cfg]]:
                entry = by_cfg[cfg][method]
                images.add(entry.get("n_images"))
                fgsm, pgd = entry.get("fgsm", {}), entry.get("pgd", {})
                row = [f"2x{units}", ACT_NAMES.get(act, act), METHOD_NAMES.get(method, method), _ours(fgsm.get("0"))]
                for eps in ROBUSTNESS_EPS:
                    row += [_ours(fgsm.get(eps)), _ours(pgd.get(eps))]
                    f, g = (fgsm.get(eps) or {}).get("error_pct"), (pgd.get(eps) or {}).get("error_pct")
                    if f is not None and g is not None and g < f:
                        warnings.append(f"{dataset} 2x{units} {act} {method} eps {eps}: PGD {_pct(g)} % < FGSM "
                                        f"{_pct(f)} %")
                rows.append(row)
        headers = ["arch", "units", "method", "clean"]
        for eps in ROBUSTNESS_EPS:
            headers += [f"FGSM {eps}", f"PGD {eps}"]
        n = ", ".join(str(i) for i in sorted(i for i in images if i is not None)) or NOT_RECORDED
        clean = ("The clean column is the final epoch's nets on these images, not Table 2's statistic "
                 "(the mean over the last epochs, on the whole test set).")
        if dataset == "mnist" and images and max(i or 0 for i in images) < 10000:
            clean += (" On a subset of MNIST it reads higher: the first 5000 test images are the harder half "
                      "for these nets.")
        return ["", f"Images: the first {n} test images. {clean}", "", _table(headers, rows)]

    threat = (f"L-infinity, examples {'clipped to [0, 1]' if settings.get('robustness.clip') else 'not clipped'}; "
              f"PGD: {_setting(settings.get('robustness.pgd_steps'))} steps of "
              f"{_setting(settings.get('robustness.pgd_step_size'))} from a uniform random start, "
              f"{_setting(settings.get('robustness.pgd_restarts'))} restart(s); an image counts as broken if "
              "either loss (the training objective or softmax cross-entropy) breaks it")
    text = _per_dataset([
        "## Beyond the paper: robustness", "",
        "The paper evaluates one-step FGSM examples transferred from another net. Here every Table 2 "
        "net is attacked with its own gradients (white-box), by FGSM and by PGD (Madry et al. 2018), "
        "and the error % is the mean ± std over seeds (n). Threat model: " + threat + ". Nets trained against "
        "one-step FGSM can look robust to it by masking their gradients: where PGD breaks far more "
        "images than FGSM, the FGSM robustness is not robustness."], datasets, body)
    if warnings:
        text += ("\n\n**WARNING: PGD did better than FGSM** (a broken attack, or a result to explain): "
                 + "; ".join(warnings) + ".")
    return text


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
        why = " (CIFAR-10 branch off)" if not results.get("run", {}).get("cifar_datasets") else ""
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


def _protocol(results: dict) -> str:
    """The whole protocol table of advgrad.report.protocol, with this run's value of each setting."""
    rows = [[_setting(row.key) if row.key else "(fixed)", row.name, _setting(row.value), row.source,
             row.evidence, _setting(value) + ("" if row.key is None or _same(value, row.value) else " **≠**")]
            for row, value in _protocol_rows(results.get("run", {}))]
    parts = ["## Protocol: every setting and its source", "",
             "The reference value is the paper's where the paper gives it (source \"paper\", with "
             "its section and words); where the paper is silent it is our default, with what it "
             "rests on: the author's later Torch code (anokland/dfa-torch), Srivastava et al. "
             "(2014), or our own choice. **≠** marks this run's departures."]
    if not rows:
        return "\n".join(parts + ["", f"**{NOT_RUN}**: no branch of the pipeline in this run."])
    return "\n".join(parts + ["", _table(["params.yaml key", "setting", "reference", "source",
                                           "evidence", "this run"], rows)])


def _with_figures(text: str, results: dict, section: str) -> str:
    """A section followed by its figures (results["figures"][section]: path and caption)."""
    figures = (results.get("figures") or {}).get(section) or []
    return text + "".join(f"\n\n![{f['caption']}]({f['path']})\n\n*{f['caption']}*" for f in figures)


def render_tables(results: dict) -> str:
    """reports/tables.md: the run's configuration, then each of the paper's tables beside ours,
    each with its figures."""
    _check_sections(results)
    datasets = _datasets(results)
    parts = [_header(results.get("run", {})), _table1(results, datasets),
             _with_figures(_table2(results, datasets), results, "table2"), _attack(results, datasets),
             _with_figures(_sparsity(results, datasets), results, "sparsity"),
             _with_figures(_robustness(results, datasets), results, "robustness"),
             _table3(results), _notes(results), _protocol(results)]
    return "\n\n".join(parts) + "\n"


# -------------------------------------------------------------------------------- headline

def headline(results: dict, figures_dir: str = "reports/figures") -> str:
    """The README's results block: what ran, the Table 2 rows, the transfer attack and the
    robustness at a glance, and Figure 1; generated with the report so that it cannot drift."""
    run, settings = results.get("run", {}), (results.get("run", {}).get("settings") or {})
    datasets = run.get("datasets") or []
    if not datasets:
        return "No MNIST result in the committed reports.\n"
    ds = datasets[0]
    reduced, _, _ = _differences(run)
    scale = (f"{ds}, {settings.get('seeds')} seeds, {settings.get('mnist.epochs')} epochs "
             f"(the paper: 150 epochs, 5 seeds), data {'verified' if run.get('data_verified') else 'UNVERIFIED'}"
             + ("; reduced scale" if reduced else ""))
    lines = [f"**Committed results** ({scale}; every number in [reports/tables.md](reports/tables.md)):", ""]
    rows = []
    order = lambda k: (_act_order(_table2_key(k)[0]), _table2_key(k)[1])  # noqa: E731
    for key in sorted(results.get("table2", {}).get(ds, {}), key=order):
        act, units = _table2_key(key)
        entry = results["table2"][ds][key]
        rows.append([f"2x{units} {ACT_NAMES.get(act, act)}", _paper_stat(paper.TABLE2.get((act, units))),
                     _ours(entry.get("adversarial")), _ours(entry.get("backprop")),
                     _difference_cell(entry.get("difference")), _ours(entry.get("goodfellow"))])
    lines += [_table(["net", "paper adversarial", "ours adversarial", "ours back-prop", "adversarial − back-prop",
                      "ours Goodfellow et al."], rows), ""]
    attack = results.get("attack", {}).get(ds, {})
    if attack:
        cells = []
        for e, v in sorted(attack.items(), key=lambda kv: float(kv[0])):
            if float(e) in paper.ATTACK:
                ref = paper.ATTACK[float(e)]
                cells.append(f"eps {_eps_key(e)}: back-prop target {_ours(v, 'backprop_pct', None, None)} %, "
                             f"adversarial target {_ours(v, 'adversarial_pct', None, None)} % (paper "
                             f"{_whole_pct(ref.backprop_pct)} / {_whole_pct(ref.adversarial_pct)} %)")
        lines += ["FGSM transfer (section 3, literal reading; see *The FGSM transfer gap*): "
                  + "; ".join(cells) + ".", ""]
    robust = results.get("robustness", {}).get(ds, {}).get("relu-400", {})
    if robust:
        cells = [f"{METHOD_NAMES.get(m, m)} {_ours(robust[m].get('pgd', {}).get('0.1'), std=None, n=None)} / "
                 f"{_ours(robust[m].get('pgd', {}).get('0.3'), std=None, n=None)} %"
                 for m in METHOD_NAMES if m in robust]
        lines += ["White-box PGD error of the 2x400 ReLU nets at eps 0.1 / 0.3 (beyond the paper): "
                  + "; ".join(cells) + ".", ""]
    lines += [f"![Figure 1]({figures_dir}/fig1_error_curves-{ds}.png)"]
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------------------------- metrics.json

def _number(key: str, value) -> int | float:
    """A metric as it means: counts as int, fractions to 4 decimals, percents to 2 (as tables.md
    and the paper print them), so `dvc exp show` and `dvc metrics diff` stay readable."""
    if key == "n" or key.startswith("n_"):
        return int(value)
    return round(float(value), 4 if key.endswith("_frac") else 2)


def _pick(entry: dict | None, keys: tuple[str, ...]) -> dict:
    """The listed keys an entry has, as JSON numbers; absent ones stay absent."""
    entry = entry or {}
    return {k: _number(k, entry[k]) for k in keys if entry.get(k) is not None}


_STAT = ("error_pct", "std_pct", "n_seeds")
_DIFFERENCE = ("mean_pct", "ci95_pct", "n")


def _robustness_entry(entry: dict) -> dict:
    return _nonempty({attack: _nonempty({eps: _pick(stat, _STAT) for eps, stat in entry.get(attack, {}).items()})
                      for attack in ("fgsm", "pgd")})
_ATTACK = ("backprop_pct", "adversarial_pct", "backprop_std_pct", "adversarial_std_pct", "n_pairs")
_SPARSITY = ("backprop_zero_frac", "adversarial_zero_frac")


def _nonempty(d: dict) -> dict:
    return {k: v for k, v in d.items() if v}


def _table2_entry(methods: dict) -> dict:
    return _nonempty({m: _pick(e, _DIFFERENCE if m.endswith("difference") else _STAT) for m, e in methods.items()})


def metrics_json(results: dict) -> dict:
    """reports/metrics.json: percent errors and zero fractions for `dvc metrics`.

    The per-layer sparsity lists stay in tables.md (dvc metrics shows scalars). Params are not
    copied (DVC shows them beside the metrics); `run` holds only facts params cannot tell:
    the dataset list as one scalar and whether every input was verified.
    """
    _check_sections(results)
    run = results.get("run", {})
    ds = next(iter(run.get("datasets") or []), None)
    t2, rb = (results.get(k, {}).get(ds, {}).get(HEADLINE_NET, {}) for k in ("table2", "robustness"))
    headline = {"adv_pct": (t2.get("adversarial") or {}).get("error_pct"),
                "bp_pct": (t2.get("backprop") or {}).get("error_pct"),
                "diff_pct": (t2.get("difference") or {}).get("mean_pct"),
                "pgd_0.1_pct": ((rb.get("adversarial") or {}).get("pgd") or {}).get("0.1", {}).get("error_pct")}
    return {
        # A few short columns for `dvc exp show` (2x400 ReLU of the first dataset; README).
        "headline": {k: _number(k, v) for k, v in headline.items() if v is not None},
        "table2": _nonempty({d: _nonempty({cfg: _table2_entry(methods) for cfg, methods in configs.items()})
                             for d, configs in results.get("table2", {}).items()}),
        "attack": _nonempty({d: _nonempty({_eps_key(e): _pick(v, _ATTACK) for e, v in by_eps.items()})
                             for d, by_eps in results.get("attack", {}).items()}),
        "sparsity": _nonempty({d: _pick(v, _SPARSITY) for d, v in results.get("sparsity", {}).items()}),
        "robustness": _nonempty({d: _nonempty({cfg: _nonempty({m: _robustness_entry(e) for m, e in methods.items()})
                                               for cfg, methods in configs.items()})
                                 for d, configs in results.get("robustness", {}).items()}),
        "table3": _nonempty({k: _nonempty({m: _pick(e, _STAT) for m, e in methods.items()})
                             for k, methods in results.get("table3", {}).items()}),
        "run": {"dataset": ",".join(run.get("datasets") or []),
                "data_verified": run.get("data_verified") is True},
    }

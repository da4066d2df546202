"""reports/tables.md and reports/metrics.json rendering (advgrad.report.tables) and the paper's numbers.

The golden file tests/golden/tables_small.md is the rendering of `small_results()`, tidy per-seed
rows; after an
intended change of the layout regenerate it with
    UPDATE_GOLDEN=1 python -m pytest -q tests/test_report.py
and read the diff before committing it.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import re
import statistics
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

from advgrad.report import paper, protocol
from advgrad.report.tables import (
    COLUMNS,
    KINDS,
    NOT_RUN,
    Results,
    headline,
    metrics_json,
    render_tables,
    results_csv,
    tidy,
)

GOLDEN = Path(__file__).parent / "golden" / "tables_small.md"
NO_COUNTERPART = "—"
REDUCED = "**Reduced-scale run: not comparable to the paper's numbers**"


def paper_settings(**changes) -> dict:
    """params.yaml values (dotted keys) at the protocol's reference values, with `changes`
    (keys with "__" for ".")."""
    settings = {row.key: row.value for row in protocol.PROTOCOL if row.key}
    settings.update({k.replace("__", "."): v for k, v in changes.items()})
    return settings


def full_run(settings: dict | None = None, **changes) -> dict:
    """A `run` section with the paper's protocol (not reduced, verified data)."""
    run = {
        "datasets": ["mnist"],
        "cifar_datasets": ["cifar-10"],
        "settings": paper_settings() if settings is None else settings,
        "provenance": {
            "git_revs": ["abc1234def5678"],
            "git_dirty": False,
            "dvc_exp_names": [],
            "dvc_exp_baseline_revs": [],
            "devices": ["cpu"],
            "torch": ["2.14.1"],
        },
        "dvc": "3.67.1",
        "data_verified": True,
    }
    run.update(changes)
    return run


def net(name: str) -> dict:
    """The keys of an MNIST net, e.g. "relu-400"."""
    act, units = name.rsplit("-", 1)
    return {"net": name, "activation": act, "units": int(units)}


def seeds(values: list[float], metric: str = "error_pct", **keys) -> list[dict]:
    """One tidy row per seed (0, 1, ...) of `values`."""
    return [{**keys, "seed": seed, "metric": metric, "value": v} for seed, v in enumerate(values)]


def small_tables() -> dict[str, list[dict]]:
    """Partial results in every section, as per-seed rows (the golden file's input). Each pair of
    seeds is chosen so that the statistics print as round numbers: mean ± sample std over seeds,
    e.g. 0.88 and 0.95 -> 0.915 ± 0.0495; relu-400's adversarial - backprop differences, -0.2757
    and -0.3623, -> -0.319 with a 95 % half-width of 12.706 * 0.0612 / sqrt(2) = 0.5502."""
    mnist, relu400 = {"dataset": "mnist"}, {"dataset": "mnist", **net("relu-400")}
    attack = lambda eps, method, pair, value: {
        **relu400,
        "eps": eps,
        "method": method,
        "source_seed": pair[0],
        "seed": pair[1],
        "metric": "error_pct",
        "value": value,
    }
    sparsity = [{**relu400, "metric": "figure_seed", "value": 0}, {**relu400, "metric": "n_images", "value": 60}]
    for method, overall, layers in (
        ("backprop", [0.4012, 0.463], [0.41, 0.4542]),
        ("adversarial", [0.5513, 0.5843], [0.55, 0.5856]),
    ):
        sparsity += seeds(overall, "zero_frac", **relu400, method=method, layer="all")
        sparsity += [
            {**relu400, "method": method, "layer": i + 1, "metric": "mean_zero_frac", "value": z}
            for i, z in enumerate(layers)
        ]
    robust = lambda method, attack, eps, values: seeds(values, **relu400, method=method, attack=attack, eps=eps)
    return {
        "table2": [
            *seeds([1.1557, 1.3123], **mnist, **net("relu-400"), method="backprop"),
            *seeds([0.88, 0.95], **mnist, **net("relu-400"), method="adversarial"),
            *seeds([0.7, 0.7], **mnist, **net("relu-800"), method="adversarial"),
            *seeds([1.847, 2.127], **mnist, **net("logistic-800"), method="backprop"),
            # a width the paper does not have: shown with the paper's cell empty
            *seeds([3.5], **mnist, **net("tanh-100"), method="adversarial"),
            *seeds([4.25], **mnist, **net("tanh-100"), method="backprop"),
        ],
        "attack": [
            # per (source, target) pair: 0.25's means 30.5 and 8.75, std 2.5 sqrt(2) and 1.25 sqrt(2)
            attack(0.25, "backprop", (0, 1), 28.0),
            attack(0.25, "backprop", (1, 0), 33.0),
            attack(0.25, "adversarial", (0, 1), 7.5),
            attack(0.25, "adversarial", (1, 0), 10.0),
            attack(0.1, "backprop", (0, 1), 12.0),
            attack(0.1, "adversarial", (0, 1), 3.0),
        ],
        "sparsity": sparsity,
        "robustness": [
            {**relu400, "method": "adversarial", "metric": "n_images", "value": 1000},
            *robust("adversarial", "fgsm", 0.0, [0.83, 0.97]),
            *robust("adversarial", "fgsm", 0.1, [2.895, 3.605]),
            *robust("adversarial", "fgsm", 0.3, [39.44, 41.56]),
            *robust("adversarial", "pgd", 0.0, [0.83, 0.97]),
            *robust("adversarial", "pgd", 0.1, [6.575, 6.925]),
            *robust("adversarial", "pgd", 0.3, [99.145, 99.855]),
            # AutoAttack breaks more than PGD + 2 points: the masking warning
            *robust("adversarial", "autoattack", 0.1, [9.0, 10.0]),
            {**relu400, "method": "adversarial", "attack": "autoattack", "metric": "n_images", "value": 500},
            {**relu400, "method": "backprop", "metric": "n_images", "value": 1000},
            *robust("backprop", "fgsm", 0.1, [60.0]),
            *robust("backprop", "pgd", 0.1, [75.0]),
        ],
        "table3": [
            *seeds([44.97, 46.03], dataset="cifar-10", net="mlp", prep="simple", method="backprop"),
            *seeds([43.895, 44.605], dataset="cifar-10", net="mlp", prep="simple", method="adversarial"),
        ],
    }


def results_of(run: dict, tables: dict[str, list[dict]] | None = None, **fields) -> Results:
    return Results(run, {kind: tidy(rows) for kind, rows in (tables or {}).items()}, **fields)


def small_results(tables: dict[str, list[dict]] | None = None) -> Results:
    """A reduced, unverified run with partial results in every section (the golden file's input)."""
    return results_of(
        full_run(
            paper_settings(
                mnist__epochs=3, seeds=2, mnist__train_size=12000, cifar10__max_epochs=2, cifar10__train_size=500
            ),
            data_verified=False,
        ),
        small_tables() if tables is None else tables,
        notes=(
            "Output layer: sigmoid + binary cross-entropy summed over units (author's code).",
            "No clipping of x + mu to [0, 1].",
        ),
    )


def markdown_tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """Every pipe table of a markdown text as (headers, rows of cells)."""
    tables, lines = [], text.splitlines()
    for i, line in enumerate(lines[:-1]):
        if line.startswith("|") and re.fullmatch(r"\|[-|]+\|", lines[i + 1]):
            cells = lambda row: [c.strip() for c in row.strip("|").split("|")]
            rows, j = [], i + 2
            while j < len(lines) and lines[j].startswith("|"):
                rows.append(cells(lines[j]))
                j += 1
            tables.append((cells(line), rows))
    return tables


def ours_cells(text: str) -> list[str]:
    """The cells of every column that holds a reproduced value (not a paper one, not ours − paper)."""
    out = []
    for headers, rows in markdown_tables(text):
        if headers[0] == "claim":  # the claims ledger: its numbers are tests/test_ledger.py's
            continue
        cols = [
            i
            for i, h in enumerate(headers)
            if (h.startswith("ours") and "paper" not in h) or h in ("n pairs", "adversarial − back-prop")
        ]
        out += [row[i] for row in rows for i in cols]
    return out


def header_of(text: str) -> str:
    return text.split("## The claims ledger")[0]


# --------------------------------------------------------------------------------- golden file


def test_render_matches_golden_file():
    text = render_tables(small_results())
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
        pytest.skip(f"rewrote {GOLDEN}; read it before committing")
    assert text == GOLDEN.read_text(encoding="utf-8")


def test_render_does_not_depend_on_row_order():
    results = small_results()
    shuffled = {kind: df.sample(frac=1, random_state=0) for kind, df in reversed(results.tables.items())}
    assert render_tables(dataclasses.replace(results, tables=shuffled)) == render_tables(results)


# --------------------------------------------------------------------------------- never invent


MNIST_RELU400 = {"dataset": "mnist", **net("relu-400")}


@pytest.mark.parametrize(
    "tables, notes",
    [
        (None, ()),
        ({kind: [] for kind in KINDS}, ()),
        # rows without a value: a seed that produced nothing
        (
            {
                "table2": seeds([math.nan], **MNIST_RELU400, method="backprop"),
                "attack": [{**MNIST_RELU400, "eps": 0.25, "method": "backprop", "metric": "error_pct"}],
                "sparsity": seeds([math.nan], "zero_frac", **MNIST_RELU400, method="backprop", layer="all"),
                "table3": seeds([math.nan], dataset="cifar-10", net="mlp", prep="zca", method="backprop"),
            },
            (),
        ),
        # a spread without its mean is not a result
        (
            {
                "table2": seeds([0.1, 0.1], "std_pct", **MNIST_RELU400, method="backprop"),
                "attack": [
                    {**MNIST_RELU400, "eps": 0.25, "method": "backprop", "metric": "std_error_pct", "value": 1.0}
                ],
                "sparsity": [{**MNIST_RELU400, "metric": "figure_seed", "value": 0}],
                "table3": seeds([0.5], "std_pct", dataset="cifar-10", net="mlp", prep="zca", method="backprop"),
            },
            (),
        ),
    ],
    ids=["sections-missing", "sections-empty", "values-missing", "means-missing"],
)
def test_missing_results_render_not_run_and_no_number(tables, notes):
    text = render_tables(results_of(full_run(), tables, notes=notes))
    cells = ours_cells(text)
    assert len(cells) > 30  # Table 1, 2, attack, sparsity and Table 3 all have "ours" columns
    assert set(cells) <= {NOT_RUN, NO_COUNTERPART}, set(cells)
    for section in ("## Table 2", "## FGSM", "## Sparsity", "## Table 3"):
        assert NOT_RUN in text.split(section)[1].split("\n## ")[0], section
    # the paper's own numbers are still printed beside the empty columns
    assert "0.83 ± 0.04" in text and "62.72 ± 0.29" in text


def test_partial_results_show_only_produced_numbers():
    results = small_results()
    text = render_tables(results)
    # Independent oracle: every number in an "ours" cell is an input row's value, or the mean or
    # sample std of a group of rows that differ only in the seed, or a paired difference of two
    # methods (mean and 95 % half-width), rounded; computed here without the report's code.
    produced = {"2", "1"}  # n=2 / n=1 counts and "n pairs"
    keys = [c for c in COLUMNS if c not in ("seed", "source_seed", "value")]
    for df in results.tables.values():
        for _, group in df.dropna(subset=["value"]).astype({"layer": str}).groupby(keys, dropna=False):
            values = list(group["value"])
            numbers = values + [statistics.fmean(values)] + ([statistics.stdev(values)] if len(values) > 1 else [])
            produced |= {f"{abs(x):.2f}" for x in numbers} | {f"{abs(100 * x):.2f}" for x in numbers}
    for _, group in results.tables["table2"].groupby(["dataset", "net"]):
        by_seed = {m: dict(zip(g["seed"], g["value"])) for m, g in group.groupby("method")}
        for method in set(by_seed) - {"backprop"} if "backprop" in by_seed else ():
            diffs = [v - by_seed["backprop"][s] for s, v in by_seed[method].items() if s in by_seed["backprop"]]
            produced.add(f"{abs(statistics.fmean(diffs)):.2f}")
            if len(diffs) > 1:
                half = stats.t.ppf(0.975, len(diffs) - 1) * statistics.stdev(diffs) / math.sqrt(len(diffs))
                produced.add(f"{half:.2f}")
    cells = ours_cells(text)
    # (a Table 1 baseline that ran at another width than 2x800 names it: "... at 2x400")
    shown = {num for cell in cells for num in re.findall(r"\d+(?:\.\d+)?", re.sub(r" at 2x\d+$", "", cell))}
    assert shown and shown <= produced, shown - produced
    # A paper row the run did not produce says so.
    table2 = dict((row[0] + " " + row[1], row) for row in markdown_tables(text.split("## Table 2")[1])[0][1])
    assert table2["2x1200 ReLU"][3:] == [NOT_RUN, NO_COUNTERPART, NOT_RUN, NOT_RUN, NOT_RUN, NOT_RUN]
    # The paired difference: mean ± 95 % half-width (n); one pair has no interval.
    assert table2["2x400 ReLU"][6] == "-0.32 ± 0.55 (n=2)"
    assert table2["2x100 tanh"][6] == "-0.75 (n=1, no interval)"
    # ours − paper, computed here from the paper's text: 0.915 − 0.83 and 0.7 − 0.78.
    assert table2["2x400 ReLU"][4] == "+0.09" and table2["2x800 ReLU"][4] == "-0.08"
    assert table2["2x100 tanh"][2] == NO_COUNTERPART  # not a paper configuration


# --------------------------------------------------------------------------------- header flags


def test_full_protocol_run_is_not_flagged_reduced():
    text = render_tables(results_of(full_run()))
    assert REDUCED not in text and "Changed from" not in text
    protocol_rows = markdown_tables(text.split("## Protocol")[1])[0][1]
    assert len(protocol_rows) == len(protocol.PROTOCOL) and not any("≠" in row[-1] for row in protocol_rows)


@pytest.mark.parametrize(
    "changes, reason",
    [
        ({"mnist__epochs": 1}, "mnist.epochs 1 (paper: 150)"),
        ({"seeds": 1}, "seeds 1 (paper: 5)"),
        ({"mnist__train_size": 12000}, "mnist.train_size 12000 (paper: all)"),
        ({"cifar10__max_epochs": 10}, "cifar10.max_epochs 10 (paper: 300)"),
        ({"cifar10__train_size": 1000}, "cifar10.train_size 1000 (paper: all)"),
    ],
)
def test_reduced_run_is_flagged_with_the_reason(changes, reason):
    head = header_of(render_tables(results_of(full_run(paper_settings(**changes)))))
    assert REDUCED in head
    reduced_line = next(line for line in head.splitlines() if REDUCED in line)
    assert reason in reduced_line and reduced_line.count(reason) == 1  # `seeds` is in both branches


def test_switched_off_branches_are_not_reductions():
    # MNIST branch off: its short epochs do not matter; CIFAR branch off: its settings neither.
    assert REDUCED not in render_tables(results_of(full_run(paper_settings(mnist__epochs=1), datasets=[])))
    text = render_tables(results_of(full_run(paper_settings(cifar10__max_epochs=1), cifar_datasets=[])))
    assert REDUCED not in text and "cifar10.max_epochs" not in text
    assert "CIFAR-10 branch off" in text.split("## Table 3")[1]
    # ... but the header says what the run left out
    assert "**Not in this run**: the CIFAR-10 branch (no Table 3)." in header_of(text)


def test_changed_protocol_is_flagged_apart_from_changed_defaults():
    run = full_run(
        paper_settings(eps=0.05, mnist__lr__tanh=0.02, attack__clip=True, cifar10__dropout__conv=[0.25, 0.25, 0.25])
    )
    text = render_tables(results_of(run))
    head = header_of(text)
    paper_line = next(line for line in head.splitlines() if "**Changed from the paper's protocol**" in line)
    assert "eps 0.05 (paper: 0.08)" in paper_line and "mnist.lr.tanh 0.02 (paper: 0.01)" in paper_line
    # A choice of ours or of the author's code is never labelled the paper's.
    default_line = next(line for line in head.splitlines() if "**Changed from our defaults" in line)
    assert "attack.clip True (default, ours: False)" in default_line
    assert "cifar10.dropout.conv 0.25, 0.25, 0.25 (default, author's code: 0.25, 0.25, 0.5)" in default_line
    assert "attack.clip" not in paper_line and REDUCED not in head
    protocol_rows = {row[0]: row for row in markdown_tables(text.split("## Protocol")[1])[0][1]}
    assert protocol_rows["eps"][3] == "paper" and protocol_rows["eps"][5] == "0.05 **≠**"
    assert protocol_rows["attack.clip"][3] == "ours"
    assert protocol_rows["mnist.validation_size"][3] == "author's code"


def test_every_protocol_row_names_a_params_key_or_is_a_fixed_choice():
    from stages.params import load_params
    from stages.report import flat_settings

    settings = flat_settings(load_params())
    keys = [row.key for row in protocol.PROTOCOL if row.key]
    assert set(keys) <= set(settings), set(keys) - set(settings)
    for row in protocol.PROTOCOL:
        assert row.branch in protocol.BRANCHES and row.source in (
            protocol.PAPER,
            protocol.AUTHOR,
            protocol.SRIVASTAVA,
            protocol.OURS,
            protocol.GOODFELLOW,
            protocol.MADRY,
            protocol.MIYATO,
        )
        if row.source == protocol.PAPER:  # the paper's value comes with the paper's words
            assert row.evidence.startswith("§"), row


@pytest.mark.parametrize("epochs, last, warned", [(150, 10, False), (20, 10, False), (15, 10, True), (4, 10, True)])
def test_header_states_the_error_window_and_warns_when_it_is_most_of_the_run(epochs, last, warned):
    head = header_of(render_tables(results_of(full_run(paper_settings(mnist__epochs=epochs, mnist__last_epochs=last)))))
    assert f"the last {min(last, epochs)} of {epochs} epochs" in head
    assert ("covers more than half of the run" in head) is warned


def test_header_says_where_the_code_came_from():
    clean = dict(markdown_tables(header_of(render_tables(results_of(full_run()))))[0][1])
    assert clean["code"] == "abc1234def56" and clean["device"] == "cpu"
    prov = {
        "git_revs": ["abc1234def5678"],
        "git_dirty": True,
        "dvc_exp_names": ["exp-1a2b3"],
        "dvc_exp_baseline_revs": ["abc1234def5678"],
        "devices": ["cpu"],
        "torch": ["2.14.1"],
    }
    head = header_of(render_tables(results_of(full_run(provenance=prov))))
    assert "abc1234def56 with uncommitted code changes; DVC experiment exp-1a2b3 based on abc1234def56" in head
    assert "+uncommitted" not in head


@pytest.mark.parametrize("verified", [False, None])
def test_unverified_data_is_flagged_in_the_header(verified):
    head = header_of(render_tables(results_of(full_run(data_verified=verified))))
    assert "**WARNING: unverified data**" in head


def test_verified_data_is_not_flagged():
    assert "unverified" not in render_tables(results_of(full_run())).lower()


def test_fashion_mnist_says_the_paper_numbers_are_for_mnist():
    results = results_of(
        full_run(datasets=["fashion-mnist"]),
        {"table2": seeds([9.5], dataset="fashion-mnist", **net("relu-400"), method="adversarial")},
    )
    text = render_tables(results)
    assert "the paper's numbers are for MNIST" in header_of(text)
    assert "### fashion-mnist (the paper's numbers are for MNIST)" in text
    assert "the paper's numbers are for MNIST" not in render_tables(results_of(full_run()))
    # "ours − paper" only where the dataset is the paper's.
    table2 = text.split("## Table 2")[1].split("\n## ")[0]
    assert "ours − paper" not in markdown_tables(table2)[0][0]
    assert "ours − paper" in markdown_tables(render_tables(small_results()).split("## Table 2")[1])[0][0]


def test_transfer_not_run_says_why():
    results = results_of(
        full_run(),
        {"attack": [{**MNIST_RELU400, "eps": 0.25, "metric": "n_pairs", "value": 0}]},
        not_run={"attack/mnist": "needs at least 2 seeds"},
    )
    attack = render_tables(results).split("## FGSM")[1].split("\n## ")[0]
    assert "**not run**: needs at least 2 seeds." in attack


def test_sparsity_says_which_seeds_and_images_and_agrees_with_figure_3():
    sparsity = render_tables(small_results()).split("## Sparsity")[1].split("\n## ")[0]
    assert "Images: the 60 test images; seeds 0, 1 (n=2); Figure 3 shows seed 0." in sparsity
    headers, rows = markdown_tables(sparsity)[0]
    assert headers[-1] == "ours zeros %, seed 0 (Figure 3)"
    assert [row[-1] for row in rows] == ["40.12", "55.13"]


def test_simard_row_has_its_footnote():
    text = render_tables(small_results())
    assert "Simard et al. (2003)[^simard]" in text and "single hidden layer of 800" in text


def test_bad_input_fails_with_a_clear_message():
    with pytest.raises(ValueError, match="unknown section.*'tabel2'"):
        render_tables(results_of(full_run(), {"tabel2": []}))
    with pytest.raises(ValueError, match="'relu800'.*<activation>-<units>"):
        render_tables(
            results_of(full_run(), {"table2": seeds([1.0], dataset="mnist", net="relu800", method="backprop")})
        )


# --------------------------------------------------------------------------------- metrics.json


def test_metrics_json_has_the_design_schema():
    tables = small_tables()
    tables["attack"] += [
        {**MNIST_RELU400, "eps": float("0.50"), "method": m, "metric": "error_pct", "value": v}
        | {"source_seed": 0, "seed": 1}
        for m, v in (("backprop", 50.0), ("adversarial", 20.0))
    ]
    metrics = metrics_json(small_results(tables))
    json.dumps(metrics)  # serialisable as is
    assert set(metrics) == {"headline", "table2", "attack", "sparsity", "robustness", "table3", "run"}
    assert metrics["headline"] == {"adv_pct": 0.92, "bp_pct": 1.23, "diff_pct": -0.32, "pgd_0.1_pct": 6.75}
    assert metrics["robustness"]["mnist"]["relu-400"]["adversarial"]["pgd"]["0.1"] == {
        "error_pct": 6.75,
        "std_pct": 0.25,
        "n_seeds": 2,
    }
    assert metrics["table2"]["mnist"]["relu-400"]["adversarial"] == {  # percents to 2 decimals
        "error_pct": 0.92,
        "std_pct": 0.05,
        "n_seeds": 2,
    }
    assert metrics["table2"]["mnist"]["relu-400"]["difference"] == {"mean_pct": -0.32, "ci95_pct": 0.55, "n": 2}
    assert metrics["table2"]["mnist"]["tanh-100"]["difference"] == {"mean_pct": -0.75, "n": 1}  # no interval
    assert set(metrics["table2"]["mnist"]["relu-800"]) == {"adversarial"}  # no invented backprop
    assert set(metrics["attack"]["mnist"]) == {"0.1", "0.25", "0.5"}  # one spelling per eps
    assert {"backprop_pct", "adversarial_pct"} <= set(metrics["attack"]["mnist"]["0.25"])
    assert metrics["sparsity"]["mnist"] == {"backprop_zero_frac": 0.4321, "adversarial_zero_frac": 0.5678}
    assert metrics["table3"]["mlp-simple"]["backprop"] == {"error_pct": 45.5, "std_pct": 0.75, "n_seeds": 2}
    # No copies of params: only what params cannot tell.
    assert metrics["run"] == {"dataset": "mnist", "data_verified": False}


def test_metrics_json_of_an_empty_run_has_empty_sections():
    metrics = metrics_json(results_of(full_run(datasets=[]), {"table2": seeds([math.nan], **MNIST_RELU400)}))
    assert metrics["table2"] == metrics["attack"] == metrics["sparsity"] == metrics["table3"] == {}
    assert metrics["robustness"] == {}
    assert metrics["run"]["dataset"] == ""


def test_results_csv_holds_every_row_a_reader_needs_to_recompute_the_report():
    results = small_results()
    text = results_csv(results)
    assert text.splitlines()[0] == "kind," + ",".join(COLUMNS)
    read = pd.read_csv(io.StringIO(text))
    assert len(read) == sum(len(df) for df in results.tables.values())
    again = dataclasses.replace(
        results, tables={kind: tidy(g.drop(columns="kind").to_dict("records")) for kind, g in read.groupby("kind")}
    )
    assert render_tables(again) == render_tables(results) and metrics_json(again) == metrics_json(results)


# --------------------------------------------------------------------------------- paper numbers


def test_paper_tables_are_complete():
    assert len(paper.TABLE1) == 11
    assert set(paper.TABLE2) == {(a, u) for a in ("logistic", "tanh", "relu") for u in (400, 800, 1200)}
    assert len(paper.TABLE3) == 2 * 4 * 2


def test_paper_numbers_agree_with_the_papers_own_text():
    """Cross-check the tables against claims made elsewhere in the paper (an independent copy)."""
    t1 = {(r.method, r.arch, r.units): r.error_pct for r in paper.TABLE1}
    best = lambda act: min(s.mean_pct for (a, _), s in paper.TABLE2.items() if a == act)  # noqa: E731
    # Abstract: "from 1.60% to 0.95% in a logistic network, and from 1.40% to 0.78% ... ReLU".
    assert (t1[("Back-propagation", "2x800", "logistic")], best("logistic")) == (1.60, 0.95)
    assert (t1[("Back-propagation", "2x800", "ReLU")], best("relu")) == (1.40, 0.78)
    # Section 5: "The 2x400 ReLU network performs better than a 2x8192 network trained with dropout".
    assert paper.TABLE2[("relu", 400)].mean_pct < t1[("Dropout + max norm", "2x8192", "ReLU")]
    # Section 4: fully connected, "adversarial training combined with the simple pre-processing
    # step gives the best result"; conv + whitened data, "the best result is achieved if both
    # methods are combined".
    mlp = {k: s.mean_pct for k, s in paper.TABLE3.items() if k[0] == "mlp"}
    assert min(mlp, key=mlp.get) == ("mlp", "adversarial", "simple")
    conv_zca = {k: s.mean_pct for k, s in paper.TABLE3.items() if k[0] == "conv" and k[2] == "zca"}
    assert min(conv_zca, key=conv_zca.get) == ("conv", "adversarial-dropout", "zca")
    # Section 3 attack and sparsity: adversarial training lowers the error and raises the zeros.
    assert all(r.adversarial_pct < r.backprop_pct for r in paper.ATTACK.values())
    assert paper.SPARSITY["backprop"] < paper.SPARSITY["adversarial"]


def test_robustness_rows_land_in_their_method_and_eps_columns_and_pgd_below_fgsm_is_flagged():
    text = render_tables(small_results())
    section = text.split("## Beyond the paper: robustness")[1].split("\n## ")[0]
    headers, rows = markdown_tables(section)[0]
    assert headers == [
        "arch",
        "units",
        "method",
        "clean, ± sd",
        "FGSM 0.1",
        "PGD 0.1",
        "FGSM 0.2",
        "PGD 0.2",
        "FGSM 0.3",
        "PGD 0.3",
        "AutoAttack 0.1",
    ]
    by_method = {row[2]: dict(zip(headers, row, strict=True)) for row in rows}
    assert (
        by_method["adversarial"]["PGD 0.1"] == "6.75 ± 0.25 (n=2)"
        and by_method["adversarial"]["FGSM 0.3"] == "40.50 ± 1.50 (n=2)"
    )
    assert by_method["back-prop"]["FGSM 0.1"] == "60.00 (n=1)" and by_method["back-prop"]["clean, ± sd"] == NOT_RUN
    assert by_method["adversarial"]["FGSM 0.2"] == NOT_RUN
    assert "Images: the first 1000 test images" in section and "PGD did better than FGSM" not in text
    # the clean column is not Table 2's statistic
    assert "not Table 2's statistic" in section
    tables = small_tables()
    for row in tables["robustness"]:
        if (row["method"], row.get("attack"), row.get("eps")) == ("adversarial", "pgd", 0.1):
            row["value"] = 1.0
    broken = small_results(tables)
    assert "**WARNING: PGD did better than FGSM**" in render_tables(broken)
    assert "relu adversarial eps 0.1: PGD 1.00 % < FGSM 3.25 %" in render_tables(broken)


def test_autoattack_gets_its_column_its_image_count_and_the_masking_warning():
    text = render_tables(small_results())
    section = text.split("## Beyond the paper: robustness")[1].split("\n## ")[0]
    headers, rows = markdown_tables(section)[0]
    by_method = {row[2]: dict(zip(headers, row, strict=True)) for row in rows}
    assert by_method["adversarial"]["AutoAttack 0.1"] == "9.50 ± 0.71 (n=2)"
    assert by_method["back-prop"]["AutoAttack 0.1"] == NOT_RUN
    assert "Images: the first 1000 test images; AutoAttack: the first 500 of them." in section
    # PGD 6.75 % is more than 2 points below AutoAttack's 9.50 %: flagged; within 2 points: not
    assert "relu adversarial eps 0.1: PGD 6.75 % < AutoAttack 9.50 % − 2" in section
    tables = small_tables()
    for row in tables["robustness"]:
        if row.get("attack") == "autoattack" and row["metric"] == "error_pct":
            row["value"] = 8.5
    assert "PGD is far below AutoAttack" not in render_tables(small_results(tables))


def test_headline_has_a_column_for_each_method_beyond_the_paper_that_ran():
    """The README's results block: Goodfellow et al., the random-sign control and VAT each get a
    column where they ran, in that order, with their own seeds' statistic."""
    mnist = {"dataset": "mnist", **net("relu-400")}
    rows = [
        *seeds([1.2, 1.4], **mnist, method="backprop"),
        *seeds([0.8, 1.0], **mnist, method="adversarial"),
        *seeds([1.0, 1.2], **mnist, method="vat"),
        *seeds([1.1, 1.3], **mnist, method="random"),
    ]
    text = headline(small_results({"table2": rows}))
    (headers, table), *_ = markdown_tables(text)
    assert headers[-2:] == ["ours random sign, ± sd", "ours VAT, ± sd"] and "Goodfellow" not in " ".join(headers)
    assert table[0][-2:] == ["1.20 ± 0.14 (n=2)", "1.10 ± 0.14 (n=2)"]


def test_headline_times_are_the_recorded_epoch_times():
    """Medians over the nets per method, and the sum of every stage's epoch time x epochs."""
    relu, tanh = ({"dataset": "mnist", **net(n), "metric": "seconds_per_epoch"} for n in ("relu-400", "tanh-400"))
    timing = [
        {**relu, "method": "backprop", "value": 30.0},
        {**tanh, "method": "backprop", "value": 40.0},
        {**relu, "method": "adversarial", "value": 50.0},
        {**relu, "method": "vat", "value": 130.4},
    ]
    text = headline(small_results({"table2": small_tables()["table2"], "timing": timing}))
    # 3 epochs (small_results): (30 + 40 + 50 + 130.4) * 3 / 3600 h
    assert "back-prop 35 s, adversarial 50 s, VAT 130 s; the 4 Table 2 stages' epochs add up to 0.2 h." in text

"""The claims ledger (advgrad.report.ledger) on hand-made per-seed rows: each claim picks the right
rows, pairs them by seed, judges at the right scale and reads the paper's side of the claim."""

from __future__ import annotations

import math
import re

from advgrad.report.ledger import CONVERGED_PCT, converged_epoch, ledger
from tests.test_report import full_run, net, paper_settings, results_of, seeds

VERDICTS = re.compile(
    r"not run|not comparable \(.+\)|inconclusive( \(.+\))?|direction (holds|contradicted)|reproduced|differs"
    r"|shown, not judged"
)
MNIST = {"dataset": "mnist"}
# Back-prop errors that vary a lot from seed to seed, and adversarial ones 0.1 below each: only
# the pairing by seed shows the difference (unpaired, the spread swamps it).
BACKPROP = [1.0, 1.5, 2.0, 2.5, 3.0]
ADVERSARIAL = [v - 0.1 + d for v, d in zip(BACKPROP, (0.0, 0.01, -0.01, 0.005, -0.005))]


def table2(name: str, method: str, values: list[float], order=None) -> list[dict]:
    rows = seeds(values, **MNIST, **net(name), method=method)
    return [rows[i] for i in order] if order else rows


def row(df, start: str) -> dict:
    hits = df[df["claim"].str.startswith(start)]
    assert len(hits) == 1, (start, list(df["claim"]))
    return hits.iloc[0].to_dict()


def test_every_row_has_a_verdict_of_the_rules():
    df = ledger(results_of(full_run(), {"table2": table2("relu-400", "adversarial", [0.8, 0.85])}))
    assert len(df) >= 25
    assert all(VERDICTS.fullmatch(v) for v in df["verdict"]), list(df["verdict"])


def test_direction_is_paired_by_seed_not_by_row_order():
    tables = {
        "table2": table2("relu-400", "backprop", BACKPROP)
        + table2("relu-400", "adversarial", ADVERSARIAL, [4, 2, 0, 3, 1])
    }
    r = row(ledger(results_of(full_run(), tables)), "adversarial back-propagation lowers the test error")
    assert r["verdict"] == "direction holds"
    assert r["ours"].startswith("-0.10, 95 % CI") and "n=5" in r["ours"]
    # the other way round: adversarial above back-prop
    tables["table2"] = table2("relu-400", "backprop", ADVERSARIAL) + table2("relu-400", "adversarial", BACKPROP)
    r = row(ledger(results_of(full_run(), tables)), "adversarial back-propagation lowers the test error")
    assert r["verdict"] == "direction contradicted"


def test_the_random_control_row_compares_adversarial_with_random():
    tables = {
        "table2": table2("relu-400", "backprop", [1.0] * 5)
        + table2("relu-400", "adversarial", ADVERSARIAL)
        + table2("relu-400", "random", BACKPROP)
    }
    df = ledger(results_of(full_run(), tables))
    r = row(df, "the adversarial direction, not noise of its size")
    assert r["verdict"] == "direction holds" and "adversarial − random sign" in r["claim"]
    # without random runs there is no such row
    tables["table2"] = tables["table2"][:10]
    assert not ledger(results_of(full_run(), tables))["claim"].str.contains("noise").any()


def test_value_claims_at_the_protocol_and_at_reduced_scale():
    values = [0.80, 0.85, 0.83, 0.81, 0.86]  # mean 0.83, the paper's 0.83 ± 0.04
    tables = {"table2": table2("relu-400", "adversarial", values)}
    assert row(ledger(results_of(full_run(), tables)), "Table 2: 2x400 ReLU")["verdict"] == "reproduced"
    tables = {"table2": table2("relu-400", "adversarial", [v + 0.4 for v in values])}
    assert row(ledger(results_of(full_run(), tables)), "Table 2: 2x400 ReLU")["verdict"] == "differs"
    reduced = full_run(paper_settings(mnist__epochs=50, seeds=2))
    verdict = row(ledger(results_of(reduced, tables)), "Table 2: 2x400 ReLU")["verdict"]
    assert verdict == "not comparable (epochs 50; seeds 2)"
    unverified = full_run(data_verified=False)
    assert "data not verified" in row(ledger(results_of(unverified, tables)), "Table 2: 2x400 ReLU")["verdict"]
    # a direction claim is judged at any scale
    tables["table2"] += table2("relu-400", "backprop", [v + 0.6 for v in values])
    r = row(ledger(results_of(reduced, tables)), "adversarial back-propagation lowers")
    assert r["verdict"] == "direction holds" and "50 epochs" in r["run"]


def test_the_bound_claim_against_dropout_with_max_norm():
    tables = {"table2": table2("relu-400", "adversarial", [0.80, 0.85, 0.83, 0.81, 0.86])}
    assert row(ledger(results_of(full_run(), tables)), "2x400 ReLU adversarial beats")["verdict"] == "reproduced"
    tables = {"table2": table2("relu-400", "adversarial", [1.10, 1.15, 1.13, 1.11, 1.16])}
    assert row(ledger(results_of(full_run(), tables)), "2x400 ReLU adversarial beats")["verdict"] == "differs"


def test_transfer_pairs_are_judged_per_pair():
    relu400 = {**MNIST, **net("relu-400")}
    pairs = []
    for source in range(5):
        target = (source + 1) % 5
        for method, pct in (("backprop", 22.0 + source * 0.5), ("adversarial", 4.0 + source * 0.3)):
            pairs.append(
                {**relu400, "method": method, "eps": 0.25, "source_seed": source, "seed": target}
                | {"metric": "error_pct", "value": pct}
            )
    df = ledger(results_of(full_run(), {"attack": pairs}))
    assert row(df, "the adversarial target is fooled less by FGSM transfer, eps 0.25")["verdict"] == "direction holds"
    assert row(df, "FGSM transfer, eps 0.25: error of the back-prop target")["verdict"] == "reproduced"
    assert row(df, "FGSM transfer, eps 0.25: error of the adversarial target")["verdict"] == "reproduced"
    assert row(df, "FGSM transfer, eps 0.5: error of the back-prop target")["verdict"] == "not run"


def test_sparsity_direction_and_levels():
    relu400 = {**MNIST, **net("relu-400"), "layer": "all"}
    rows = seeds([0.38, 0.40, 0.39, 0.41, 0.37], "zero_frac", **relu400, method="backprop")
    rows += seeds([0.60, 0.62, 0.61, 0.59, 0.63], "zero_frac", **relu400, method="adversarial")
    df = ledger(results_of(full_run(), {"sparsity": rows}))
    assert row(df, "adversarial training raises the fraction of exact zeros")["verdict"] == "direction holds"
    assert row(df, "fraction of exact zeros, 2x400 ReLU back-prop")["verdict"] == "reproduced"
    assert row(df, "fraction of exact zeros, 2x400 ReLU adversarial")["verdict"] == "reproduced"


def test_epoch_time_ratio_is_adversarial_over_backprop_per_net():
    timing = [
        {**MNIST, **net(name), "method": method, "metric": "seconds_per_epoch", "value": value}
        for name, bp in (("relu-400", 10.0), ("tanh-400", 12.0), ("logistic-400", 11.0))
        for method, value in (("backprop", bp), ("adversarial", 1.7 * bp))
    ]
    r = row(ledger(results_of(full_run(), {"timing": timing})), "an adversarial epoch takes roughly 70 %")
    assert r["verdict"] == "reproduced" and r["ours"].startswith("1.70")
    timing = [{**t, "value": t["value"] * (1.5 if t["method"] == "adversarial" else 1)} for t in timing]
    assert row(ledger(results_of(full_run(), {"timing": timing})), "an adversarial epoch")["verdict"] == "differs"


def test_converged_epoch():
    assert converged_epoch([5.0, 1.0, CONVERGED_PCT, 0.0]) == 3.0
    assert math.isnan(converged_epoch([5.0, 1.0, 0.5]))


def test_figure1_rows_read_the_convergence_epochs():
    rows = []
    for act, epochs in (
        ("relu", [45, 50, 55, 48, 52]),
        ("logistic", [50, 52, 49, 51, 48]),
        ("tanh", [90, 95] * 2 + [99]),
    ):
        rows += seeds(epochs, "converged_epoch", **MNIST, **net(f"{act}-800"), method="adversarial")
    df = ledger(results_of(full_run(), {"table2": rows}))
    assert row(df, "Figure 1: 2x800 ReLU reaches zero")["verdict"] == "reproduced"
    assert row(df, "Figure 1: 2x800 tanh needs more epochs")["verdict"] == "direction holds"
    rows = [{**r, "value": r["value"] + 60} if r["net"] == "relu-800" else r for r in rows]
    assert row(ledger(results_of(full_run(), {"table2": rows})), "Figure 1: 2x800 ReLU")["verdict"] == "differs"
    reduced = full_run(paper_settings(mnist__epochs=50))
    assert row(ledger(results_of(reduced, {"table2": rows})), "Figure 1: 2x800 ReLU")["verdict"].startswith(
        "not comparable (epochs 50"
    )


def test_table3_cells_are_judged_on_cifar_settings():
    cifar = {"dataset": "cifar-10", "net": "mlp", "prep": "zca", "method": "backprop"}
    tables = {"table3": seeds([62.5, 62.9, 62.7, 62.6, 62.9], **cifar)}
    assert row(ledger(results_of(full_run(), tables)), "Table 3: 2x3000 Back-prop, ZCA")["verdict"] == "reproduced"
    reduced = full_run(paper_settings(cifar10__max_epochs=2))
    verdict = row(ledger(results_of(reduced, tables)), "Table 3: 2x3000 Back-prop, ZCA")["verdict"]
    assert verdict == "not comparable (max_epochs 2)"
    # MNIST's reductions do not make a CIFAR cell not comparable
    reduced = full_run(paper_settings(mnist__epochs=2))
    assert row(ledger(results_of(reduced, tables)), "Table 3: 2x3000 Back-prop, ZCA")["verdict"] == "reproduced"

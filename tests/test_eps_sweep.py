"""The eps study's gathering of `dvc exp show --json`, on a hand-written export."""

from __future__ import annotations

import json

from studies import eps_sweep


def exp(name, eps, clean, pgd, epochs=20):
    params = {"eps": eps, "seeds": 2, "mnist": {"epochs": epochs, "last_epochs": 10}}
    metrics = {
        "table2": {
            "mnist": {
                "relu-400": {
                    m: {"error_pct": clean + i, "std_pct": 0.1, "n_seeds": 2} for i, m in enumerate(eps_sweep.METHODS)
                }
            }
        },
        "robustness": {
            "mnist": {
                "relu-400": {
                    m: {"pgd": {"0.1": {"error_pct": pgd + i, "std_pct": 1.0, "n_seeds": 2}}}
                    for i, m in enumerate(eps_sweep.METHODS)
                }
            }
        },
    }
    return {
        "rev": name * 8,
        "name": name,
        "data": {"params": {"params.yaml": {"data": params}}, "metrics": {"reports/metrics.json": {"data": metrics}}},
    }


def curves(rev, dataset, net):
    """A seed-mean curves CSV per experiment: the final epochs' test error is 10x the clean error."""
    assert (dataset, net) == ("mnist", "relu-400")
    base = {"base": 1.0, "e1": 1.5, "e2": 2.0}.get(rev[: len(rev) // 8])
    if base is None:
        return None
    names = [eps_sweep.PLOT_NAMES[m] for m in eps_sweep.METHODS]
    head = "epoch," + ",".join(f"{n} test,{n} train" for n in names)
    rows = [
        f"{e}," + ",".join(f"{(99 if e < 4 else 10 * base) + i},0" for i, _ in enumerate(eps_sweep.METHODS))
        for e in range(1, 7)
    ]
    return "\n".join([head, *rows]) + "\n"


def test_experiments_that_differ_in_eps_alone_become_one_row_per_eps(tmp_path, monkeypatch):
    monkeypatch.setattr(eps_sweep, "git_curves", curves)
    shown = [
        {
            **exp("base", 0.08, 1.0, 50.0),
            "experiments": [
                {"revs": [exp("e1", 0.02, 1.5, 80.0)]},
                {"revs": [exp("e2", 0.2, 2.0, 20.0)]},
                {"revs": [exp("other", 0.05, 9.0, 9.0, epochs=5)]},
                # running: it shows its baseline's metrics
                {"revs": [exp("runs", 0.12, 1.0, 50.0)], "executor": {"state": "running"}},
                {"revs": [exp("done", 0.3, 2.0, 5.0)], "executor": {"state": "success"}},
            ],
        }
    ]
    (tmp_path / "show.json").write_text(json.dumps(shown))
    (tmp_path / "params.yaml").write_text("eps: 0.08\nseeds: 5\nmnist: {epochs: 150, last_epochs: 10}\n")
    eps_sweep.main(
        ["--exp-show", str(tmp_path / "show.json"), "--out", str(tmp_path), "--params", str(tmp_path / "params.yaml")]
    )
    text = (tmp_path / "eps_sweep.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| 0")]
    # one row per eps and method; "other" has other epochs
    assert [r.split(" | ")[0] for r in rows] == ["| 0.02"] * 3 + ["| 0.08"] * 3 + ["| 0.2"] * 3 + ["| 0.3"] * 3
    # the final 3 epochs of the curves (10x the clean error), Table 2's statistic, PGD
    assert "| 0.08 | adversarial | 11.00 | 2.00 ± 0.10 (n=2) | 51.00 ± 1.00 (n=2) | base |" in text
    assert "| 0.2 | goodfellow | 22.00 | 4.00 ± 0.10 (n=2) | 22.00 ± 1.00 (n=2) | e2 |" in text
    assert "the last 10 of 20 epochs" in text
    assert (tmp_path / "eps_sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert "Reduced scale" in text and "`mnist.epochs=20`, `seeds=2`" in text
    assert "dvc exp run --queue -S 'eps=0.02,0.08,0.2,0.3' -S 'mnist.epochs=20' -S 'seeds=2'" in text


def test_queued_running_and_failed_experiments_are_left_out():
    shown = [
        {
            **exp("base", 0.08, 1.0, 50.0),
            "experiments": [
                {"revs": [exp(n, 0.1 * i, 1.0, 1.0)], "executor": {"state": st}}
                for i, (n, st) in enumerate([("q", "queued"), ("r", "running"), ("f", "failed"), ("s", "success")])
            ],
        }
    ]
    exps, unfinished = eps_sweep.experiments(shown)
    assert [e["name"] for e in exps] == ["base", "s"]
    assert unfinished == ["q (queued)", "r (running)", "f (failed)"]


def test_overrides_name_every_setting_that_differs_from_the_protocol_but_eps():
    defaults = {
        "eps": 0.08,
        "seeds": 5,
        "mnist": {"units": [400, 800], "methods": {"backprop": ["relu", "tanh"]}, "train_size": None},
    }
    params = {"eps": 0.02, "seeds": 5, "mnist": {"units": [400], "methods": {"backprop": ["relu"]}, "train_size": None}}
    assert eps_sweep.overrides(params, defaults) == ["mnist.methods.backprop=[relu]", "mnist.units=[400]"]

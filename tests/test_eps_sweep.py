"""The eps study's gathering of `dvc exp show --json`, on a hand-written export."""

from __future__ import annotations

import json

from studies import eps_sweep


def exp(name, eps, clean, pgd, epochs=20):
    params = {"eps": eps, "seeds": 2, "mnist": {"epochs": epochs}}
    metrics = {"table2": {"mnist": {"relu-400": {m: {"error_pct": clean + i, "std_pct": 0.1, "n_seeds": 2}
                                                 for i, m in enumerate(eps_sweep.METHODS)}}},
               "robustness": {"mnist": {"relu-400": {m: {"pgd": {"0.1": {"error_pct": pgd + i, "std_pct": 1.0,
                                                                        "n_seeds": 2}}}
                                                     for i, m in enumerate(eps_sweep.METHODS)}}}}
    return {"rev": name * 8, "name": name,
            "data": {"params": {"params.yaml": {"data": params}},
                     "metrics": {"reports/metrics.json": {"data": metrics}}}}


def test_experiments_that_differ_in_eps_alone_become_one_row_per_eps(tmp_path):
    shown = [{**exp("base", 0.08, 1.0, 50.0), "experiments": [{"revs": [exp("e1", 0.02, 1.5, 80.0)]},
                                                             {"revs": [exp("e2", 0.2, 2.0, 20.0)]},
                                                             {"revs": [exp("other", 0.05, 9.0, 9.0, epochs=5)]}]}]
    (tmp_path / "show.json").write_text(json.dumps(shown))
    (tmp_path / "params.yaml").write_text("eps: 0.08\nseeds: 5\nmnist: {epochs: 150}\n")
    eps_sweep.main(["--exp-show", str(tmp_path / "show.json"), "--out", str(tmp_path),
                    "--params", str(tmp_path / "params.yaml")])
    text = (tmp_path / "eps_sweep.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| 0")]
    assert [r.split(" | ")[0] for r in rows] == ["| 0.02", "| 0.08", "| 0.2"]  # "other" has other epochs
    assert "| 0.08 | 1.00 ± 0.10 (n=2) | 2.00 ± 0.10 (n=2) | 3.00 ± 0.10 (n=2) | 50.00 ± 1.00 (n=2)" in text
    assert (tmp_path / "eps_sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert "Reduced scale" in text and "`mnist.epochs=20`, `seeds=2`" in text
    assert "dvc exp run --queue -S 'eps=0.02,0.08,0.2' -S 'mnist.epochs=20' -S 'seeds=2'" in text


def test_overrides_name_every_setting_that_differs_from_the_protocol_but_eps():
    defaults = {"eps": 0.08, "seeds": 5, "mnist": {"units": [400, 800], "methods": {"backprop": ["relu", "tanh"]},
                                                   "train_size": None}}
    params = {"eps": 0.02, "seeds": 5, "mnist": {"units": [400], "methods": {"backprop": ["relu"]},
                                                 "train_size": None}}
    assert eps_sweep.overrides(params, defaults) == ["mnist.methods.backprop=[relu]", "mnist.units=[400]"]

"""The VAT study (studies/vat_sweep.py): its configuration is VAT's under params.yaml with only
the radius changed, its score is the validation error of the last epochs, and the report names
the eps with the lowest mean validation error."""

from __future__ import annotations

import pytest

from stages.params import load_params
from studies.vat_sweep import config, render, validation_errors


def test_the_configuration_changes_only_vats_radius():
    params = load_params()
    cfg = config(params, 0.7, epochs=3, seeds=2)
    assert cfg.direction == "vat" and cfg.eps == 0.0 and cfg.seeds == (0, 1) and cfg.epochs == 3
    assert cfg.vat == {"eps": 0.7, "xi": params.mnist.vat.xi, "iterations": 1, "weight": 1.0}
    assert cfg.lr == params.mnist.lr.relu and cfg.mlp.sizes == (784, 400, 400, 10)


def test_validation_error_is_the_mean_of_the_last_epochs_per_seed():
    curves = [{"seed": s, "epoch": e, "test_error": 0.01 * e + s} for s in (0, 1) for e in (3, 1, 2)]
    assert validation_errors(curves, last=2) == pytest.approx({0: 2.5, 1: 102.5})  # epochs 2 and 3, in %


def test_the_report_names_the_lowest_mean_validation_error():
    result = {
        "rows": [
            {"eps": 1.0, "val_error_pct": {"0": 1.5, "1": 1.7}},
            {"eps": 2.1, "val_error_pct": {"0": 1.4, "1": 1.6}},
            {"eps": 4.0, "val_error_pct": {"0": 1.45, "1": 1.45}},
        ],
        "published_eps": 2.1,
        "command": "python -m studies.vat_sweep",
        "epochs": 5,
        "seeds": 2,
        "last": 2,
    }
    text = render(result)
    assert "Tuned eps (lowest mean validation error): **4**, not the published 2.1." in text
    assert "| 2.1 (published) | 1.50 (sd 0.14, n=2) | 1.40, 1.60 |" in text
    # paired by seed: (1.45 - 1.4, 1.45 - 1.6) = (+0.05, -0.15), mean -0.05, sd 0.1414, t(0.975, 1) = 12.706
    assert "Tuned − published, paired by seed: -0.05 points, 95 % CI [-1.32, +1.22] (n=2)." in text
    result["rows"][1]["val_error_pct"] = {"0": 1.3, "1": 1.3}
    assert "**2.1**, the published value." in render(result)

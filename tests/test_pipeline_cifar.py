"""The real `dvc repro` of the CIFAR-10 branch (Table 3) on a fixture mirror at toy size.

Shrunk from the paper's protocol (50000 images, up to 300 epochs, 5 seeds, 2x3000 MLP) to
100 images, 1 epoch, 1 seed and a 2x32 MLP; the conv net keeps its real size (one epoch on
100 images is cheap). ZCA's 3072x3072 eigendecomposition does not shrink: ~30 s.
"""

import json

import pytest

from tests.fixtures import write_cifar_mirror
from tests.pipeline_utils import commit, copy_repo, dvc, set_params, stages_run

pytestmark = pytest.mark.pipeline

TOY = {
    "seeds": 1,
    "device": "cpu",
    "mnist.datasets": [],
    "cifar10.datasets": ["cifar-10"],
    "cifar10.preprocessing": ["zca", "simple"],
    # Two methods, one architecture each: the wiring of every stage kind, half the conv nets.
    "cifar10.methods": {
        "backprop": ["mlp"],
        "backprop-dropout": [],
        "adversarial": [],
        "adversarial-dropout": ["conv"],
    },
    "cifar10.max_epochs": 1,
    "cifar10.batch_size": 32,
    "cifar10.mlp.units": 32,
}


def test_toy_cifar_branch_runs_end_to_end(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    set_params(repo, TOY)
    commit(repo, "toy cifar params")
    write_cifar_mirror(tmp_path / "mirror", n_per_batch=20)
    env = {"ADVGRAD_DATA_MIRROR": str(tmp_path / "mirror"), "ADVGRAD_ALLOW_UNVERIFIED": "1"}

    ran = stages_run(dvc(repo, "repro", env=env).stdout)
    cells = [(a, p, m) for a, m in (("mlp", "backprop"), ("conv", "adversarial-dropout")) for p in ("zca", "simple")]
    assert ran == (
        {"download-cifar@cifar-10", "preprocess-cifar@cifar-10-zca", "preprocess-cifar@cifar-10-simple", "report"}
        | {f"train-cifar-{m}@cifar-10-{a}-{p}" for a, p, m in cells}
    )

    table3 = json.loads((repo / "reports/metrics.json").read_text())["table3"]
    for arch, prep, method in cells:
        row = table3[f"{arch}-{prep}"][method]
        assert 0.0 <= row["error_pct"] <= 100.0 and row["n_seeds"] == 1
        metrics = json.loads((repo / f"runs/cifar-10-{arch}-{prep}-{method}/metrics.json").read_text())
        assert metrics["n_train"] == 100 and metrics["epochs_run"] == [1]
    tables = (repo / "reports/tables.md").read_text()
    assert "Reduced-scale run" in tables and "Table 3" in tables
    assert stages_run(dvc(repo, "repro", env=env).stdout) == set()

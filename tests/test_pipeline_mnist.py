"""The real `dvc repro` of the MNIST branch, end to end, on a fixture mirror at toy size.

Shrunk from the paper's protocol (150 epochs, 5 seeds, 60000 images, 2x400..2x1200) to
2 epochs, 2 seeds, 600 images and 2x16 nets so that the whole graph runs in about a minute.
"""

import json

import pytest

from tests.fixtures import write_mnist_mirror
from tests.pipeline_utils import commit, copy_repo, dvc, set_params, stages_run

pytestmark = pytest.mark.pipeline

TOY = {
    "seeds": 2, "device": "cpu",
    "mnist.datasets": ["mnist"], "mnist.epochs": 2, "mnist.units": [16],
    "mnist.activations": ["relu", "logistic"], "mnist.last_epochs": 2,
    "mnist.train_size": 600, "mnist.validation_size": 100,
    "attack.whitebox_eps": [0.0, 0.25],
    "cifar10.datasets": [],
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    repo = copy_repo(root / "repo")
    set_params(repo, TOY)
    commit(repo, "toy params")
    mirror = root / "mirror"
    write_mnist_mirror(mirror, "mnist", n_train=600, n_test=100)
    env = {"ADVGRAD_DATA_MIRROR": str(mirror), "ADVGRAD_ALLOW_UNVERIFIED": "1"}
    first = dvc(repo, "repro", env=env)
    return repo, env, first.stdout


def test_repro_runs_every_stage_and_writes_the_reports(repo):
    repo, _, out = repo
    ran = stages_run(out)
    expected = {"download-mnist@mnist", "preprocess-mnist@mnist", "attack@mnist", "analyze@mnist", "report",
                "train-fit-backprop@mnist", "train-fit-adversarial@mnist", "train-fit-dropout@mnist"}
    expected |= {f"train-{m}@mnist-{a}-16" for m in ("backprop", "adversarial") for a in ("relu", "logistic")}
    expected |= {f"whitebox@mnist-{a}-16-{m}" for m in ("backprop", "adversarial") for a in ("relu", "logistic")}
    assert ran == expected  # and no CIFAR stage: cifar10.datasets = [] makes none

    metrics = json.loads((repo / "reports/metrics.json").read_text())
    for act in ("relu", "logistic"):
        for method in ("backprop", "adversarial"):
            row = metrics["table2"]["mnist"][f"{act}-16"][method]
            assert 0.0 <= row["error_pct"] <= 100.0 and row["n_seeds"] == 2
    assert set(metrics["attack"]["mnist"]) == {"0.25", "0.5"}
    assert 0.0 <= metrics["sparsity"]["mnist"]["adversarial_zero_frac"] <= 1.0
    assert metrics["run"] == {"dataset": "mnist", "data_verified": False}
    for act in ("relu", "logistic"):
        assert metrics["table2"]["mnist"][f"{act}-16"]["difference"]["n"] == 2
    attack = json.loads((repo / "runs/attack/mnist.json").read_text())
    assert attack["eps"]["0.25"]["pairs"] == [[0, 1], [1, 0]] and attack["n_val"] == 100

    tables = (repo / "reports/tables.md").read_text()
    assert "Reduced-scale run" in tables and "nverified" in tables
    assert "not run" in tables  # Table 3: CIFAR branch switched off
    figures = {p.name for p in (repo / "reports/figures").iterdir()}
    assert {"fig1_error_curves-mnist.png", "fig2_first_layer_weights-mnist.png",
            "fig3_hidden_activations-mnist.png", "whitebox_fgsm-mnist.png"} <= figures


def test_status_is_clean_and_a_second_repro_does_nothing(repo):
    repo, env, _ = repo
    assert "up to date" in dvc(repo, "status", env=env).stdout
    assert stages_run(dvc(repo, "repro", env=env).stdout) == set()


def test_eps_change_reruns_only_what_depends_on_eps_and_the_run_cache_restores(repo):
    repo, env, _ = repo
    commit(repo, "after repro")
    ran = stages_run(dvc(repo, "exp", "run", "-S", "eps=0.05", env=env).stdout)
    assert ran == {"train-adversarial@mnist-relu-16", "train-adversarial@mnist-logistic-16",
                   "train-fit-adversarial@mnist", "whitebox@mnist-relu-16-adversarial",
                   "whitebox@mnist-logistic-16-adversarial", "attack@mnist", "analyze@mnist", "report"}
    # Back to the committed eps: every training stage comes back from DVC's run-cache.
    back = dvc(repo, "exp", "run", "-S", "eps=0.08", env=env).stdout
    assert not any(s.startswith("train") for s in stages_run(back)), back
    assert "0.05" in dvc(repo, "exp", "show", "--no-pager", "--md", env=env).stdout

"""The real `dvc repro` of the MNIST branch, end to end, on a fixture mirror at toy size.

Shrunk from the paper's protocol (150 epochs, 5 seeds, 60000 images, 2x400..2x1200) to
2 epochs, 2 seeds, 600 images and 2x64 nets so that the whole graph runs in about a minute.
"""

import json

import pytest

from tests.fixtures import write_mnist_mirror
from tests.pipeline_utils import commit, copy_repo, dvc, set_params, stages_run

pytestmark = pytest.mark.pipeline

TOY = {
    "seeds": 2,
    "device": "cpu",
    "mnist.datasets": ["mnist"],
    "mnist.epochs": 2,
    "mnist.units": [64],
    "mnist.methods": {
        "backprop": ["relu", "logistic"],
        "adversarial": ["relu", "logistic"],
        "goodfellow": ["relu"],
        "random": ["relu"],
        "vat": ["relu"],
    },
    "mnist.last_epochs": 2,
    "mnist.train_size": 600,
    "mnist.validation_size": 100,
    # Larger initial weights and ReLU learning rate than the paper's, so that the ReLU nets learn
    # the fixture within the 2 epochs (measured: 0 % test error at 2x64 and 2x400; the paper's
    # N(0, 0.01) needs more epochs to break the symmetry).
    "mnist.init_std": 0.1,
    "mnist.lr.relu": 0.2,
    "robustness.eps": [0.0, 0.25],
    "robustness.pgd_steps": 3,
    "robustness.images": 50,
    "robustness.autoattack.eps": [0.25],
    "robustness.autoattack.images": 20,
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
    expected = {
        "download-mnist@mnist",
        "preprocess-mnist@mnist",
        "attack@mnist",
        "analyze@mnist",
        "report",
        "train-fit-backprop@mnist",
        "train-fit-adversarial@mnist",
        "train-fit-dropout@mnist",
        "train-goodfellow@mnist-relu-64",
        "robustness-goodfellow@mnist-relu-64",
        "train-random@mnist-relu-64",
        "robustness-random@mnist-relu-64",
        "train-fit-random@mnist",
        "train-vat@mnist-relu-64",
        "robustness-vat@mnist-relu-64",
    }
    for method in ("backprop", "adversarial"):
        for act in ("relu", "logistic"):
            expected |= {f"train-{method}@mnist-{act}-64", f"robustness-{method}@mnist-{act}-64"}
    assert ran == expected  # no CIFAR stage (cifar10.datasets = []), no Goodfellow, random or VAT logistic net

    # Numbers the fixture must give: its classes are bright squares a 2x64 ReLU net separates within
    # an epoch or two, on 500 training images (600 less the 100 of the validation split).
    metrics = json.loads((repo / "reports/metrics.json").read_text())
    for act in ("relu", "logistic"):
        for method in ("backprop", "adversarial"):
            row = metrics["table2"]["mnist"][f"{act}-64"][method]
            assert row["n_seeds"] == 2 and 0.0 <= row["error_pct"] <= 100.0
            if act == "relu":
                assert row["error_pct"] < 20.0, (method, row)  # the fixture is learnt (chance: 90 %)
        assert metrics["table2"]["mnist"][f"{act}-64"]["difference"]["n"] == 2
    assert set(metrics["table2"]["mnist"]["relu-64"]) >= {"goodfellow", "goodfellow_difference"}
    assert "goodfellow" not in metrics["table2"]["mnist"]["logistic-64"]
    assert json.loads((repo / "runs/mnist-relu-64-adversarial/metrics.json").read_text())["n_train"] == 600
    assert json.loads((repo / "runs/mnist-relu-400-adversarial-fit/metrics.json").read_text())["n_train"] == 500
    assert set(metrics["attack"]["mnist"]) == {"0.25", "0.5"}
    assert metrics["attack"]["mnist"]["0.25"]["n_pairs"] == 2
    attack = json.loads((repo / "runs/attack/mnist.json").read_text())
    assert attack["eps"]["0.25"]["pairs"] == [[0, 1], [1, 0]] and attack["n_val"] == 100
    assert 0.0 <= metrics["sparsity"]["mnist"]["adversarial_zero_frac"] <= 1.0
    robust = metrics["robustness"]["mnist"]["relu-64"]["adversarial"]
    assert set(robust) == {"fgsm", "pgd", "autoattack"} and robust["pgd"]["0"] == robust["fgsm"]["0"]  # eps 0: clean
    assert set(robust["autoattack"]) == {"0.25"} and robust["autoattack"]["0.25"]["n_seeds"] == 2
    assert robust["pgd"]["0.25"]["n_seeds"] == 2
    assert metrics["run"] == {"dataset": "mnist", "data_verified": False}

    tables = (repo / "reports/tables.md").read_text()
    assert "Reduced-scale run" in tables and "nverified" in tables
    assert "not run" in tables  # Table 3: CIFAR branch switched off
    assert (
        "## Beyond the paper: robustness" in tables
        and "Images: the first 50 test images; AutoAttack: the first 20 of them." in tables
    )
    assert "## Beyond the paper: is it the direction?" in tables and "adversarial − random sign" in tables
    figures = {p.name for p in (repo / "reports/figures").iterdir()}
    assert {
        "fig1_error_curves-mnist.png",
        "fig2_first_layer_weights-mnist.png",
        "fig3_hidden_activations-mnist.png",
        "robustness-mnist.png",
    } <= figures


def test_status_is_clean_and_a_second_repro_does_nothing(repo):
    repo, env, _ = repo
    assert "up to date" in dvc(repo, "status", env=env).stdout
    assert stages_run(dvc(repo, "repro", env=env).stdout) == set()


def test_eps_change_reruns_only_what_depends_on_eps_and_the_run_cache_restores(repo):
    repo, env, _ = repo
    commit(repo, "after repro")
    ran = stages_run(dvc(repo, "exp", "run", "-S", "eps=0.05", env=env).stdout)
    assert ran == {
        "train-adversarial@mnist-relu-64",
        "train-adversarial@mnist-logistic-64",
        "train-goodfellow@mnist-relu-64",
        "train-random@mnist-relu-64",
        "train-fit-adversarial@mnist",
        "train-fit-random@mnist",
        "robustness-adversarial@mnist-relu-64",
        "robustness-adversarial@mnist-logistic-64",
        "robustness-goodfellow@mnist-relu-64",
        "robustness-random@mnist-relu-64",
        "attack@mnist",
        "analyze@mnist",
        "report",
    }
    # Back to the committed eps: every training stage comes back from DVC's run-cache.
    back = dvc(repo, "exp", "run", "-S", "eps=0.08", env=env).stdout
    assert not any(s.startswith("train") for s in stages_run(back)), back
    assert "0.05" in dvc(repo, "exp", "show", "--no-pager", "--md", env=env).stdout


def test_tables_embed_their_figures_and_dvc_plots_draw_seed_means_per_net(repo):
    repo, env, _ = repo
    tables = (repo / "reports/tables.md").read_text()
    for figure in (
        "fig1_error_curves-mnist.png",
        "fig2_first_layer_weights-mnist.png",
        "fig3_hidden_activations-mnist.png",
        "robustness-mnist.png",
    ):
        assert f"](figures/{figure})" in tables and (repo / "reports/figures" / figure).exists()
    assert "Figure 1 (mnist): clean training error (dashed) and test error (solid)" in tables
    assert "mean over 2 seeds" in tables

    shown = json.loads(dvc(repo, "plots", "show", "--json", env=env).stdout)["data"]
    curves = shown["reports/plots/curves/mnist-relu-64.csv"][0]["content"]
    series = {row["field"] for row in curves["data"]["values"]}
    assert {"back-prop test", "adversarial test", "Goodfellow test", "back-prop train"} <= series
    assert curves["encoding"]["x"]["title"] == "epoch"
    values = [row for row in curves["data"]["values"] if row["field"] == "adversarial test"]
    assert [int(row["epoch"]) for row in values] == [1, 2]  # one point per epoch: the seed mean
    assert "reports/plots/robustness/mnist-relu-64.csv" in shown
    assert "reports/plots/curves/mnist-logistic-64.csv" in shown  # one plot per net
    # the per-seed curves.csv of the training stages are no longer plots (they zig-zag over seeds)
    assert not any(key.startswith("runs/") for key in shown)


def test_an_edit_reruns_only_the_stages_that_run_the_edited_code(repo):
    """dvc.yaml's deps are library folders (tests/test_dvc_deps.py): editing the report re-runs
    only the report; editing CIFAR-only code (which MNIST stages once depended on through a
    shared data module) re-runs no MNIST stage; editing the MNIST trainer re-runs its training."""
    repo, env, _ = repo

    def changed_after_editing(rel: str) -> set[str]:
        path = repo / rel
        original = path.read_text()
        path.write_text(original + "\n# an edit\n")
        try:
            return set(json.loads(dvc(repo, "status", "--json", env=env).stdout))
        finally:
            path.write_text(original)

    assert changed_after_editing("advgrad/report/tables.py") == {"report"}
    assert changed_after_editing("advgrad/cifar/data.py") == set()
    trainer = changed_after_editing("advgrad/mnist/trainer.py")
    assert "train-backprop@mnist-relu-64" in trainer and "train-fit-dropout@mnist" in trainer
    assert "report" not in trainer and "download-mnist@mnist" not in trainer

"""The README's "Running past one machine" recipe, command for command, on two clones sharing a
DVC remote: a training job runs in one clone, and the assembling clone restores its result from
the run-cache instead of training again. Toy size: 1 seed, 1 epoch, 2x16 ReLU nets."""

import subprocess

import pytest

from tests.fixtures import write_mnist_mirror
from tests.pipeline_utils import commit, copy_repo, dvc, git, set_params, stages_run

pytestmark = pytest.mark.pipeline

TOY = {
    "seeds": 1,
    "device": "cpu",
    "cifar10.datasets": [],
    "mnist.datasets": ["mnist"],
    "mnist.epochs": 1,
    "mnist.units": [16],
    "mnist.methods": {"backprop": ["relu"], "adversarial": ["relu"], "goodfellow": [], "random": [], "vat": []},
    "mnist.train_size": 300,
    "mnist.validation_size": 50,
    "robustness.eps": [0.0, 0.25],
    "robustness.pgd_steps": 2,
    "robustness.images": 20,
    "robustness.autoattack.eps": [],
    "robustness.autoattack.images": 20,
}
JOB = "train-adversarial@mnist-relu-16"


def test_a_job_on_another_clone_is_restored_from_the_run_cache(tmp_path):
    write_mnist_mirror(tmp_path / "mirror", n_train=300, n_test=60)
    env = {"ADVGRAD_DATA_MIRROR": str(tmp_path / "mirror"), "ADVGRAD_ALLOW_UNVERIFIED": "1"}
    main = copy_repo(tmp_path / "main")
    set_params(main, TOY)
    dvc(main, "remote", "add", "-d", "shared", str(tmp_path / "remote"))
    commit(main, "toy params, shared remote")

    # once: the data stages, pushed for the others
    dvc(main, "repro", "preprocess-mnist", env=env)
    dvc(main, "push", env=env)
    commit(main, "data stages")  # dvc.lock tells the other clones what to pull

    # job: another machine (a clone) trains one stage and pushes it with its run-cache entry
    subprocess.run(["git", "clone", "-q", str(main), str(tmp_path / "job")], check=True)
    job = tmp_path / "job"
    dvc(job, "pull", "preprocess-mnist", env=env)
    assert stages_run(dvc(job, "repro", "-s", JOB, env=env).stdout) == {JOB}
    dvc(job, "push", JOB, env=env)
    dvc(job, "push", "--run-cache", env=env)

    # assembly: the job's stage comes from the run-cache; everything else runs here
    out = dvc(main, "repro", "--pull", env=env).stdout
    assert f"Stage '{JOB}' is cached" in out
    assert JOB not in stages_run(out) and "report" in stages_run(out)
    job_metrics = (job / "runs/mnist-relu-16-adversarial/metrics.json").read_text()
    assert (main / "runs/mnist-relu-16-adversarial/metrics.json").read_text() == job_metrics
    assert git(main, "status", "--porcelain", "dvc.yaml") == ""

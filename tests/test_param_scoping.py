"""DVC's param scoping, checked statically (no `dvc repro`): for each params key, the stages that
depend on it, against the table of what each stage reads. A change of the key re-runs exactly
these stages (and, through their outputs, what follows them)."""

from __future__ import annotations

import fnmatch

import pytest
from dvc.dependency.param import ParamsDependency
from dvc.repo import Repo

from tests.real_data import ROOT


@pytest.fixture(scope="module")
def readers():
    """{stage name: the params keys it lists}, every matrix stage resolved by DVC itself."""
    repo = Repo(str(ROOT))
    return {
        stage.addressing: [k for d in stage.deps if isinstance(d, ParamsDependency) for k in d.params]
        for stage in repo.index.stages
    }


def dependents(readers: dict, key: str) -> set[str]:
    """Stages whose params cover `key`: the key itself, a section above it, or one below it."""
    return {
        name
        for name, keys in readers.items()
        if any(key == k or key.startswith(k + ".") or k.startswith(key + ".") for k in keys)
    }


EXPECTED = {  # key: glob patterns of the stages that must depend on it (and no other stage)
    # the methods that perturb their inputs by eps: the paper's, Goodfellow et al.'s, the random-sign control
    "eps": [
        "train-adversarial@*",
        "train-goodfellow@*",
        "train-random@*",
        "train-fit-adversarial@*",
        "train-fit-random@*",
        "report",
    ],
    "mnist.clean_weight": ["train-goodfellow@*", "report"],
    "mnist.vat.eps": ["train-vat@*", "report"],
    "mnist.clip": [
        "train-adversarial@*",
        "train-goodfellow@*",
        "train-random@*",
        "train-fit-adversarial@*",
        "train-fit-random@*",
        "report",
    ],
    "mnist.dropout.input": ["train-fit-dropout@*", "report"],
    "mnist.lr.logistic": ["train-*@mnist-logistic-*", "report"],
    "attack.eps": ["attack@*", "report"],
    "attack.clip": ["attack@*", "report"],
    "attack.inputs": ["train-fit-*", "attack@*", "report"],
    "robustness.eps": ["robustness-*", "report"],
    "robustness.pgd_steps": ["robustness-*", "report"],
    "mnist.validation_size": ["preprocess-mnist@*", "report"],
    "cifar10.zca_epsilon": ["preprocess-cifar@*", "report"],
    "cifar10.eps.mlp": ["train-cifar-adversarial@*-mlp-*", "train-cifar-adversarial-dropout@*-mlp-*", "report"],
    "cifar10.eps.conv": ["train-cifar-adversarial@*-conv-*", "train-cifar-adversarial-dropout@*-conv-*", "report"],
    "cifar10.dropout.fc": ["train-cifar-backprop-dropout@*", "train-cifar-adversarial-dropout@*", "report"],
    "cifar10.mlp.lr": ["train-cifar-*@*-mlp-*", "report"],
    "cifar10.conv.momentum": ["train-cifar-*@*-conv-*", "report"],
}


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_a_params_key_reaches_exactly_the_stages_that_read_it(readers, key):
    expected = {name for name in readers if any(fnmatch.fnmatch(name, pattern) for pattern in EXPECTED[key])}
    assert expected, f"no stage matches {EXPECTED[key]}"
    assert dependents(readers, key) == expected


def test_no_training_stage_depends_on_an_attack_or_robustness_param(readers):
    for key in ("attack.eps", "attack.clip", "robustness.eps", "robustness.clip", "robustness.images"):
        assert not {s for s in dependents(readers, key) if s.startswith("train")}, key


def test_the_report_reads_every_section(readers):
    assert set(readers["report"]) >= {"eps", "seeds", "mnist", "attack", "robustness", "cifar10"}

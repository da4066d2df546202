"""The wiring of every stage's `main(argv)`: each reads the split and the params it documents.

On the plain fixtures every split gives the same numbers, so a stage that measured the wrong
split (Table 2's "test" error on the training images, the transfer examples made from the test
set...) passed. Here every split has its own signature in the numbers:

- the test labels are shifted (class c labelled (c + 1) % 10): a net that learned the classes
  has a test error near 100 %, and near 0 on the images it trained on;
- every other validation label is shifted in the preprocessed file: a net trained without the
  validation split (`--split fit`) has a validation error near 50 %;
- the sizes differ: 300 training images = 250 fit + 50 validation, 60 test images.

So a split read in place of another changes an error by tens of percent; where it is cheap, the
numbers are also recomputed from the stage's own model files on the split they must come from.

Shrunk from the paper's protocol so the file runs in seconds on a shared CPU: 2x32 MNIST nets
and 2x16 CIFAR MLPs, 300 training images, 2 seeds, 3-4 epochs, 2 PGD steps; the CIFAR data
use the `simple` preprocessing (ZCA's 3072x3072 eigendecomposition alone takes ~30 s).
"""

import csv
import json

import pytest
import torch
import yaml

from advgrad.cifar.data import load_cifar
from advgrad.cifar.model import from_entry as cifar_from_entry
from advgrad.core.checkpoint import load_models
from advgrad.core.io import save_checked
from advgrad.evaluate.analysis import sparsity
from advgrad.evaluate.attack import error_pct, transfer_experiment
from advgrad.mnist.data import load_mnist
from advgrad.mnist.model import from_entry
from stages import analyze, attack, download, preprocess_cifar, preprocess_mnist, robustness, train_cifar, train_mnist
from tests.fixtures import shifted_labels, write_cifar_mirror_shifted_test, write_mnist_mirror_shifted_test
from tests.real_data import ROOT

N_TRAIN, N_VAL, N_TEST = 300, 50, 60
N_FIT = N_TRAIN - N_VAL

# Each method's own params, all distinct from params.yaml's defaults and from each other, so a
# value that reaches the wrong method's stage is seen in its model file.
EPS, CLIP, CLEAN_WEIGHT, DROPOUT = 0.05, True, 0.3, {"input": 0.1, "hidden": 0.3}
VAT = {"eps": 1.5, "xi": 1.0e-5, "iterations": 2, "weight": 0.5}
CIFAR_EPS, CIFAR_DROPOUT = {"mlp": 0.02, "conv": 0.005}, {"input": 0.15, "fc": 0.35}

MNIST_NETS = {  # name: (method, split): the nets the evaluation stages read
    "backprop-train": ("backprop", "train"),  # Table 2; robustness
    "goodfellow-train": ("goodfellow", "train"),  # only for its params
    "random-train": ("random", "train"),  # only for its params
    "random-fit": ("random", "fit"),  # the transfer experiment's random-sign target
    "vat-train": ("vat", "train"),  # only for its params
    "backprop-fit": ("backprop", "fit"),  # the transfer source and backprop target; Figures 2-3
    "adversarial-fit": ("adversarial", "fit"),
    "dropout-fit": ("dropout", "fit"),  # Figure 2
}
CIFAR_METHODS = ("backprop", "backprop-dropout", "adversarial", "adversarial-dropout")


def write_params(path, **sections):
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    for key, value in sections.items():
        if isinstance(value, dict):
            raw[key].update(value)
        else:
            raw[key] = value
    path.write_text(yaml.safe_dump(raw))
    return path


def read_curves(run_dir):
    with open(run_dir / "curves.csv") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def last_epoch(curves, column):
    """{seed: `column` at the seed's last epoch}."""
    final = {}
    for row in sorted(curves, key=lambda r: r["epoch"]):
        final[int(row["seed"])] = row[column]
    return final


@pytest.fixture(scope="module")
def mnist(tmp_path_factory):
    """Preprocessed MNIST-format data with split signatures, params.yaml, and the nets every
    evaluation stage reads, all trained through `train_mnist.main`."""
    tmp = tmp_path_factory.mktemp("mnist")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADVGRAD_RESUME_DIR", str(tmp / "resume"))  # not the repository's .advgrad/
        mp.delenv("ADVGRAD_NO_RESUME", raising=False)
        params = write_params(
            tmp / "params.yaml",
            seeds=2,
            device="cpu",
            eps=EPS,
            # lr 0.2 and init std 0.2: the 2x32 nets of every method learn the squares in 4 epochs
            mnist={
                "epochs": 4,
                "last_epochs": 2,
                "units": [32],
                "train_size": N_TRAIN,
                "validation_size": N_VAL,
                "init_std": 0.2,
                "lr": {"logistic": 0.2, "tanh": 0.2, "relu": 0.2},
                "clip": CLIP,
                "clean_weight": CLEAN_WEIGHT,
                "dropout": DROPOUT,
                "vat": VAT,
            },
            # eps 0 makes the transfer rows the targets' clean errors on the attacked images
            attack={"eps": [0.0, 0.1]},
            robustness={"eps": [0.0, 0.1], "pgd_steps": 2, "pgd_step_size": 0.05, "images": None},
        )
        write_mnist_mirror_shifted_test(tmp / "mirror", n_train=N_TRAIN, n_test=N_TEST)
        download.run("mnist", tmp / "raw", mirror=str(tmp / "mirror"), allow_unverified=True)
        blob = preprocess_mnist.run(tmp / "raw", validation_size=N_VAL, train_size=N_TRAIN)
        every_other = blob["val_idx"][::2]
        blob["y_train"][every_other] = torch.as_tensor(shifted_labels(blob["y_train"][every_other].numpy()))
        data = tmp / "mnist.pt"
        save_checked(blob, data)
        for name, (method, split) in MNIST_NETS.items():
            train_mnist.main(
                [
                    *("--method", method, "--split", split, "--dataset", "mnist"),
                    *("--activation", "relu", "--units", "32", "--data", str(data)),
                    *("--model", str(tmp / name / "model.pt"), "--run-dir", str(tmp / name)),
                    *("--params", str(params)),
                ]
            )
        yield tmp, data, params, load_mnist(data)


def models(tmp, name):
    return load_models(tmp / name / "model.pt", from_entry)


def test_table2_error_is_the_test_splits(mnist):
    """train_mnist: metrics.json's error is the test split's (near 100 % on shifted test labels),
    and curves.csv's train_error the training split's (8-20 %: 25 of its 300 labels are the
    shifted validation ones, which a net learns last if at all)."""
    tmp, _, _, data = mnist
    metrics = json.loads((tmp / "backprop-train" / "metrics.json").read_text())
    curves = read_curves(tmp / "backprop-train")
    assert metrics["n_train"] == N_TRAIN
    assert metrics["error_pct"] > 80, "Table 2's test error is not the test split's"
    assert all(e < 0.3 for e in last_epoch(curves, "train_error").values())
    # The saved nets agree with the curves on both splits (1 image of slack: the stacked
    # training net and the per-seed module may round a borderline logit differently).
    nets = models(tmp, "backprop-train")[1]
    for seed, test_error in last_epoch(curves, "test_error").items():
        assert error_pct(nets[seed], data.test.x, data.test.y) == pytest.approx(100 * test_error, abs=100 / N_TEST)


def test_fit_nets_train_on_the_fit_split(mnist):
    """train_mnist --split fit: trained and measured on the 250 fit images, without the
    validation split: its training error is its nets' error on fit (~0 %), not on the whole
    training set, whose 25 shifted validation labels a fit net gets wrong; and the validation
    error stays near 50 % (a net trained on them would have learned some)."""
    tmp, _, _, data = mnist
    assert (len(data.train.y), len(data.fit.y), len(data.val.y), len(data.test.y)) == (N_TRAIN, N_FIT, N_VAL, N_TEST)
    metrics = json.loads((tmp / "backprop-fit" / "metrics.json").read_text())
    assert metrics["n_train"] == N_FIT
    nets = models(tmp, "backprop-fit")[1]
    for seed, train_error in last_epoch(read_curves(tmp / "backprop-fit"), "train_error").items():
        on_fit = error_pct(nets[seed], data.fit.x, data.fit.y)
        on_train = error_pct(nets[seed], data.train.x, data.train.y)
        assert on_train - on_fit > 5  # the two candidates are far apart...
        assert 100 * train_error == pytest.approx(on_fit, abs=100 / N_FIT)  # ...and it is fit's
        assert error_pct(nets[seed], data.val.x, data.val.y) > 35


def test_each_mnist_method_gets_its_own_params_through_main(mnist):
    """The model file records the configuration each net was trained with: eps and clip reach
    the adversarial, Goodfellow and random-sign nets only, the clean-loss weight Goodfellow's
    only, the random direction the random-sign net's only, mnist.vat the VAT net's only, the dropout
    rates the dropout net only."""
    tmp = mnist[0]
    for name, (method, _) in MNIST_NETS.items():
        blob = models(tmp, name)[0]
        cfg, net = blob["config"]["train"], blob["model"]
        assert blob["config"]["method"] == method
        perturbs = method in ("adversarial", "goodfellow", "random")
        assert (cfg["eps"], cfg["clip"]) == ((EPS, CLIP) if perturbs else (0.0, False)), name
        assert cfg["clean_weight"] == (CLEAN_WEIGHT if method == "goodfellow" else 0.0), name
        assert cfg["direction"] == (method if method in ("random", "vat") else "adversarial"), name
        assert cfg["vat"] == (VAT if method == "vat" else None), name
        expected = (DROPOUT["input"], DROPOUT["hidden"]) if method == "dropout" else (0.0, 0.0)
        assert (net["dropout_input"], net["dropout_hidden"]) == expected, name
        assert blob["seeds"] == [0, 1]


def test_robustness_attacks_the_test_images(tmp_path, mnist):
    """robustness: white-box errors on the test split: at eps 0 each seed's error is its net's
    clean test error (80-100 % here; 8-20 % on the training images), on all 60 images."""
    tmp, data, params, loaded = mnist
    out = tmp_path / "robustness.csv"
    robustness.main(
        [
            *("--data", str(data), "--out", str(out), "--params", str(params)),
            *("--model", str(tmp / "backprop-train" / "model.pt")),
        ]
    )
    rows = list(csv.DictReader(out.read_text().splitlines()))
    nets = models(tmp, "backprop-train")[1]
    clean = [r for r in rows if float(r["eps"]) == 0.0]
    assert {int(r["seed"]) for r in clean} == {0, 1} and {r["attack"] for r in clean} == {"fgsm", "pgd"}
    for r in clean:
        test_error = error_pct(nets[int(r["seed"])], loaded.test.x, loaded.test.y)
        assert test_error > 80 and float(r["error_pct"]) == pytest.approx(test_error), r
    # The image count last: the errors above must tell the splits apart by themselves.
    assert {int(r["n_images"]) for r in rows} == {N_TEST}


def test_attack_makes_its_examples_from_the_validation_split(tmp_path, mnist):
    """attack: the clean errors and the transfer errors are on the validation split: ~50 % (its
    half-shifted labels; fit ~0 %, test ~100 %), and equal to the experiment recomputed on it."""
    tmp, data, params, loaded = mnist
    out = tmp_path / "attack.json"
    attack.main(
        [
            *("--data", str(data), "--out", str(out), "--params", str(params)),
            *("--source", str(tmp / "backprop-fit" / "model.pt")),
            *("--adversarial", str(tmp / "adversarial-fit" / "model.pt")),
            *("--random", str(tmp / "random-fit" / "model.pt")),
        ]
    )
    result = json.loads(out.read_text())
    for name in ("backprop", "adversarial", "random"):
        assert 35 < result["clean"][f"{name}_clean_val_pct"] < 65, name
        # eps 0: the "examples" are the attacked images themselves
        assert 35 < result["eps"]["0"][f"{name}_pct"] < 65, name
    targets = {name: models(tmp, f"{name}-fit")[1] for name in ("backprop", "adversarial", "random")}
    expected = transfer_experiment(targets, loaded.val.x, loaded.val.y, [0.0, 0.1])
    assert result["eps"] == json.loads(json.dumps(expected))
    assert result["n_val"] == N_VAL  # last: the errors above must tell the splits apart by themselves


def test_analyze_measures_activations_on_the_test_images(tmp_path, mnist):
    """analyze: Figure 3's histograms and the sparsity numbers are on the 60 test images: equal to
    the sparsity recomputed on the test split, and different from every other split's."""
    tmp, data, params, loaded = mnist
    analyze.main(
        [
            *("--data", str(data), "--out", str(tmp_path / "analysis"), "--params", str(params)),
            *("--backprop", str(tmp / "backprop-fit" / "model.pt")),
            *("--adversarial", str(tmp / "adversarial-fit" / "model.pt")),
            *("--dropout", str(tmp / "dropout-fit" / "model.pt")),
        ]
    )
    result = json.loads((tmp_path / "analysis" / "sparsity.json").read_text())
    for name in ("backprop", "adversarial", "dropout"):
        nets = models(tmp, f"{name}-fit")[1]
        on_test = json.loads(json.dumps(sparsity(nets, loaded.test.x)))
        for other in (loaded.train, loaded.fit, loaded.val):  # the check below can tell the splits apart
            assert sparsity(nets, other.x)["overall"] != on_test["overall"]
        assert result[name] == on_test, name
    # The figure's caption (image count) last: the numbers above must tell the splits apart by themselves.
    assert result["images"] == f"the {N_TEST} test images"
    assert (tmp_path / "analysis" / "fig3_hidden_activations.png").is_file()


# ---------------------------------------------------------------------------------------------
# CIFAR-10


@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    """The CIFAR fixture with shifted test labels, `simple`-preprocessed, and one 2x16 MLP
    per method trained through `train_cifar.main`."""
    tmp = tmp_path_factory.mktemp("cifar")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADVGRAD_RESUME_DIR", str(tmp / "resume"))
        mp.delenv("ADVGRAD_NO_RESUME", raising=False)
        params = write_params(
            tmp / "params.yaml",
            seeds=2,
            device="cpu",
            cifar10={
                "train_size": None,
                "max_epochs": 3,
                "batch_size": 10,
                "init_std": 0.05,
                "eps": CIFAR_EPS,
                "dropout": {
                    **yaml.safe_load((ROOT / "params.yaml").read_text())["cifar10"]["dropout"],
                    **CIFAR_DROPOUT,
                },
                "mlp": {"units": 16, "lr": 0.05, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0},
            },
        )
        write_cifar_mirror_shifted_test(tmp / "mirror", n_per_batch=N_TEST)  # 5 x 60 = 300 training images
        download.run("cifar-10", tmp / "raw", mirror=str(tmp / "mirror"), allow_unverified=True)
        data = tmp / "cifar-10-simple.pt"
        save_checked(preprocess_cifar.run(tmp / "raw", "simple", None, 1e-5, False), data)
        for method in CIFAR_METHODS:
            train_cifar.main(
                [
                    *("--arch", "mlp", "--prep", "simple", "--method", method, "--data", str(data)),
                    *("--model", str(tmp / method / "model.pt"), "--run-dir", str(tmp / method)),
                    *("--params", str(params)),
                ]
            )
        yield tmp, load_cifar(data)


def test_table3_error_is_the_test_splits(cifar):
    """train_cifar: metrics.json's error is the test split's (near 100 % on shifted labels),
    curves.csv's train_error the training split's (low), and both agree with the saved nets."""
    tmp, data = cifar
    metrics = json.loads((tmp / "backprop" / "metrics.json").read_text())
    curves = read_curves(tmp / "backprop")
    assert metrics["n_train"] == 5 * N_TEST
    assert metrics["error_pct"] > 80, "Table 3's test error is not the test split's"
    assert all(e < 0.2 for e in last_epoch(curves, "train_error").values())
    nets = load_models(tmp / "backprop" / "model.pt", cifar_from_entry)[1]
    for seed, test_error in last_epoch(curves, "test_error").items():
        assert error_pct(nets[seed], data.test.x, data.test.y) == pytest.approx(100 * test_error, abs=100 / N_TEST)


def test_each_cifar_method_gets_its_own_params_through_main(cifar):
    """eps (the MLP's) reaches the adversarial cells only, the dropout rates the dropout cells only."""
    tmp = cifar[0]
    for method in CIFAR_METHODS:
        blob = load_models(tmp / method / "model.pt", cifar_from_entry)[0]
        cfg, net = blob["config"]["train"], blob["model"]
        assert blob["config"]["method"] == method
        assert cfg["eps"] == (CIFAR_EPS["mlp"] if method.startswith("adversarial") else 0.0), method
        dropout = method.endswith("-dropout")
        expected = (CIFAR_DROPOUT["input"], CIFAR_DROPOUT["fc"]) if dropout else None
        for d in (cfg["dropout"], net["dropout"]):
            assert (d and (d["input"], d["fc"])) == expected, method

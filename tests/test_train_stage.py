"""The MNIST training stage: resume after an interruption, determinism, clear failures."""

import json

import pytest
import torch
import yaml

from advgrad.core.io import save_checked
from stages import download, preprocess_mnist, train_mnist
from tests.fixtures import write_mnist_mirror
from tests.real_data import ROOT

# Shrunk: 2x16 nets, 300 images, 4 epochs of batch 10, 2 seeds.
TOY = {"seeds": 2, "device": "cpu"}
TOY_MNIST = {"epochs": 4, "units": [16], "train_size": 300, "validation_size": 50, "last_epochs": 2}


@pytest.fixture
def setup(tmp_path, monkeypatch):
    raw = yaml.safe_load(open("params.yaml"))
    raw.update(TOY)
    raw["mnist"].update(TOY_MNIST)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    write_mnist_mirror(tmp_path / "mirror", n_train=300, n_test=60)
    download.run("mnist", tmp_path / "raw", mirror=str(tmp_path / "mirror"), allow_unverified=True)
    data = tmp_path / "mnist.pt"
    save_checked(preprocess_mnist.run(tmp_path / "raw", validation_size=50, train_size=300), data)
    monkeypatch.setenv("ADVGRAD_RESUME_DIR", str(tmp_path / "resume"))
    monkeypatch.delenv("ADVGRAD_NO_RESUME", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path, data


def train(tmp, data, name, method="adversarial"):
    train_mnist.main(
        [
            "--method",
            method,
            "--split",
            "train",
            "--dataset",
            "mnist",
            "--activation",
            "relu",
            "--units",
            "16",
            "--data",
            str(data),
            "--model",
            str(tmp / name / "model.pt"),
            "--run-dir",
            str(tmp / name),
        ]
    )
    metrics = json.loads((tmp / name / "metrics.json").read_text())
    assert metrics["provenance"].pop("seconds_per_epoch") > 0  # a measurement: the one number that varies
    return torch.load(tmp / name / "model.pt", weights_only=False), (tmp / name / "curves.csv").read_text(), metrics


def test_same_params_give_bit_identical_results(setup):
    tmp, data = setup
    m1, c1, j1 = train(tmp, data, "a")
    m2, c2, j2 = train(tmp, data, "b")
    assert c1 == c2 and j1 == j2
    assert all(
        torch.equal(sd1[k], sd2[k]) for sd1, sd2 in zip(m1["state_dicts"], m2["state_dicts"], strict=True) for k in sd1
    )


def test_interrupted_stage_resumes_from_its_last_epoch_with_the_same_result(
    setup, capsys, interrupt_after, record_epochs
):
    tmp, data = setup
    full = train(tmp, data, "full")

    resume_training = interrupt_after(2)  # Ctrl-C right after epoch 2's checkpoint
    with pytest.raises(SystemExit) as stop:
        train(tmp, data, "resumed")
    assert stop.value.code == 130  # 128 + SIGINT, and one line instead of a traceback
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "stopped by SIGINT; epoch 2 of 4 is saved in" in line and "to resume" in line
    assert not (tmp / "resumed" / "metrics.json").exists()  # nothing half-written
    checkpoints = list((tmp / "resume").iterdir())
    assert len(checkpoints) == 1

    saves = resume_training.saved
    resume_training()
    trained = record_epochs()
    resumed = train(tmp, data, "resumed")
    assert saves == [1, 2]
    assert trained == [3, 4]  # a resume happened: only the remaining epochs were trained
    assert resumed[1] == full[1] and resumed[2] == full[2]
    assert all(
        torch.equal(a[k], b[k])
        for a, b in zip(full[0]["state_dicts"], resumed[0]["state_dicts"], strict=True)
        for k in a
    )
    assert list((tmp / "resume").iterdir()) == []  # removed on success


def test_changed_configuration_does_not_resume_a_stale_checkpoint(setup, caplog, interrupt_after):
    tmp, data = setup
    resume_training = interrupt_after(1)
    with pytest.raises(SystemExit):
        train(tmp, data, "stale")
    resume_training()

    raw = yaml.safe_load(open("params.yaml"))
    raw["eps"] = 0.2  # a different configuration: the epoch-1 checkpoint of eps 0.08 must not be used
    (tmp / "params.yaml").write_text(yaml.safe_dump(raw))
    with caplog.at_level("INFO", logger="advgrad"):
        after = train(tmp, data, "stale")
    fresh = train(tmp, data, "fresh")  # an uninterrupted eps 0.2 run
    assert after[1] == fresh[1] and after[2] == fresh[2]
    assert "a checkpoint of another configuration, code or torch version" in caplog.text
    assert list((tmp / "resume").iterdir()) == []  # the stale eps 0.08 checkpoint was removed


def test_divergence_stops_with_one_line_naming_stage_seed_and_epoch(setup):
    tmp, data = setup
    raw = yaml.safe_load(open("params.yaml"))
    raw["mnist"]["lr"]["relu"] = 1e6
    (tmp / "params.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(SystemExit) as err:
        train(tmp, data, "nan")
    message = str(err.value)
    assert "train-adversarial-train:mnist-relu-16" in message and "seed" in message and "epoch" in message
    assert not (tmp / "nan" / "metrics.json").exists()


def test_bad_params_fail_before_any_work_in_one_line(setup):
    tmp, data = setup
    raw = yaml.safe_load(open("params.yaml"))
    raw["mnist"]["epochs"] = "many"
    (tmp / "params.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(SystemExit, match=r"^error: params.yaml: mnist.epochs must be integer; got 'many'$"):
        train(tmp, data, "bad")


def test_standardized_reading_trains_only_the_fit_nets_on_standardized_inputs(setup):
    """attack.inputs: standardized changes what it documents: the fit nets (and only they)
    standardize with the fit split's pixel mean and std, and train with eps in those units."""
    from advgrad.mnist.data import load_mnist
    from stages.params import parse_params

    tmp, data = setup
    raw = yaml.safe_load(open("params.yaml"))
    raw["attack"]["inputs"] = "standardized"
    params = parse_params(raw)
    loaded = load_mnist(data)
    mean, std = train_mnist.input_stats(params, "fit", loaded)
    assert (mean, std) == (pytest.approx(loaded.fit.x.mean().item()), pytest.approx(loaded.fit.x.std().item()))
    assert 0.1 < std < 0.5 and train_mnist.input_stats(params, "train", loaded) == (0.0, 1.0)
    raw["attack"]["inputs"] = "pixels"
    assert train_mnist.input_stats(parse_params(raw), "fit", loaded) == (0.0, 1.0)
    cfg = train_mnist.build_config(params, "relu", 16, "adversarial", (mean, std))
    assert cfg.mlp.standardizes and cfg.eps == 0.08  # eps now counts in standard deviations


def test_the_reported_statistic_is_the_mean_of_the_last_epochs_of_curves_csv(setup):
    """Recomputed from the stage's own curves.csv with last_epochs (2) < epochs (4): a statistic
    that averaged every epoch, or took the wrong seed's rows, fails."""
    import csv
    import statistics

    tmp, data = setup
    raw = yaml.safe_load(open("params.yaml"))
    raw["mnist"].update(init_std=0.1, lr={"logistic": 0.5, "tanh": 0.5, "relu": 0.5})  # learns in 4 epochs
    (tmp / "params.yaml").write_text(yaml.safe_dump(raw))
    _, curves, metrics = train(tmp, data, "stat")
    rows = list(csv.DictReader(curves.splitlines()))
    assert {int(r["epoch"]) for r in rows} == {1, 2, 3, 4} and {int(r["seed"]) for r in rows} == {0, 1}
    per_seed = []
    for seed in (0, 1):
        last = sorted((r for r in rows if int(r["seed"]) == seed), key=lambda r: int(r["epoch"]))[-2:]
        per_seed.append(100 * sum(float(r["test_error"]) for r in last) / 2)
    assert metrics["per_seed_pct"] == [round(v, 4) for v in per_seed]
    assert metrics["error_pct"] == round(statistics.fmean(per_seed), 4)
    assert metrics["std_pct"] == round(statistics.stdev(per_seed), 4)
    every_epoch = [100 * statistics.fmean(float(r["test_error"]) for r in rows if int(r["seed"]) == s) for s in (0, 1)]
    assert [round(v, 4) for v in every_epoch] != metrics["per_seed_pct"]  # the window matters here
    assert "epochs" not in metrics and "last_epochs" not in metrics  # params are not copied


@pytest.mark.parametrize("activation, lr", [("logistic", 0.5), ("tanh", 0.01), ("relu", 0.05)])
@pytest.mark.parametrize("method", ["backprop", "adversarial", "goodfellow", "random", "vat", "dropout"])
def test_each_mnist_method_gets_the_papers_settings_and_only_its_own(method, activation, lr):
    """eps (and clip) only where the method perturbs, the clean-loss weight only for Goodfellow
    et al., the random direction only for the random-sign control, mnist.vat only for VAT, dropout
    only for the dropout net; lr per activation (section 3) for every method."""
    from stages.params import parse_params

    raw = yaml.safe_load(open(ROOT / "params.yaml"))
    raw["eps"], raw["mnist"]["clip"] = 0.07, True  # distinct from every default
    raw["mnist"]["vat"] = {"eps": 1.5, "xi": 1.0e-5, "iterations": 2, "weight": 0.5}
    cfg = train_mnist.build_config(parse_params(raw), activation, 400, method)
    assert cfg.lr == lr and cfg.mlp.activation == activation and cfg.mlp.sizes == (784, 400, 400, 10)
    assert cfg.eps == (0.07 if method in ("adversarial", "goodfellow", "random") else 0.0)
    assert cfg.clip is (method in ("adversarial", "goodfellow", "random"))
    assert cfg.clean_weight == (0.5 if method == "goodfellow" else 0.0)
    assert cfg.direction == (method if method in ("random", "vat") else "adversarial")
    assert cfg.vat == ({"eps": 1.5, "xi": 1.0e-5, "iterations": 2, "weight": 0.5} if method == "vat" else None)
    assert (cfg.mlp.dropout_input, cfg.mlp.dropout_hidden) == ((0.2, 0.5) if method == "dropout" else (0.0, 0.0))
    assert (cfg.epochs, cfg.batch_size, cfg.init_std, cfg.seeds) == (150, 10, 0.01, (0, 1, 2, 3, 4))


@pytest.mark.parametrize("split, n", [("train", 300), ("fit", 250)])
def test_the_fit_split_leaves_out_the_validation_images(setup, split, n):
    tmp, data = setup
    train_mnist.main(
        [
            "--method",
            "backprop",
            "--split",
            split,
            "--dataset",
            "mnist",
            "--activation",
            "relu",
            "--units",
            "16",
            "--data",
            str(data),
            "--model",
            str(tmp / split / "m.pt"),
            "--run-dir",
            str(tmp / split),
        ]
    )
    assert json.loads((tmp / split / "metrics.json").read_text())["n_train"] == n


def test_the_random_method_trains_on_random_signs_of_size_eps(setup, monkeypatch):
    """`--method random` (the control of section 5's claim) trains on x + eps sign(u): every element
    moved by exactly eps, in a direction that agrees with the adversarial one (the sign of the input
    gradient, from the same initial weights on the same first batch) only by chance."""
    from advgrad.core import algorithm1

    tmp, data = setup
    raw = yaml.safe_load(open("params.yaml"))
    raw["mnist"]["epochs"] = 1
    (tmp / "params.yaml").write_text(yaml.safe_dump(raw))
    real_fgsm, steps = algorithm1.fgsm, {}

    def recording(x, direction, eps, clip=None):
        z = real_fgsm(x, direction, eps, clip)
        steps.setdefault(method, (x.detach().clone(), z.detach().clone()))  # each method's first step
        return z

    monkeypatch.setattr(algorithm1, "fgsm", recording)
    for method in ("adversarial", "random"):
        model = train(tmp, data, method, method)[0]
        assert model["config"]["train"]["direction"] == ("random" if method == "random" else "adversarial")
    (x, z_adv), (x_random, z_random) = steps["adversarial"], steps["random"]
    assert torch.equal(x, x_random)  # the same first batch, from the same shuffling stream
    torch.testing.assert_close((z_random - x).abs(), torch.full_like(x, 0.08))  # eps in every element
    agree = ((z_random - x).sign() == (z_adv - x).sign()).float().mean().item()
    assert 0.3 < agree < 0.7, agree

"""CIFAR-10 training: one step against plain SGD / FGSM oracles, the epoch loop, resuming, and
the train-cifar stage on synthetic data.

Everything is shrunk to run on a shared CPU in seconds: a 3072-8-8-10 MLP (paper: 3000 units),
a few images, 2-3 epochs; the conv net only takes single steps at batch 4.
"""

import copy
import csv
import io
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
import torchattacks
import yaml

from advgrad.cifar.model import NO_DROPOUT, build_model, init_weights_
from advgrad.cifar.trainer import CifarConfig, curve_rows, make_optimizer, summarize, train, train_step
from advgrad.core.dropout import use_generators
from advgrad.core.evaluation import error_rate
from stages.common import ResumeCheckpoint
from stages.params import CIFAR_METHODS, parse_params
from stages.train_cifar import run, stage_config

PARAMS_YAML = Path(__file__).resolve().parents[1] / "params.yaml"


def images(n, seed, low=None, high=None):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, 32, 32, generator=g)
    if low is not None:  # inside [low, high], for torchattacks (which clamps to [0, 1])
        x = low + (high - low) * torch.rand(n, 3, 32, 32, generator=g)
    return x, torch.randint(10, (n,), generator=g)


def initialised(arch, std=0.01, seed=0, dropout=None):
    return init_weights_(build_model(arch, units=8, dropout=dropout), std, torch.Generator().manual_seed(seed))


def rates(**rates):
    """A cifar10.dropout section: `rates` (input, conv, fc), the rest none."""
    return {**NO_DROPOUT, **rates}


def seeded(model, seed):
    """`model` with its dropout masks drawn from a generator seeded with `seed`."""
    use_generators(model, [torch.Generator().manual_seed(seed)])
    return model


def tiny_config(**overrides):
    base = dict(arch="mlp", seeds=(3,), lr=0.05, momentum=0.0, dampening=0.0, weight_decay=0.0, units=8, eps=0.0)
    base |= dict(dropout=None, batch_size=16, max_norm=4.0, init_std=0.01, max_epochs=3, max_halvings=8)
    base |= dict(target_train_error=0.0, halving_decay=0.75, eval_batch_size=7)
    return CifarConfig(**{**base, **overrides})


def sgd_reference_step(model, optimizer, x, y, max_norm=None):
    """Plain back-propagation + torch.optim.SGD, then the max-norm constraint written out."""
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
    if max_norm is not None:
        with torch.no_grad():
            for p in model.parameters():
                if p.dim() > 1:  # one unit's incoming weights per slice of dim 0: w * min(1, c/|w|)
                    norms = p.flatten(1).norm(dim=1).view(-1, *[1] * (p.dim() - 1))
                    p.mul_(torch.clamp(max_norm / norms, max=1.0))


def assert_same_parameters(a, b):
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, msg=lambda m, name=name: f"{name}: {m}")


# ---------------------------------------------------------------------------------------------
# One step.


@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("max_norm", [None, 0.3])
def test_backprop_step_equals_plain_sgd(arch, max_norm):
    # With init std 0.01 a unit's incoming norm is ~0.01 sqrt(fan-in): a bound of 0.3 (the
    # paper's 4, scaled to the tiny test) cuts units of fan-in 2304-3200 (~0.5) and leaves
    # those of fan-in 8 or 75 (<0.1) alone, so max-norm does both of its things here.
    model = initialised(arch)
    ref = copy.deepcopy(model)
    config = tiny_config(arch=arch, lr=0.05, momentum=0.9, dampening=0.5, weight_decay=1e-3)
    optimizer = make_optimizer(model, config)
    ref_optimizer = torch.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9, dampening=0.5, weight_decay=1e-3)
    for seed in (1, 2):  # two steps, so the momentum buffer takes part
        x, y = images(4, seed)
        train_step(model, optimizer, x, y, eps=0.0, max_norm=max_norm)
        sgd_reference_step(ref, ref_optimizer, x, y, max_norm)
    assert_same_parameters(model, ref)
    if max_norm is not None:
        norms = torch.cat([p.flatten(1).norm(dim=1) for p in model.parameters() if p.dim() > 1])
        assert norms.max() <= max_norm * (1 + 1e-6)
        assert (norms < 0.99 * max_norm).any() and (norms > 0.999 * max_norm).any()


def test_dampening_equal_to_momentum_is_torch7_sgd():
    # Torch7 optim.sgd (the author's framework) defaults dampening to the momentum:
    # v_1 = g_1, v_t = m v_{t-1} + (1 - m) g_t, w -= lr v. Written out here as the oracle.
    model = initialised("mlp")
    w = [p.detach().clone() for p in model.parameters()]
    optimizer = make_optimizer(model, tiny_config(lr=0.5, momentum=0.9, dampening=0.9))
    v = None
    for seed in (1, 2, 3):
        x, y = images(4, seed)
        probe = copy.deepcopy(model)
        grads = torch.autograd.grad(F.cross_entropy(probe(x), y), list(probe.parameters()))
        v = list(grads) if v is None else [0.9 * vi + 0.1 * g for vi, g in zip(v, grads)]
        w = [wi - 0.5 * vi for wi, vi in zip(w, v)]
        train_step(model, optimizer, x, y, eps=0.0, max_norm=None)
    for p, wi in zip(model.parameters(), w):
        torch.testing.assert_close(p.detach(), wi)


def test_backprop_dropout_step_equals_plain_sgd_with_the_same_masks():
    model = initialised("mlp", dropout=rates(input=0.1, fc=0.5))
    ref = copy.deepcopy(model)
    optimizer = make_optimizer(model, tiny_config(lr=0.1))
    ref_optimizer = torch.optim.SGD(ref.parameters(), lr=0.1)
    x, y = images(4, 1)
    seeded(model, 7).train()
    seeded(ref, 7).train()
    train_step(model, optimizer, x, y, eps=0.0, max_norm=None)
    sgd_reference_step(ref, ref_optimizer, x, y)
    assert_same_parameters(model, ref)


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_adversarial_step_is_sgd_on_the_torchattacks_fgsm_input(arch):
    # Oracle for Algorithm 1's steps 1-3: torchattacks' FGSM (it clamps to [0, 1]; the images
    # lie in [0.2, 0.8] and eps is small, so the clamp never acts).
    eps = 0.03
    model = initialised(arch)
    ref = copy.deepcopy(model)
    x, y = images(4, 1, low=0.2, high=0.8)
    z = torchattacks.FGSM(ref, eps=eps)(x, y)
    assert (z - x).abs().max() == pytest.approx(eps)
    optimizer = make_optimizer(model, tiny_config(lr=0.1))
    train_step(model, optimizer, x, y, eps=eps, max_norm=None)
    sgd_reference_step(ref, torch.optim.SGD(ref.parameters(), lr=0.1), z, y)
    assert_same_parameters(model, ref)


def test_adversarial_dropout_uses_training_mode_and_fresh_masks_in_both_passes():
    eps = 0.03
    model = initialised("mlp", dropout=rates(input=0.1, fc=0.5))
    ref = copy.deepcopy(model)
    x, y = images(4, 1)
    seeded(model, 11).train()
    seeded(ref, 11).train()
    train_step(model, make_optimizer(model, tiny_config(lr=0.1)), x, y, eps=eps, max_norm=None)
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(ref(xg), y), [xg])  # first masks
    z = x + eps * grad.sign()
    assert (z == x).any()  # inputs dropped in the first pass have a zero gradient: unperturbed
    sgd_reference_step(ref, torch.optim.SGD(ref.parameters(), lr=0.1), z, y)  # second masks
    assert_same_parameters(model, ref)


@pytest.fixture(scope="module")
def params():
    return parse_params(yaml.safe_load(PARAMS_YAML.read_text()))


@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("method", CIFAR_METHODS)
def test_each_method_step_changes_every_weight_tensor(params, arch, method):
    config = CifarConfig.of_cell(params, arch, method)
    assert config.eps == ({"mlp": 0.03, "conv": 0.01}[arch] if "adversarial" in method else 0.0)
    section = {"input": 0.1, "conv": (0.25, 0.25, 0.5), "conv_position": "before_pool", "fc": 0.5}
    assert config.dropout == (section if method.endswith("dropout") else None)
    assert (config.lr, config.units) == ((0.1, 3000) if arch == "mlp" else (0.5, None))
    model = initialised(arch, dropout=config.dropout)
    before = copy.deepcopy(model.state_dict())
    seeded(model, 0).train()
    x, y = images(4, 1)
    train_step(model, make_optimizer(model, config), x, y, eps=config.eps, max_norm=config.max_norm)
    for name, value in model.state_dict().items():
        assert not torch.equal(value, before[name]), name


def test_error_rate_in_chunks_and_eval_mode():
    model = initialised("mlp", dropout=rates(input=0.5, fc=0.5))
    x, y = images(23, 1)
    model.eval()
    expected = (model(x).argmax(1) != y).sum().item() / 23
    model.train()
    assert error_rate(model, x, y, chunk=5) == expected


# ---------------------------------------------------------------------------------------------
# The run.


def test_halving_reaches_the_optimizer_and_max_halvings_stops():
    # halving_decay = 0 makes the running mean the error itself: every epoch halves.
    x, y = images(40, 1)
    seen = []
    state = train(
        tiny_config(halving_decay=0.0, max_halvings=2, max_epochs=10),
        x,
        y,
        x[:10],
        y[:10],
        on_epoch=lambda s, _: seen.append(copy.deepcopy(s["current"])),
    )
    (run,) = state["runs"]
    assert [p["lr"] for p in run["curve"]] == [0.05, 0.025, 0.0125]
    assert run["stop_reason"] == "max_halvings" and state["current"] is None
    assert [c["optimizer"]["param_groups"][0]["lr"] for c in seen[:2]] == [0.025, 0.0125]
    assert seen[2] is None


def test_divergence_raises_naming_seed_and_epoch():
    x, y = images(20, 1)
    x[5, 0, 0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="seed 3 diverged in epoch 1"):
        train(tiny_config(), x, y, x, y)


def snapshot(state):
    buf = io.BytesIO()
    torch.save(state, buf)
    return torch.load(io.BytesIO(buf.getvalue()), weights_only=False)


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("stop_after", [2, 3, 4])  # mid-seed, at the seed boundary, next seed
def test_resume_is_bit_identical(stop_after):
    config = tiny_config(
        seeds=(3, 4), dropout=rates(input=0.1, fc=0.5), eps=0.03, momentum=0.9, weight_decay=1e-3, max_norm=0.3
    )
    x, y = images(40, 1)
    tx, ty = images(10, 2)
    full = train(config, x, y, tx, ty)

    saved = []

    def interrupt(state, seconds):
        saved.append(snapshot(state))
        if len(saved) == stop_after:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(config, x, y, tx, ty, on_epoch=interrupt)
    torch.manual_seed(12345)  # the caller's global RNG must not matter
    resumed = train(config, x, y, tx, ty, state=saved[-1])

    assert curve_rows(resumed) == curve_rows(full)
    for a, b in zip(resumed["runs"], full["runs"], strict=True):
        assert a["model"].keys() == b["model"].keys()
        assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert len(curve_rows(full)) == 2 * 3


def test_resume_with_another_configuration_is_refused():
    x, y = images(20, 1)
    state = train(tiny_config(max_epochs=1), x, y, x, y)
    with pytest.raises(ValueError, match="different configuration"):
        train(tiny_config(max_epochs=1, lr=0.1), x, y, x, y, state=state)


def test_summarize_mean_and_sample_std_in_percent():
    def finished(seed, test_errors):
        return {
            "seed": seed,
            "stop_reason": "max_epochs",
            "curve": [
                {"seed": seed, "epoch": i + 1, "test_error": e, "train_error": 0.0} for i, e in enumerate(test_errors)
            ],
        }

    state = {"runs": [finished(0, [0.5, 0.1]), finished(1, [0.2]), finished(2, [0.9, 0.4, 0.3])]}
    s = summarize(state)
    assert s["per_seed_pct"] == pytest.approx([10, 20, 30])
    assert s["error_pct"] == pytest.approx(20) and s["std_pct"] == pytest.approx(10)
    assert s["n_seeds"] == 3 and s["epochs_run"] == [2, 1, 3]


# ---------------------------------------------------------------------------------------------
# The stage.


def synthetic_data(prep="zca"):
    split = lambda n, seed: SimpleNamespace(**dict(zip("xy", images(n, seed))))  # noqa: E731
    return SimpleNamespace(train=split(40, 1), test=split(12, 2), meta={"verified": False, "prep": prep})


@pytest.fixture
def stage_setup(tmp_path):
    raw = yaml.safe_load(PARAMS_YAML.read_text())
    raw["seeds"] = 2
    raw["cifar10"].update(train_size=32, max_epochs=2, batch_size=16)
    raw["cifar10"]["mlp"]["units"] = 8
    data_file = tmp_path / "cifar-10-zca.pt"
    data_file.write_bytes(b"stand-in for the processed data file")
    config = stage_config(parse_params(raw), "mlp", "zca", "adversarial-dropout", data_file)
    return config, synthetic_data(), tmp_path


def outputs(out):
    """(model path, run dir) of a stage run writing under `out`."""
    return out / "model.pt", out


def read_outputs(out):
    model = torch.load(out / "model.pt", weights_only=True)  # plain tensors and values only
    with open(out / "curves.csv") as f:
        curves = list(csv.DictReader(f))
    return model, curves, json.loads((out / "metrics.json").read_text())


def test_stage_run_writes_model_curves_and_metrics(stage_setup):
    config, data, tmp = stage_setup
    checkpoint = ResumeCheckpoint("train-cifar-test", config, "train_cifar", root=tmp / "resume")
    metrics = run(config, data, torch.device("cpu"), *outputs(tmp / "out"), checkpoint)

    model, curves, saved_metrics = read_outputs(tmp / "out")
    assert model["config"] == config and len(model["state_dicts"]) == 2
    net = build_model("mlp", units=8)
    net.load_state_dict(model["state_dicts"][1])
    assert [(r["seed"], r["epoch"]) for r in curves] == [("0", "1"), ("0", "2"), ("1", "1"), ("1", "2")]
    assert list(curves[0]) == ["epoch", "seed", "train_error", "test_error", "online_train_error", "lr"]
    assert saved_metrics == json.loads(json.dumps(metrics))
    assert saved_metrics["n_seeds"] == 2 and saved_metrics["epochs_run"] == [2, 2]
    assert saved_metrics["per_seed_pct"] == [round(100 * float(curves[i]["test_error"]), 4) for i in (1, 3)]
    assert saved_metrics["data_verified"] is False and model["config"]["method"] == "adversarial-dropout"
    assert model["config"]["train"]["eps"] == 0.03
    assert not checkpoint.path.exists()  # cleared once the outputs are written


def test_stage_resumes_after_an_interruption(stage_setup):
    config, data, tmp = stage_setup
    run(config, data, torch.device("cpu"), *outputs(tmp / "full"))

    class InterruptedCheckpoint(ResumeCheckpoint):
        def save(self, state):
            super().save(state)
            if len(state["runs"]) == 1 and state["current"] is not None:  # seed 1, epoch 1
                raise Interrupt

    class CountingCheckpoint(ResumeCheckpoint):
        epochs = []

        def save(self, state):
            super().save(state)
            point = (state["current"]["curves"] if state["current"] else state["runs"][-1]["curve"])[-1]
            self.epochs.append((point["seed"], point["epoch"]))

    root = tmp / "resume"
    with pytest.raises(Interrupt):
        run(
            config,
            data,
            torch.device("cpu"),
            *outputs(tmp / "out"),
            InterruptedCheckpoint("k", config, "train_cifar", root=root),
        )
    assert not (tmp / "out" / "metrics.json").exists()
    resumed = CountingCheckpoint("k", config, "train_cifar", root=root)
    run(config, data, torch.device("cpu"), *outputs(tmp / "out"), resumed)
    # A resume happened: only seed 1's second epoch was trained (a run that ignored its
    # checkpoint would train all four epochs and end with the same files).
    assert resumed.epochs == [(1, 2)]

    (m1, c1, j1), (m2, c2, j2) = read_outputs(tmp / "full"), read_outputs(tmp / "out")
    assert c1 == c2 and j1["per_seed_pct"] == j2["per_seed_pct"]
    for a, b in zip(m1["state_dicts"], m2["state_dicts"]):
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_stage_rejects_data_of_the_other_preprocessing(stage_setup):
    config, _, tmp = stage_setup
    with pytest.raises(ValueError, match="'simple'-preprocessed but the configuration asks for 'zca'"):
        run(config, synthetic_data("simple"), torch.device("cpu"), *outputs(tmp / "out"))


def test_stage_rejects_a_train_size_larger_than_the_data(stage_setup):
    config, data, tmp = stage_setup
    with pytest.raises(ValueError, match="train_size = 41 exceeds the 40 training images"):
        run({**config, "train_size": 41}, data, torch.device("cpu"), *outputs(tmp / "out"))


def test_the_schedule_is_driven_by_the_online_training_error(monkeypatch):
    """The halving rule must see each epoch's online training error (the errors of the
    predictions the updates were computed from), recorded in the curve, not another number."""
    from advgrad.cifar import schedule

    received = []
    real_step = schedule.HalvingSchedule.step

    def recording_step(self, train_error):
        received.append(train_error)
        return real_step(self, train_error)

    monkeypatch.setattr(schedule.HalvingSchedule, "step", recording_step)
    x, y = images(40, 1)
    state = train(tiny_config(eps=0.05, max_epochs=3), x, y, x[:10], y[:10])
    curve = state["runs"][0]["curve"]
    assert received == [p["online_train_error"] for p in curve] and len(received) == 3
    assert received != [p["train_error"] for p in curve]  # the clean error differs here

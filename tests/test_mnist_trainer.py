"""The stacked-seed trainer against per-seed training, plus resume, determinism and divergence.

The independent oracle is a plain PyTorch loop per seed: nn.Sequential + autograd FGSM +
torch.optim.SGD, fed the same initial weights and the same per-epoch permutations. Sizes are
tiny (20 inputs, 16 hidden units, 45 samples, a few epochs) to keep the file fast.
"""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from advgrad.core import training
from advgrad.core.algorithm1 import adversarial_step
from advgrad.core.names import ACTIVATIONS
from advgrad.core.results import summarize
from advgrad.mnist import trainer as trainer
from advgrad.mnist.model import MLPConfig, StackedMLP, to_modules, unstack

SIZES = (20, 16, 16, 10)
LR = {"logistic": 0.5, "tanh": 0.1, "relu": 0.2}


def _bce(logits, y):
    target = F.one_hot(y, logits.shape[-1]).to(logits.dtype)
    return F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / logits.shape[0]


def _separable(n, seed=0, noise=0.1):
    """10 classes, each a fixed random binary 20-pixel prototype plus noise (stream `seed`)."""
    prototypes = (torch.rand(10, SIZES[0], generator=torch.Generator().manual_seed(1234)) > 0.5).float()
    y = torch.arange(n) % 10
    g = torch.Generator().manual_seed(seed)
    x = (prototypes[y] + noise * torch.randn(n, SIZES[0], generator=g)).clamp(0, 1)
    return x, y


def _config(activation="relu", eps=0.08, epochs=3, seeds=(0, 1, 2), dropout=(0.0, 0.0), **kw):
    return trainer.MnistConfig(
        MLPConfig(SIZES, activation, *dropout),
        lr=LR[activation],
        eps=eps,
        epochs=epochs,
        batch_size=10,
        init_std=0.1,
        seeds=seeds,
        **kw,
    )


def _plain_loop(cfg, seed, train, test):
    """One seed, trained the obvious way: the reference Algorithm 1 step (autograd), plain SGD."""
    (x, y), (xt, yt) = train, test
    model = to_modules(StackedMLP(cfg.mlp, [seed], cfg.init_std).state_dict(), cfg.mlp)[0].train()
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    shuffle = torch.Generator().manual_seed(training.stream_seed(seed, "shuffle"))
    rows = []
    for epoch in range(cfg.epochs):
        loss_sum = 0.0
        for idx in torch.randperm(len(x), generator=shuffle).split(cfg.batch_size):
            xb, yb = x[idx], y[idx]
            _, j = adversarial_step(model, _bce, opt, xb, yb, cfg.eps)
            loss_sum += j.item() * len(idx)
        with torch.no_grad():
            rows.append(
                {
                    "epoch": epoch + 1,
                    "seed": seed,
                    "train_error": (model(x).argmax(1) != y).double().mean().item(),
                    "test_error": (model(xt).argmax(1) != yt).double().mean().item(),
                    "train_loss": loss_sum / len(x),
                }
            )
    return model, rows


def _rows_of(curves, seed):
    return [r for r in curves if r["seed"] == seed]


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("eps", [0.0, 0.08])
def test_stacked_training_equals_per_seed_and_plain_autograd_loop(activation, eps):
    # 45 samples with batch 10: the last mini-batch of every epoch has 5 samples.
    train, test = _separable(45), _separable(30, seed=1)
    cfg = _config(activation, eps)
    together = trainer.train(cfg, train, test, "cpu")
    for s, seed in enumerate(cfg.seeds):
        alone = trainer.train(_config(activation, eps, seeds=(seed,)), train, test, "cpu")
        for name, t in together["model"].items():
            torch.testing.assert_close(t[s], alone["model"][name][0], rtol=1e-5, atol=1e-6)

        model, rows = _plain_loop(cfg, seed, train, test)
        reference = unstack(together["model"], cfg.mlp)[s]
        for name, t in model.state_dict().items():
            torch.testing.assert_close(reference[name], t, rtol=1e-4, atol=1e-5)
        ours_rows = _rows_of(together["curves"], seed)
        assert [(r["epoch"], r["train_error"], r["test_error"]) for r in ours_rows] == [
            (r["epoch"], r["train_error"], r["test_error"]) for r in rows
        ]
        assert [r["train_loss"] for r in ours_rows] == pytest.approx([r["train_loss"] for r in rows], rel=1e-4)
    # The seeds really differ (different init and shuffling), so the comparison is per seed.
    assert not torch.allclose(together["model"]["weights.0"][0], together["model"]["weights.0"][1])


@pytest.mark.parametrize("direction", ["adversarial", "random"])
def test_resume_from_saved_state_is_bit_identical(tmp_path, direction):
    # Dropout and eps > 0: every random stream (init, shuffle, dropout) must be restored.
    train, test = _separable(40), _separable(20, seed=1)
    full = trainer.train(_config(epochs=4, seeds=(0, 5), dropout=(0.2, 0.5), direction=direction), train, test, "cpu")

    half = trainer.train(_config(epochs=2, seeds=(0, 5), dropout=(0.2, 0.5), direction=direction), train, test, "cpu")
    torch.save(half, tmp_path / "state.pt")
    loaded = torch.load(tmp_path / "state.pt", map_location="cpu", weights_only=False)
    seen = []
    resumed = trainer.train(
        _config(epochs=4, seeds=(0, 5), dropout=(0.2, 0.5), direction=direction),
        train,
        test,
        "cpu",
        state=loaded,
        on_epoch=lambda st, sec: seen.append((st["epoch"], sec >= 0)),
    )

    assert seen == [(3, True), (4, True)]
    assert resumed["epoch"] == full["epoch"] == 4
    assert resumed["curves"] == full["curves"]
    assert all(torch.equal(t, full["model"][name]) for name, t in resumed["model"].items())
    for key in ("shuffle_rng", "dropout_rng", "noise_rng"):
        assert all(torch.equal(a, b) for a, b in zip(resumed[key], full[key]))
    # Resuming must not have modified the loaded state.
    assert loaded["epoch"] == 2 and len(loaded["curves"]) == 4
    assert torch.equal(loaded["model"]["weights.0"], half["model"]["weights.0"])


def test_training_is_deterministic():
    train, test = _separable(40), _separable(20, seed=1)
    runs = [trainer.train(_config("tanh", epochs=2), train, test, "cpu") for _ in range(2)]
    assert runs[0]["curves"] == runs[1]["curves"]
    assert all(torch.equal(t, runs[1]["model"][name]) for name, t in runs[0]["model"].items())


def test_curves_rows_and_callback():
    train, test = _separable(40), _separable(20, seed=1)
    calls = []
    state = trainer.train(
        _config(epochs=2, seeds=(3, 4)),
        train,
        test,
        "cpu",
        on_epoch=lambda st, sec: calls.append((st["epoch"], len(st["curves"]))),
    )
    assert calls == [(1, 2), (2, 4)]
    assert [(r["epoch"], r["seed"]) for r in state["curves"]] == [(1, 3), (1, 4), (2, 3), (2, 4)]
    assert set(state["curves"][0]) == {
        "epoch",
        "seed",
        "train_error",
        "test_error",
        "train_loss",
        "online_train_error",
        "lr",
    }


def test_divergence_raises_naming_seed_and_epoch():
    train, test = _separable(40), _separable(20, seed=1)
    cfg = trainer.MnistConfig(
        MLPConfig(SIZES, "relu"), lr=1e20, eps=0.08, epochs=3, batch_size=10, init_std=0.1, seeds=(4, 7)
    )
    with pytest.raises(FloatingPointError, match=r"seed [47] diverged in epoch 1: training loss is nan"):
        trainer.train(cfg, train, test, "cpu")


def test_divergence_message_names_the_first_bad_seed():
    model = StackedMLP(MLPConfig(SIZES, "relu"), (3, 7, 9), 0.1)
    with pytest.raises(FloatingPointError, match=r"^seed 7 diverged in epoch 12: training loss is inf"):
        training._check_finite(model, torch.tensor([0.5, float("inf"), float("nan")]), (3, 7, 9), 12, 0.1)
    training._check_finite(model, torch.tensor([0.5, 0.1, 0.2]), (3, 7, 9), 12, 0.1)  # finite: no error
    with torch.no_grad():
        model.weights[1][2, 0, 0] = float("nan")  # seed 9's weights, its loss still finite
    with pytest.raises(FloatingPointError, match=r"^seed 9 diverged in epoch 12"):
        training._check_finite(model, torch.tensor([0.5, 0.1, 0.2]), (3, 7, 9), 12, 0.1)


@pytest.mark.parametrize("eps", [0.0, 0.08])
def test_both_methods_fit_a_separable_training_set(eps):
    train = _separable(200)
    state = trainer.train(_config("relu", eps, epochs=15, seeds=(0, 1)), train, _separable(50, seed=1), "cpu")
    first = [r for r in state["curves"] if r["epoch"] == 1]
    last = [r for r in state["curves"] if r["epoch"] == 15]
    assert all(r["train_error"] == 0.0 for r in last)
    assert all(r["test_error"] <= 0.02 for r in last)
    assert all(end["train_loss"] < 0.2 * start["train_loss"] for start, end in zip(first, last, strict=True))


def test_invalid_config_and_data_fail_with_one_clear_line():
    with pytest.raises(ValueError, match=r"MnistConfig.direction = 'randon'"):
        trainer.train(dataclasses.replace(_config(epochs=1), direction="randon"), _separable(20), _separable(20), "cpu")
    x, y = _separable(20)
    with pytest.raises(ValueError, match="training inputs must be a float tensor"):
        trainer.train(_config(epochs=1), ((x * 255).to(torch.uint8), y), (x, y), "cpu")
    with pytest.raises(ValueError, match="test labels must be an int64 tensor"):
        trainer.train(_config(epochs=1), (x, y), (x, y.int()), "cpu")


# --- summarize -------------------------------------------------------------------------------


def _rows(seed, test_errors, train_errors):
    return [
        {"epoch": e + 1, "seed": seed, "test_error": t, "train_error": r, "train_loss": 0.0}
        for e, (t, r) in enumerate(zip(test_errors, train_errors))
    ]


def test_summarize_is_the_mean_of_the_last_epochs_over_seeds():
    # Seed 0: last two epochs 0.02, 0.01 -> 1.5 %; seed 1: 0.03, 0.01 -> 2.0 %.
    # Mean 1.75 %, sample std sqrt(((1.5-1.75)^2 + (2-1.75)^2) / 1) = 0.353553 %.
    curves = _rows(1, [0.5, 0.03, 0.01], [0.4, 0.0, 0.002]) + _rows(0, [0.5, 0.02, 0.01], [0.4, 0.0, 0.0])
    out = summarize(curves, (0, 1), last_epochs=2)
    assert out["per_seed_pct"] == pytest.approx([1.5, 2.0])
    assert out["error_pct"] == pytest.approx(1.75)
    assert out["std_pct"] == pytest.approx(0.3535534)
    assert out["n_seeds"] == 2
    assert out["final_train_error_pct"] == pytest.approx(0.1)


def test_summarize_one_seed_and_fewer_epochs_than_asked():
    out = summarize(_rows(0, [0.04, 0.02], [0.0, 0.0]), (0,), last_epochs=10)
    assert out["error_pct"] == pytest.approx(3.0) and out["std_pct"] == 0.0 and out["n_seeds"] == 1
    with pytest.raises(ValueError, match="seed 9"):
        summarize(_rows(0, [0.04], [0.0]), (0, 9), last_epochs=10)

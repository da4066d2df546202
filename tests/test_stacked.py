"""The stacked-seed MLP trained by the reference step against S independent per-seed nets.

`StackedMLP` holds S seeds' nets in one module; `algorithm1`'s steps back-propagate the sum of
their losses. The oracle is S plain `build_mlp` modules, each trained by the same reference step
with its own `torch.optim.SGD` (the step itself is checked against a written-out autograd step
and torchattacks in tests/test_algorithm1.py). Dropout masks come from the same per-seed
generator states on both sides. Sizes are tiny to keep it fast.
"""

import pytest
import torch

from advgrad.core.algorithm1 import adversarial_step, goodfellow_step, random_step
from advgrad.core.dropout import SeededDropout, use_generators
from advgrad.core.names import ACTIVATIONS
from advgrad.mnist.model import MLPConfig, StackedMLP, bce_loss, to_modules, unstack

SIZES = (20, 16, 16, 10)
SEEDS = (0, 1, 2)
B = 5
LR = {"logistic": 0.5, "tanh": 0.2, "relu": 0.3}  # large, so one step visibly moves the weights


def _batch(seed=7):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(len(SEEDS), B, SIZES[0], generator=g)  # (S, B, in)
    y = torch.randint(0, SIZES[-1], (len(SEEDS), B), generator=g)  # (S, B)
    return x, y


def _gens(base):
    return [torch.Generator().manual_seed(base + s) for s in range(len(SEEDS))]


def _pair(cfg):
    """A stacked model and its per-seed copies, in training mode, with equal dropout streams."""
    model = StackedMLP(cfg, SEEDS, init_std=0.3)
    copies = [m.train() for m in to_modules(model.state_dict(), cfg)]
    use_generators(model, _gens(100))
    for copy, g in zip(copies, _gens(100), strict=True):
        use_generators(copy, [g])
    return model, copies


def _assert_match(model, copies, **tol):
    for sd, copy in zip(unstack(model.state_dict(), model.cfg), copies, strict=True):
        for name, t in copy.state_dict().items():
            torch.testing.assert_close(sd[name], t, **tol)


# --- configuration and initialisation --------------------------------------------------------


def test_initial_weights_shapes_statistics_and_per_seed_independence():
    cfg = MLPConfig((300, 200, 10), "relu")
    model = StackedMLP(cfg, (4, 9), init_std=0.01)
    assert [tuple(W.shape) for W in model.weights] == [(2, 300, 200), (2, 200, 10)]
    assert [tuple(b.shape) for b in model.biases] == [(2, 1, 200), (2, 1, 10)]
    assert all(b.eq(0).all() for b in model.biases)
    W = model.weights[0].detach()
    assert abs(W.std().item() - 0.01) < 0.0005 and abs(W.mean().item()) < 0.0005
    assert not torch.equal(W[0], W[1])  # different seeds, different weights
    # Seed 9 gets the same weights whether it is stacked with seed 4 or trained alone, and the
    # same as the first layer of a seed-9 N(0, 0.01) draw written out.
    alone = StackedMLP(cfg, (9,), init_std=0.01)
    for W2, W1 in zip(model.weights, alone.weights, strict=True):
        assert torch.equal(W2[1], W1[0])
    expected = torch.empty(300, 200).normal_(0.0, 0.01, generator=torch.Generator().manual_seed(9))
    assert torch.equal(W[1], expected)


# --- forward, loss, evaluation ---------------------------------------------------------------


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_forward_and_per_seed_loss_match_module_copies(activation):
    cfg = MLPConfig(SIZES, activation)
    model = StackedMLP(cfg, SEEDS, init_std=0.3)
    copies = to_modules(model.state_dict(), cfg)
    x, y = _batch()
    logits = model(x)
    losses = bce_loss(logits, y)
    assert losses.shape == (len(SEEDS),)
    for s, copy in enumerate(copies):
        torch.testing.assert_close(logits[s], copy(x[s]))
        # J of one seed, written out: BCE on one-hot targets, summed over units and batch, / B.
        target = torch.nn.functional.one_hot(y[s], 10).float()
        p = torch.sigmoid(copy(x[s]))
        j = -(target * p.log() + (1 - target) * (1 - p).log()).sum() / B
        torch.testing.assert_close(losses[s], j)
    # A (B, in) input is shared by all seeds.
    torch.testing.assert_close(model(x[0])[2], copies[2](x[0]))


# --- the training step -----------------------------------------------------------------------


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("eps", [0.0, 0.08])
@pytest.mark.parametrize("dropout", [False, True], ids=["plain", "dropout"])
@pytest.mark.parametrize("clip", [False, True], ids=["free", "clip"])
def test_stacked_step_equals_per_seed_reference_steps(activation, eps, dropout, clip):
    cfg = MLPConfig(SIZES, activation, *((0.2, 0.5) if dropout else (0.0, 0.0)))
    model, copies = _pair(cfg)
    x, y = _batch()
    clip = (0.0, 1.0) if clip else None
    opt = torch.optim.SGD(model.parameters(), lr=LR[activation])
    _, losses = adversarial_step(model, bce_loss, opt, x, y, eps, clip)
    for s, copy in enumerate(copies):
        _, j = adversarial_step(
            copy, bce_loss, torch.optim.SGD(copy.parameters(), lr=LR[activation]), x[s], y[s], eps, clip
        )
        torch.testing.assert_close(losses[s], j)
    _assert_match(model, copies, rtol=1e-5, atol=1e-6)
    # The step moved the weights, so the comparison above is not trivially true.
    assert not torch.allclose(model.weights[0], StackedMLP(cfg, SEEDS, 0.3).weights[0], atol=1e-4)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("dropout", [False, True], ids=["plain", "dropout"])
def test_stacked_goodfellow_step_equals_per_seed_reference_steps(activation, dropout):
    cfg = MLPConfig(SIZES, activation, *((0.2, 0.5) if dropout else (0.0, 0.0)))
    model, copies = _pair(cfg)
    x, y = _batch()
    opt = torch.optim.SGD(model.parameters(), lr=LR[activation])
    _, losses = goodfellow_step(model, bce_loss, opt, x, y, 0.08, 0.5)
    for s, copy in enumerate(copies):
        _, j = goodfellow_step(
            copy, bce_loss, torch.optim.SGD(copy.parameters(), lr=LR[activation]), x[s], y[s], 0.08, 0.5
        )
        torch.testing.assert_close(losses[s], j)
    _assert_match(model, copies, rtol=1e-5, atol=1e-6)
    # It is not Algorithm 1: the clean pass moves the weights too.
    nokland, _ = _pair(cfg)
    adversarial_step(nokland, bce_loss, torch.optim.SGD(nokland.parameters(), lr=LR[activation]), x, y, 0.08)
    assert not torch.allclose(model.weights[0], nokland.weights[0], atol=1e-5)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_stacked_random_step_equals_per_seed_random_steps(activation):
    """The random-sign control: seed s draws its signs from its own generator, stacked or not."""
    cfg = MLPConfig(SIZES, activation)
    model, copies = _pair(cfg)
    x, y = _batch()
    opt = torch.optim.SGD(model.parameters(), lr=LR[activation])
    _, losses = random_step(model, bce_loss, opt, x, y, 0.08, _gens(7))
    for s, (copy, g) in enumerate(zip(copies, _gens(7), strict=True)):
        _, j = random_step(copy, bce_loss, torch.optim.SGD(copy.parameters(), lr=LR[activation]), x[s], y[s], 0.08, [g])
        torch.testing.assert_close(losses[s], j)
    _assert_match(model, copies, rtol=1e-5, atol=1e-6)
    # Not the adversarial step: different perturbations, different updates.
    nokland, _ = _pair(cfg)
    adversarial_step(nokland, bce_loss, torch.optim.SGD(nokland.parameters(), lr=LR[activation]), x, y, 0.08)
    assert not torch.allclose(model.weights[0], nokland.weights[0], atol=1e-5)


def test_per_seed_gradients_of_the_summed_loss_are_each_seeds_own():
    """Seeds share no parameter: d(sum_s J_s)/d(theta_s) = dJ_s/d(theta_s), exactly per seed."""
    cfg = MLPConfig(SIZES, "tanh")
    model = StackedMLP(cfg, SEEDS, init_std=0.3)
    x, y = _batch()
    bce_loss(model(x), y).sum().backward()
    for s, copy in enumerate(to_modules(model.state_dict(), cfg)):
        bce_loss(copy(x[s]), y[s]).backward()
        linears = [m for m in copy if isinstance(m, torch.nn.Linear)]
        for W, b, linear in zip(model.weights, model.biases, linears, strict=True):
            torch.testing.assert_close(W.grad[s], linear.weight.grad.T)
            torch.testing.assert_close(b.grad[s, 0], linear.bias.grad)


def test_adversarial_step_differs_from_standard_step():
    cfg = MLPConfig(SIZES, "relu")
    x, y = _batch()
    standard, adversarial = StackedMLP(cfg, SEEDS, 0.3), StackedMLP(cfg, SEEDS, 0.3)
    _, loss0 = adversarial_step(standard, bce_loss, torch.optim.SGD(standard.parameters(), lr=0.3), x, y, 0.0)
    _, loss1 = adversarial_step(adversarial, bce_loss, torch.optim.SGD(adversarial.parameters(), lr=0.3), x, y, 0.08)
    assert (loss1 > loss0).all()  # J at the adversarial input is larger (to first order)
    assert not torch.allclose(standard.weights[0], adversarial.weights[0])


# --- dropout ---------------------------------------------------------------------------------


def test_dropout_masks_are_inverted_per_seed_fresh_and_reproducible():
    drop = SeededDropout(0.2, stacked=True)
    x = torch.ones(2, 50, 400)
    use_generators(drop, [torch.Generator().manual_seed(s) for s in (1, 2)])
    first, second = drop(x), drop(x)
    assert first.unique().tolist() == [0.0, pytest.approx(1 / 0.8)]
    assert abs((first > 0).float().mean().item() - 0.8) < 0.02
    assert not torch.equal(first, second)  # a fresh mask on every pass
    # Seed 2's masks do not depend on seed 1 being stacked with it.
    alone = SeededDropout(0.2)
    use_generators(alone, [torch.Generator().manual_seed(2)])
    assert torch.equal(alone(x[1]), first[1])
    # Eval mode is the identity; training without generators is an error, not global randomness.
    assert torch.equal(drop.eval()(x), x)
    with pytest.raises(RuntimeError, match="generators"):
        SeededDropout(0.5)(x)

"""The hand-written stacked MLP (the fast path) against the reference step on per-seed copies.

The reference is `advgrad.algorithm1.adversarial_step` with `torch.optim.SGD` on plain
`nn.Sequential` copies (itself checked against a written-out autograd step and torchattacks in
tests/test_algorithm1.py). Sizes are tiny to keep it fast.
"""

import pytest
import torch
import torch.nn.functional as F

from advgrad import stacked
from advgrad.algorithm1 import adversarial_step, goodfellow_step
from advgrad.mnist_model import ACTIVATIONS, MLPConfig

SIZES = (20, 16, 16, 10)
SEEDS = (0, 1, 2)
B = 5
LR = {"logistic": 0.5, "tanh": 0.2, "relu": 0.3}  # large, so one step visibly moves the weights


def _bce(logits, y):
    """Reference J: BCE on one-hot targets, summed over units and batch, divided by B."""
    target = F.one_hot(y, logits.shape[-1]).to(logits.dtype)
    return F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / logits.shape[0]


def _batch(seed=7, lo=0.0, hi=1.0):
    g = torch.Generator().manual_seed(seed)
    x = lo + (hi - lo) * torch.rand(len(SEEDS), B, SIZES[0], generator=g)  # (S, B, in)
    y = torch.randint(0, SIZES[-1], (len(SEEDS), B), generator=g)         # (S, B)
    return x, y


class _Masked(torch.nn.Module):
    """A per-seed copy with the given dropout masks on the input of every Linear (its own
    nn.Dropout layers skipped): the thinned net the fast path trains with those masks."""

    def __init__(self, model, masks):
        super().__init__()
        self.model, self.masks = model, masks

    def forward(self, x):
        layer = 0
        for module in self.model:
            if isinstance(module, torch.nn.Dropout):
                continue
            if isinstance(module, torch.nn.Linear):
                if self.masks[layer] is not None:
                    x = x * self.masks[layer]
                layer += 1
            x = module(x)
        return x


def _reference_step(model, x, y, lr, eps, clip, masks, clean_weight=0.0):
    """The reference step (autograd) on the copy, with torch.optim.SGD; the objective's loss:
    Algorithm 1, or Goodfellow et al.'s with `clean_weight` > 0."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    clip = (0.0, 1.0) if clip else None
    if clean_weight:
        _, j = goodfellow_step(_Masked(model, masks), _bce, opt, x, y, eps, clean_weight, clip)
    else:
        _, j = adversarial_step(_Masked(model, masks), _bce, opt, x, y, eps, clip)
    return j


def _assert_params_match(params, models, **tol):
    for s, model in enumerate(models):
        linears = [m for m in model if isinstance(m, torch.nn.Linear)]
        for (W, b), linear in zip(params, linears, strict=True):
            torch.testing.assert_close(W[s], linear.weight.detach().T, **tol)
            torch.testing.assert_close(b[s, 0], linear.bias.detach(), **tol)


# --- configuration and initialisation --------------------------------------------------------

@pytest.mark.parametrize("kwargs, word", [
    (dict(sizes=(784,), activation="relu"), "sizes"),
    (dict(sizes=(784, 0, 10), activation="relu"), "sizes"),
    (dict(sizes=(784, 10), activation="softplus"), "activation"),
    (dict(sizes=(784, 10), activation="relu", dropout_input=1.0), "dropout_input"),
    (dict(sizes=(784, 10), activation="relu", dropout_hidden=-0.1), "dropout_hidden"),
])
def test_config_rejects_invalid_values(kwargs, word):
    with pytest.raises(ValueError, match=word):
        MLPConfig(**kwargs)


def test_init_params_shapes_statistics_and_per_seed_independence():
    cfg = MLPConfig((300, 200, 10), "relu")
    params = stacked.init_params(cfg, (4, 9), init_std=0.01, device="cpu")
    assert [tuple(W.shape) for W, _ in params] == [(2, 300, 200), (2, 200, 10)]
    assert [tuple(b.shape) for _, b in params] == [(2, 1, 200), (2, 1, 10)]
    assert all(b.eq(0).all() for _, b in params)
    W = params[0][0]
    assert abs(W.std().item() - 0.01) < 0.0005 and abs(W.mean().item()) < 0.0005
    assert not torch.equal(W[0], W[1])  # different seeds, different weights
    # Seed 9 gets the same weights whether it is stacked with seed 4 or trained alone.
    alone = stacked.init_params(cfg, (9,), init_std=0.01, device="cpu")
    for (W2, _), (W1, _) in zip(params, alone):
        assert torch.equal(W2[1], W1[0])


# --- forward, loss, evaluation ---------------------------------------------------------------

@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_forward_loss_and_error_rate_match_module_copies(activation):
    cfg = MLPConfig(SIZES, activation)
    params = stacked.init_params(cfg, SEEDS, init_std=0.3, device="cpu")
    x, y = _batch()
    logits = stacked.forward(params, x, activation)
    losses = stacked.loss(logits, y)
    models = stacked.to_modules(params, cfg)
    for s, model in enumerate(models):
        torch.testing.assert_close(logits[s], model(x[s]))
        torch.testing.assert_close(losses[s], _bce(model(x[s]), y[s]))
    # A (B, in) input is shared by all seeds.
    torch.testing.assert_close(stacked.forward(params, x[0], activation)[2], models[2](x[0]))

    # error_rate on a shared split, in chunks that do not divide N.
    g = torch.Generator().manual_seed(3)
    xs, ys = torch.rand(23, SIZES[0], generator=g), torch.randint(0, 10, (23,), generator=g)
    errors = stacked.error_rate(params, xs, ys, activation, chunk=7)
    expected = [(model(xs).argmax(1) != ys).sum().item() / 23 for model in models]
    assert errors.tolist() == pytest.approx(expected, abs=1e-12)
    assert len(set(expected)) > 1 or 0 < expected[0] < 1  # a fixture that can tell seeds apart


# --- the training step -----------------------------------------------------------------------

@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("eps", [0.0, 0.08])
@pytest.mark.parametrize("dropout", [False, True], ids=["plain", "dropout"])
@pytest.mark.parametrize("clip", [False, True], ids=["free", "clip"])
def test_sgd_step_matches_autograd_and_torch_sgd(activation, eps, dropout, clip):
    cfg = MLPConfig(SIZES, activation, *((0.2, 0.5) if dropout else (0.0, 0.0)))
    params = stacked.init_params(cfg, SEEDS, init_std=0.3, device="cpu")
    models = stacked.to_modules(params, cfg)
    x, y = _batch()
    gens = [torch.Generator().manual_seed(100 + s) for s in range(len(SEEDS))]
    masks = stacked.dropout_masks(cfg, B, gens, "cpu")
    assert all(m is None for m in masks) != dropout

    losses = stacked.sgd_step(params, x, y, cfg, LR[activation], eps, clip=clip, masks=masks)
    for s, model in enumerate(models):
        j = _reference_step(model, x[s], y[s], LR[activation], eps, clip,
                            [m if m is None else m[s] for m in masks])
        torch.testing.assert_close(losses[s], j)
    _assert_params_match(params, models, rtol=1e-5, atol=1e-6)
    # The step moved the weights, so the comparison above is not trivially true.
    assert not torch.allclose(params[0][0], stacked.init_params(cfg, SEEDS, 0.3, "cpu")[0][0], atol=1e-4)


def test_eps_zero_is_standard_backprop_and_skips_the_first_pass(monkeypatch):
    cfg = MLPConfig(SIZES, "relu")
    params = stacked.init_params(cfg, SEEDS, init_std=0.3, device="cpu")
    models = stacked.to_modules(params, cfg)
    x, y = _batch()

    def forbidden(*args, **kwargs):
        raise AssertionError("eps = 0 must not run the input-gradient pass")
    monkeypatch.setattr(stacked, "_input_gradient", forbidden)
    stacked.sgd_step(params, x, y, cfg, lr=0.3, eps=0.0)

    for s, model in enumerate(models):
        opt = torch.optim.SGD(model.parameters(), lr=0.3)
        _bce(model(x[s]), y[s]).backward()
        opt.step()
    _assert_params_match(params, models, rtol=1e-5, atol=1e-6)


def test_adversarial_step_differs_from_standard_step():
    cfg = MLPConfig(SIZES, "relu")
    x, y = _batch()
    standard = stacked.init_params(cfg, SEEDS, init_std=0.3, device="cpu")
    adversarial = stacked.init_params(cfg, SEEDS, init_std=0.3, device="cpu")
    loss0 = stacked.sgd_step(standard, x, y, cfg, lr=0.3, eps=0.0)
    loss1 = stacked.sgd_step(adversarial, x, y, cfg, lr=0.3, eps=0.08)
    assert (loss1 > loss0).all()  # J at the adversarial input is larger (to first order)
    assert not torch.allclose(standard[0][0], adversarial[0][0])


# --- dropout masks ---------------------------------------------------------------------------

def test_dropout_masks_are_inverted_per_seed_and_reproducible():
    cfg = MLPConfig((400, 300, 10), "relu", dropout_input=0.2, dropout_hidden=0.5)
    gens = lambda seeds: [torch.Generator().manual_seed(s) for s in seeds]  # noqa: E731
    masks = stacked.dropout_masks(cfg, 50, gens((1, 2)), "cpu")
    assert [tuple(m.shape) for m in masks] == [(2, 50, 400), (2, 50, 300)]
    for m, p in zip(masks, (0.2, 0.5)):
        assert m.unique().tolist() == [0.0, pytest.approx(1 / (1 - p))]
        assert abs((m > 0).float().mean().item() - (1 - p)) < 0.02
    # Seed 2's masks do not depend on seed 1 being stacked with it.
    alone = stacked.dropout_masks(cfg, 50, gens((2,)), "cpu")
    assert all(torch.equal(a[0], m[1]) for a, m in zip(alone, masks))
    # Drawing through sgd_step(generators=...) consumes the generators the same way.
    params = stacked.init_params(cfg, (1, 2), 0.1, "cpu")
    copy = [(W.clone(), b.clone()) for W, b in params]
    x, y = torch.rand(2, 50, 400), torch.randint(0, 10, (2, 50))
    stacked.sgd_step(params, x, y, cfg, 0.1, 0.08, generators=gens((1, 2)))
    stacked.sgd_step(copy, x, y, cfg, 0.1, 0.08, masks=stacked.dropout_masks(cfg, 50, gens((1, 2)), "cpu"))
    assert all(torch.equal(a[0], c[0]) for a, c in zip(params, copy))
    with pytest.raises(ValueError, match="generators"):
        stacked.sgd_step(params, x, y, cfg, 0.1, 0.08)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("dropout", [False, True], ids=["plain", "dropout"])
def test_goodfellow_step_matches_its_autograd_reference(activation, dropout):
    """Goodfellow et al. (2014), eq. 3, a = 0.5: the fast path's one-backward clean pass and its
    weighted update equal autograd on a J(x) + (1 - a) J(z) with the same masks."""
    cfg = MLPConfig(SIZES, activation, *((0.2, 0.5) if dropout else (0.0, 0.0)))
    params = stacked.init_params(cfg, SEEDS, init_std=0.3, device="cpu")
    models = stacked.to_modules(params, cfg)
    x, y = _batch()
    masks = stacked.dropout_masks(cfg, B, [torch.Generator().manual_seed(7 + s) for s in range(len(SEEDS))], "cpu")
    losses = stacked.sgd_step(params, x, y, cfg, LR[activation], 0.08, masks=masks, clean_weight=0.5)
    for s, model in enumerate(models):
        j = _reference_step(model, x[s], y[s], LR[activation], 0.08, False,
                            [m if m is None else m[s] for m in masks], clean_weight=0.5)
        torch.testing.assert_close(losses[s], j)
    _assert_params_match(params, models, rtol=1e-5, atol=1e-6)
    # It is not Algorithm 1: the clean pass moves the weights too.
    nokland = stacked.init_params(cfg, SEEDS, init_std=0.3, device="cpu")
    stacked.sgd_step(nokland, x, y, cfg, LR[activation], 0.08, masks=masks)
    assert not torch.allclose(params[0][0], nokland[0][0], atol=1e-5)

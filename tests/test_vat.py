"""advgrad.core.vat (Miyato et al.'s virtual adversarial training) against independent oracles: a
closed form (a model seeing x only through w·x, whose divergence Hessian is rank one), the exact
Hessian by autograd, and the objective written out on plain per-seed nets with
torch.distributions' KL. Sizes are tiny to keep it fast."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Bernoulli, kl_divergence

from advgrad.core.vat import bernoulli_kl, softmax_kl, unit_per_example, vat_step, virtual_adversarial_direction
from advgrad.mnist.model import MLPConfig, StackedMLP, bce_loss, to_modules, unstack

SEEDS = (0, 1, 2)
S = len(SEEDS)
B = 4
XI = 1e-6  # Miyato et al.'s supervised-MNIST settings (advgrad.core.vat's docstring)
EPS = 2.1


def _gens(base=50, n=S):
    return [torch.Generator().manual_seed(base + s) for s in range(n)]


def _starts(base=50, n=S, shape=(B, 20)):
    """The random starts vat draws, drawn here independently: seed s's N(0, 1) from its own
    generator, in the input's dtype (float32), then widened."""
    return torch.stack([torch.randn(shape, generator=g) for g in _gens(base, n)]).double()


def _near_one(n_in, seed=3):
    """Inputs at or just below 1, where x + 1e-6 d/‖d‖ rounds to x in float32."""
    g = torch.Generator().manual_seed(seed)
    x = 1 - 0.01 * torch.rand(S, B, n_in, generator=g)
    x[..., ::3] = 1.0
    return x


def _stack(sizes, activation="tanh", init_std=0.5):
    return StackedMLP(MLPConfig(sizes, activation), SEEDS, init_std)


# --- the power iteration against closed forms ------------------------------------------------


def test_one_iteration_of_a_rank_one_model_returns_each_seeds_own_w():
    """One sigmoid unit on w_s·x + b_s: D(p(x), p(x + r)) depends on r only through w_s·r, so its
    gradient at r = ξ u is c w_s with c of the sign of w_s·u (D grows with |w_s·r|): the
    direction is exactly sign(w_s·u) w_s/‖w_s‖, per seed and per example. Near x = 1 this needs the
    float64 pass: in float32 the finite difference would vanish or be rounding noise. Seed 2's unit
    is saturated (logit ≈ 40, where 1 - σ(a) rounds to 0 even in float64): bernoulli_kl's gradient
    must still follow the sign of w·u there."""
    n_in = 20
    model = _stack((n_in, 1))
    with torch.no_grad():
        model.biases[0].copy_(torch.tensor([0.3, -1.0, 40.0]).view(3, 1, 1))
    d = virtual_adversarial_direction(model, _near_one(n_in), _gens(), XI, 1, bernoulli_kl)
    w = model.weights[0].detach().double()[..., 0]  # (S, in)
    u = _starts()  # (S, B, in)
    sign = torch.einsum("sbi,si->sb", u, w).sign()
    expected = sign[..., None] * (w / w.norm(dim=-1, keepdim=True))[:, None, :]
    torch.testing.assert_close(d, expected, rtol=0, atol=1e-12)
    assert not torch.allclose(expected[0], expected[1])  # the seeds' directions differ


def test_one_iteration_of_a_plain_rank_one_softmax_model_returns_w():
    """The unstacked path with softmax_kl: logits (w·x, 0), so again only w·r matters."""
    n_in = 20
    lin = nn.Linear(n_in, 2)
    w = torch.linspace(-1, 1, n_in)
    with torch.no_grad():
        lin.weight.copy_(torch.stack([w, torch.zeros(n_in)]))
        lin.bias.copy_(torch.tensor([0.5, 0.0]))
    x = _near_one(n_in)[0]
    d = virtual_adversarial_direction(lin, x, _gens(n=1), XI, 1, softmax_kl)
    u = _starts(n=1)[0]
    expected = (u @ w.double()).sign()[:, None] * (w.double() / w.double().norm())
    torch.testing.assert_close(d, expected, rtol=0, atol=1e-12)


def _exact_hessians(model, x):
    """H[s, b] = ∇²_r D(p_s(x_sb), p_s(x_sb + r)) at r = 0, by autograd on seed s's plain net."""
    nets = [m.double() for m in to_modules(model.state_dict(), model.cfg)]
    return torch.stack(
        [
            torch.stack(
                [
                    torch.autograd.functional.hessian(
                        lambda r, net=net, xb=xb: bernoulli_kl(net(xb).detach(), net(xb + r)), torch.zeros_like(xb)
                    )
                    for xb in x[s].double()
                ]
            )
            for s, net in enumerate(nets)
        ]
    )  # (S, B, in, in)


@pytest.mark.parametrize("iterations", [1, 2])
def test_the_power_iteration_is_the_exact_hessian_applied_to_the_start(iterations):
    """A nonlinear net: `iterations` steps give H^k u/‖H^k u‖ for every seed and example, H the
    exact Hessian (the finite difference is O(ξ) off). Inputs near 1, so a float32 finite
    difference would be far off."""
    sizes = (6, 5, 3)
    model = _stack(sizes, init_std=1.0)
    x = _near_one(sizes[0])
    d = virtual_adversarial_direction(model, x, _gens(), XI, iterations)
    expected = _starts(shape=(B, sizes[0]))
    H = _exact_hessians(model, x)
    for _ in range(iterations):
        expected = torch.einsum("sbij,sbj->sbi", H, expected)
    expected = expected / expected.norm(dim=-1, keepdim=True)
    torch.testing.assert_close(d, expected, rtol=0, atol=1e-5)


# --- normalisation: per example and per seed -------------------------------------------------


class _Recorder(nn.Module):
    """The stacked net, recording every float32 input the step gives it (x, then x + r_vadv)."""

    stacked = True

    def __init__(self, net):
        super().__init__()
        self.net, self.inputs = net, []

    def forward(self, x):
        if x.dtype == torch.float32:
            self.inputs.append(x.detach().clone())
        return self.net(x)


def test_r_vadv_has_norm_eps_for_every_example_and_seed():
    sizes = (20, 16, 10)
    model = _Recorder(_stack(sizes))
    x = torch.rand(S, B, sizes[0], generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 10, (S, B), generator=torch.Generator().manual_seed(2))
    d = virtual_adversarial_direction(model, x, _gens(), XI, 1)
    torch.testing.assert_close(d.norm(dim=-1), torch.ones(S, B, dtype=torch.float64), rtol=0, atol=1e-12)
    vat_step(model, bce_loss, torch.optim.SGD(model.parameters(), lr=0.0), x, y, _gens(), EPS, XI, 1, 1.0)
    clean, perturbed = model.inputs[-2:]
    torch.testing.assert_close(clean, x, rtol=0, atol=0)
    torch.testing.assert_close((perturbed - x).norm(dim=-1), torch.full((S, B), EPS), rtol=1e-5, atol=0)


def test_unit_per_example_keeps_zero_and_tiny_vectors():
    d = torch.zeros(2, 3, 5, dtype=torch.float64)
    d[0, 1] = 1e-200  # its squares underflow; the max-abs scaling keeps it
    d[1, 2, 0] = -3.0
    u = unit_per_example(d, 2)
    expected = torch.zeros_like(d)
    expected[0, 1] = 5**-0.5
    expected[1, 2, 0] = -1.0
    torch.testing.assert_close(u, expected, rtol=0, atol=1e-15)


# --- the step against the objective written out ----------------------------------------------


def _written_out(net, x, y, u, eps, xi, iterations, weight, lr):
    """Seed s's step on a plain nn.Sequential: the power iteration on a float64 copy of the net,
    D by torch.distributions' Bernoulli KL, J written as sigmoid cross-entropy on one-hot targets,
    then torch.optim.SGD. Returns the objective."""
    net64, x64, d = copy.deepcopy(net).double(), x.double(), u
    p = net64(x64).detach()
    for _ in range(iterations):
        r = (xi * d / d.norm(dim=-1, keepdim=True)).requires_grad_()
        kl = kl_divergence(Bernoulli(logits=p), Bernoulli(logits=net64(x64 + r))).sum()
        (d,) = torch.autograd.grad(kl, [r])
    r_vadv = (eps * d / d.norm(dim=-1, keepdim=True)).float()
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    opt.zero_grad()
    logits = net(x)
    j = F.binary_cross_entropy_with_logits(logits, F.one_hot(y, 10).float(), reduction="sum") / len(x)
    lds = kl_divergence(Bernoulli(logits=logits.detach()), Bernoulli(logits=net(x + r_vadv))).sum(-1).mean()
    objective = j + weight * lds
    objective.backward()
    opt.step()
    return objective.detach()


@pytest.mark.parametrize("activation, iterations, weight", [("tanh", 1, 1.0), ("logistic", 2, 0.5), ("relu", 1, 3.0)])
def test_the_stacked_step_is_the_objective_written_out_per_seed(activation, iterations, weight):
    sizes, lr = (20, 16, 10), 0.5
    model = _stack(sizes, activation, init_std=0.3)
    nets = to_modules(model.state_dict(), model.cfg)
    before = [copy.deepcopy(n) for n in nets]
    g = torch.Generator().manual_seed(9)
    x = torch.rand(S, B, sizes[0], generator=g)
    y = torch.randint(0, 10, (S, B), generator=g)
    _, loss = vat_step(
        model, bce_loss, torch.optim.SGD(model.parameters(), lr=lr), x, y, _gens(), EPS, XI, iterations, weight
    )
    u = _starts()
    expected = torch.stack([_written_out(nets[s], x[s], y[s], u[s], EPS, XI, iterations, weight, lr) for s in range(S)])
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)
    for sd, net, old in zip(unstack(model.state_dict(), model.cfg), nets, before, strict=True):
        for name, t in net.state_dict().items():
            torch.testing.assert_close(sd[name], t, rtol=1e-5, atol=1e-6)
            assert (t - old.state_dict()[name]).abs().max() > 1e-3 or name.endswith("bias")  # it moved


def test_the_regulariser_changes_the_update():
    """weight > 0 moves the weights differently from J alone by far more than the tolerances above."""
    sizes = (20, 16, 10)
    x = torch.rand(S, B, sizes[0], generator=torch.Generator().manual_seed(9))
    y = torch.randint(0, 10, (S, B), generator=torch.Generator().manual_seed(10))
    updated = []
    for weight in (0.0, 1.0):
        model = _stack(sizes, init_std=0.3)
        vat_step(model, bce_loss, torch.optim.SGD(model.parameters(), lr=0.5), x, y, _gens(), EPS, XI, 1, weight)
        updated.append(model.weights[0].detach().clone())
    assert (updated[0] - updated[1]).abs().max() > 1e-3


def _plain_bce(logits, labels):
    return F.binary_cross_entropy_with_logits(logits, F.one_hot(labels, 10).float(), reduction="sum") / len(labels)


def test_the_plain_step_is_the_objective_written_out():
    """The unstacked path (one net, generators[0]) on the same written-out objective."""
    sizes, lr = (20, 16, 10), 0.5
    net = to_modules(_stack(sizes, init_std=0.3).state_dict(), MLPConfig(sizes, "tanh"))[1].train()
    theirs = copy.deepcopy(net)
    g = torch.Generator().manual_seed(9)
    x, y = torch.rand(B, sizes[0], generator=g), torch.randint(0, 10, (B,), generator=g)
    _, loss = vat_step(net, _plain_bce, torch.optim.SGD(net.parameters(), lr=lr), x, y, _gens(7, 1), EPS, XI, 1, 1.0)
    expected = _written_out(theirs, x, y, _starts(7, 1)[0], EPS, XI, 1, 1.0, lr)
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)
    for a, b in zip(net.parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


# --- randomness: each seed's own generator ---------------------------------------------------


def _one_step(gen_base, global_seed):
    torch.manual_seed(global_seed)  # must not matter: the start comes from the given generators
    model = _stack((20, 16, 10))
    x = torch.rand(S, B, 20, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 10, (S, B), generator=torch.Generator().manual_seed(2))
    vat_step(model, bce_loss, torch.optim.SGD(model.parameters(), lr=0.5), x, y, _gens(gen_base), EPS, XI, 1, 1.0)
    return [p.detach().clone() for p in model.parameters()]


def test_same_generators_same_update_other_generators_other_update():
    a, b, c = _one_step(50, 0), _one_step(50, 123), _one_step(60, 0)
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))
    assert not torch.equal(a[0], c[0])


def test_each_seed_draws_its_own_start_independently_of_its_neighbours():
    """Seeds with identical weights and inputs still get different starts (iterations = 0 returns
    the start), and seed s's start is the same whether or not other seeds are stacked beside it."""
    cfg = MLPConfig((20, 16, 10), "tanh")
    model = StackedMLP(cfg, (0, 0), 0.5)  # two copies of one net
    x = torch.rand(1, B, 20, generator=torch.Generator().manual_seed(1)).expand(2, B, 20)
    starts = virtual_adversarial_direction(model, x, _gens(50, 2), XI, 0)
    assert not torch.allclose(starts[0], starts[1])
    d = virtual_adversarial_direction(model, x, _gens(50, 2), XI, 1)
    assert not torch.allclose(d[0], d[1])
    alone = virtual_adversarial_direction(StackedMLP(cfg, (0,), 0.5), x[:1], _gens(51, 1), XI, 1)
    torch.testing.assert_close(alone[0], d[1], rtol=0, atol=1e-12)


# --- refusals ---------------------------------------------------------------------------------


def test_refuses_active_dropout_and_bad_settings():
    x = torch.rand(S, B, 20)
    with pytest.raises(ValueError, match="dropout"):
        virtual_adversarial_direction(
            StackedMLP(MLPConfig((20, 10), "tanh", dropout_input=0.2), SEEDS, 0.5), x, _gens(), XI, 1
        )
    with pytest.raises(ValueError, match="iterations"):
        virtual_adversarial_direction(_stack((20, 10)), x, _gens(), XI, -1)
    with pytest.raises(ValueError, match="S = 3"):
        virtual_adversarial_direction(_stack((20, 10)), x[0], _gens(), XI, 1)

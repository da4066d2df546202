"""The reference step, advgrad.core.algorithm1.adversarial_step, against independent oracles: the
five steps written out with autograd here, torchattacks' FGSM, and a closed form."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
import torchattacks
from torch import nn

from advgrad.core.algorithm1 import adversarial_step, goodfellow_step, random_step


def _net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(12, 9), nn.Tanh(), nn.Linear(9, 4))


def _batch(seed=1, n=6):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 12, generator=g), torch.randint(0, 4, (n,), generator=g)


def _written_out(model, x, y, eps, lr, clip=None):
    """Algorithm 1 by hand: steps 1-2 by autograd on a copy of x, step 3 as printed, steps 4-5
    with torch.optim.SGD."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    v = x.clone().requires_grad_()
    F.cross_entropy(model(v), y).backward()  # steps 1-2
    z = x + eps * v.grad.sign()  # step 3
    if clip is not None:
        z = z.clamp(*clip)
    opt.zero_grad()
    loss = F.cross_entropy(model(z), y)  # step 4
    loss.backward()
    opt.step()  # step 5
    return z, loss.detach()


@pytest.mark.parametrize("eps, clip", [(0.0, None), (0.1, None), (0.3, (0.0, 1.0))])
def test_the_reference_step_is_algorithm_1_written_out(eps, clip):
    x, y = _batch()
    ours, theirs = _net(), _net()
    _, loss = adversarial_step(ours, F.cross_entropy, torch.optim.SGD(ours.parameters(), lr=0.5), x, y, eps, clip)
    _, expected = _written_out(theirs, x, y, eps, 0.5, clip)
    torch.testing.assert_close(loss, expected)
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-7)
    assert not torch.equal(next(ours.parameters()), next(_net().parameters()))  # it moved


def test_the_perturbation_is_torchattacks_fgsm_and_the_update_uses_it():
    """With lr = 0 the weights stay put, so the step's forward pass shows which input it used:
    exactly torchattacks' FGSM examples (unclipped inputs in (0.3, 0.7) so its clamp to [0, 1]
    changes nothing)."""
    x = 0.3 + 0.4 * _batch()[0]
    y = _batch()[1]
    model = _net()
    seen = []
    model.register_forward_hook(lambda m, inputs, out: seen.append(inputs[0].detach().clone()))
    eps = 0.25
    expected = torchattacks.FGSM(copy.deepcopy(model), eps=eps)(x, y)
    seen.clear()
    adversarial_step(model, F.cross_entropy, torch.optim.SGD(model.parameters(), lr=0.0), x, y, eps)
    assert len(seen) == 2  # step 1 on x, step 4 on z
    torch.testing.assert_close(seen[0], x)
    torch.testing.assert_close(seen[1], expected, rtol=0, atol=1e-6)


def test_a_linear_model_moves_each_input_by_eps_against_its_class():
    """Closed form: logits (w.x, -w.x), label 0, J = cross-entropy: dJ/dx = -2 p1 w, whose sign is
    -sign(w), so z = x - eps sign(w); a pixel with w = 0 stays put (sign(0) = 0)."""
    lin = nn.Linear(4, 2, bias=False)
    w = torch.tensor([1.0, -2.0, 0.0, 0.5])
    with torch.no_grad():
        lin.weight.copy_(torch.stack([w, -w]))
    x, y = torch.full((1, 4), 0.5), torch.tensor([0])
    seen = []
    lin.register_forward_hook(lambda m, inputs, out: seen.append(inputs[0].detach().clone()))
    adversarial_step(lin, F.cross_entropy, torch.optim.SGD(lin.parameters(), lr=0.0), x, y, eps=0.1)
    torch.testing.assert_close(seen[1], torch.tensor([[0.4, 0.6, 0.5, 0.4]]))


def test_eps_zero_runs_no_input_gradient_pass():
    model = _net()
    calls = []
    model.register_forward_hook(lambda *a: calls.append(1))
    x, y = _batch()
    adversarial_step(model, F.cross_entropy, torch.optim.SGD(model.parameters(), lr=0.1), x, y, eps=0.0)
    assert len(calls) == 1  # standard back-propagation: one forward pass


def test_goodfellow_step_is_eq_3_written_out():
    """J~ = a J(x) + (1 - a) J(x + eps sign(grad_x J(x))), the perturbation held constant."""
    x, y = _batch()
    ours, theirs = _net(), _net()
    _, loss = goodfellow_step(ours, F.cross_entropy, torch.optim.SGD(ours.parameters(), lr=0.5), x, y, 0.1, 0.5)
    opt = torch.optim.SGD(theirs.parameters(), lr=0.5)
    v = x.clone().requires_grad_()
    F.cross_entropy(theirs(v), y).backward()
    z = (x + 0.1 * v.grad.sign()).detach()
    opt.zero_grad()
    expected = 0.5 * F.cross_entropy(theirs(x), y) + 0.5 * F.cross_entropy(theirs(z), y)
    expected.backward()
    opt.step()
    torch.testing.assert_close(loss, expected.detach())
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-7)


# --- the random-sign control ------------------------------------------------------------------


class _Recorder(nn.Module):
    """The net, recording every input it is given (the perturbed z of a step)."""

    def __init__(self, net):
        super().__init__()
        self.net, self.inputs = net, []

    def forward(self, x):
        self.inputs.append(x.detach().clone())
        return self.net(x)


def _grid_batch(n=6):
    # multiples of 1/64 in [0.25, 0.75]: x +- 0.125 is exact in float32, so z - x is exactly +-eps
    g = torch.Generator().manual_seed(3)
    return torch.randint(16, 49, (n, 12), generator=g).float() / 64, torch.randint(0, 4, (n,), generator=g)


def test_random_step_moves_every_element_by_exactly_eps_in_a_fresh_random_direction():
    x, y = _grid_batch()
    model = _Recorder(_net())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    gen = [torch.Generator().manual_seed(5)]
    random_step(model, F.cross_entropy, opt, x, y, 0.125, gen)
    random_step(model, F.cross_entropy, opt, x, y, 0.125, gen)
    first, second = model.inputs  # no first pass: one forward per step
    assert (first - x).abs().eq(0.125).all() and (second - x).abs().eq(0.125).all()
    assert not torch.equal(first, second)  # drawn afresh at every step
    # Not FGSM's direction: about half of the signs disagree with the input gradient's.
    v = x.clone().requires_grad_()
    F.cross_entropy(model.net(v), y).backward()
    agree = ((first - x).sign() == v.grad.sign()).float().mean().item()
    assert 0.25 < agree < 0.75
    # The update is the standard step on z: the same as back-propagation on the recorded input.
    ref = _net()
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    adversarial_step(ref, F.cross_entropy, ref_opt, first, y, 0.0)
    fresh = _Recorder(_net())
    random_step(
        fresh,
        F.cross_entropy,
        torch.optim.SGD(fresh.parameters(), lr=0.1),
        x,
        y,
        0.125,
        [torch.Generator().manual_seed(5)],
    )
    for a, b in zip(fresh.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(a, b)

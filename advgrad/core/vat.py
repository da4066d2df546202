"""Virtual adversarial training (VAT), Miyato et al. (2015, "Distributional Smoothing with Virtual
Adversarial Training", arXiv:1507.00677): a comparison method beside Algorithm 1, under the same
protocol (plain SGD, the MNIST nets of Table 2).

The objective of one mini-batch is

    J(θ, x, y) + λ LDS(x),   LDS(x) = D(p(·|x, θ̂), p(·|x + r_vadv, θ)),

p(·|x, θ̂) the current prediction held constant, and r_vadv = ε d, d the direction that makes
D grow fastest around x: the dominant eigenvector of the Hessian H of r -> D(p(x), p(x + r))
at r = 0 (D and its gradient vanish there), found by power iteration with a finite difference,

    d ~ N(0, I);  repeat `iterations` times:  g = ∇_r D(p(x), p(x + r)) at r = ξ d/‖d‖;  d = g

(g ≈ ξ H d/‖d‖), then d = g/‖g‖. Every norm is per example over its input (all non-batch axes)
and, for a stacked model (`advgrad.mnist.model.StackedMLP`), per seed: each seed has its own
predictive distribution, hence its own H and its own direction. The examples of a batch share
nothing (no batch normalisation here), so the gradient of the sum of all D's is every example's
own gradient.

Settings of Miyato et al.'s released Theano code for supervised MNIST (takerum/vat:
README.md runs `train_mnist_sup.py --cost_type=VAT_finite_diff --epsilon=2.1`; the defaults of
source/theano/costs/virtual_adversarial_training_finite_diff.py are xi = 1e-6, num_power_iter = 1,
lamb = 1.0, norm_constraint = 'L2'): ε = 2.1, ξ = 1e-6, one iteration, λ = 1. There the KL is
over a softmax; the divergence of this project's sigmoid outputs is `bernoulli_kl` (below).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.func import functional_call

from advgrad.core.dropout import SeededDropout, per_seed

# (logits, labels) -> J: a scalar, or one J per seed (S,) for a stacked model
Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
# (held-constant logits, logits) -> D per example: (..., B), summed over the output units
Divergence = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def bernoulli_kl(target: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """D for sigmoid outputs: sum over the output units of KL(Ber(σ(a)) || Ber(σ(b))), a = `target`
    (held constant), b = `logits`; shape (..., B, K) -> (..., B).

    Why this D: the MNIST nets (advgrad.mnist.model) are trained on binary cross-entropy over 10
    independent sigmoid units, i.e. their likelihood is a product of 10 Bernoullis, and the KL of
    two such products is the sum of the units' KLs. So LDS smooths the very distribution J fits,
    as Miyato et al.'s KL between softmaxes does for their softmax nets; a softmax of these logits
    would be a distribution the net is never trained to output.

    Written with log σ and σ(-a) rather than 1 - σ(a) so that its gradient in b,
    σ(-a) σ(b) - σ(a) σ(-b), keeps its relative precision for saturated units, which the ξ = 1e-6
    finite difference needs."""
    p, q = torch.sigmoid(target), torch.sigmoid(-target)
    ls = nn.functional.logsigmoid
    kl = p * (ls(target) - ls(logits)) + q * (ls(-target) - ls(-logits))
    return kl.sum(-1)


def softmax_kl(target: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """D for softmax outputs (Miyato et al.'s): KL(softmax(target) || softmax(logits)); (..., B, K)
    -> (..., B). For a net trained with `F.cross_entropy` (the CIFAR-10 nets)."""
    log_p = torch.log_softmax(target, -1)
    return (log_p.exp() * (log_p - torch.log_softmax(logits, -1))).sum(-1)


def unit_per_example(d: torch.Tensor, batch_dims: int) -> torch.Tensor:
    """d / ‖d‖₂, the norm taken separately for every index of the leading `batch_dims` axes
    ((B,) or (S, B)) over all the others (the input). Scaled by its largest |element| first, as
    Miyato et al.'s get_normalized_vector does, so that the squares neither underflow nor
    overflow. A d that is exactly 0 (no curvature seen at all) stays 0: no direction to take."""
    flat = d.flatten(batch_dims)
    flat = flat / flat.abs().amax(-1, keepdim=True).clamp_min(torch.finfo(d.dtype).tiny)
    norm = flat.norm(dim=-1, keepdim=True)
    return torch.where(norm > 0, flat / norm, torch.zeros_like(flat)).reshape(d.shape)


def _check_no_dropout(model: nn.Module) -> None:
    # Each forward pass draws fresh dropout masks (advgrad.core.dropout), so p(x) and p(x + ξd)
    # would differ by the masks, not by ξd, and the finite difference would measure noise.
    if model.training and any(isinstance(m, SeededDropout) and m.p > 0 for m in model.modules()):
        raise ValueError("vat: the power iteration needs a deterministic forward pass; the model has active dropout")


def virtual_adversarial_direction(
    model: nn.Module,
    x: torch.Tensor,
    generators: list[torch.Generator],
    xi: float,
    iterations: int,
    divergence: Divergence = bernoulli_kl,
) -> torch.Tensor:
    """The unit direction d of r_vadv = ε d (the module docstring), in float64, shape of x.

    Stacked model (`model.stacked`): x is (S, B, ...), seed s's random start is drawn from
    `generators[s]` and d is a unit vector for every (seed, example); otherwise x is (B, ...),
    drawn from `generators[0]`, one unit vector per example. `iterations` = 0 gives the random
    start itself (Miyato et al.'s random perturbation training, RPT).

    In float64: ξ = 1e-6 spread over 784 pixels moves each by ~4e-8, less than half the spacing
    of float32 numbers at 1 (1.2e-7), so x + ξd would round back to x at pixels near 1; and the
    outputs change by ~1e-6 relative, within a factor 10 of float32's rounding, so the difference
    would be mostly rounding. In float64 (rounding ~1e-16) the finite difference is off from H d
    by O(ξ) relative. The model's parameters are used through float64 copies
    (`torch.func.functional_call`), so neither the module nor its gradients change.
    """
    if iterations < 0:
        raise ValueError(f"vat: iterations = {iterations!r}: need an integer >= 0")
    _check_no_dropout(model)
    stacked = getattr(model, "stacked", False)
    if stacked and (x.dim() < 3 or x.shape[0] != len(generators)):
        raise ValueError(
            f"vat: a stacked model needs x (S, B, ...) with S = {len(generators)} seeds, got {tuple(x.shape)}"
        )
    batch_dims = 2 if stacked else 1
    d = per_seed(torch.randn, x, generators, stacked).double()
    if iterations == 0:
        return unit_per_example(d, batch_dims)
    state = {
        name: t.detach().double() if t.is_floating_point() else t
        for name, t in (*model.named_parameters(), *model.named_buffers())
    }
    x64 = x.detach().double()
    with torch.enable_grad():
        target = functional_call(model, state, (x64,)).detach()  # p(·|x), held constant
        for _ in range(iterations):
            r = (xi * unit_per_example(d, batch_dims)).requires_grad_(True)
            div = divergence(target, functional_call(model, state, (x64 + r,)))
            (d,) = torch.autograd.grad(div.sum(), [r])  # every (seed, example) its own gradient
    return unit_per_example(d, batch_dims)


def vat_step(
    model: nn.Module,
    loss_fn: Loss,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    generators: list[torch.Generator],
    eps: float,
    xi: float,
    iterations: int,
    weight: float,
    divergence: Divergence = bernoulli_kl,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One update on J(x) + `weight` LDS(x), ‖r_vadv‖₂ = `eps` per example (and seed), LDS
    averaged over the batch as J is (`advgrad.mnist.model.bce_loss`); one objective per seed for a
    stacked model, their sum back-propagated as in `advgrad.core.algorithm1`.

    x + r_vadv is not clipped to the input range (Miyato et al. do not; clipping would also
    shorten r_vadv). Returns the logits of the clean pass (the predictions J, the supervised term,
    is computed from) and the objective, detached.
    """
    if not eps >= 0 or not xi > 0 or not weight >= 0:
        raise ValueError(f"vat_step: need eps >= 0, xi > 0, weight >= 0; got eps={eps!r}, xi={xi!r}, weight={weight!r}")
    r_vadv = eps * virtual_adversarial_direction(model, x, generators, xi, iterations, divergence)
    logits = model(x)
    lds = divergence(logits.detach(), model(x + r_vadv.to(x.dtype))).mean(-1)  # (S,) or scalar
    objective = loss_fn(logits, y) + weight * lds
    optimizer.zero_grad(set_to_none=True)
    objective.sum().backward()
    optimizer.step()
    return logits.detach(), objective.detach()

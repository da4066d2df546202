"""Adversarial back-propagation: Algorithm 1 of Nøkland (2015), in plain autograd. Read this first.

The paper (section 2) trains on F(θ, x, y) = J(θ, x + µ, y) with µ = ε sign(∇x J(θ, x, y))
(eqs. 1-2), one mini-batch at a time:

    1. Propagate the input x forward to the output layer as in standard back-propagation.
    2. Calculate the error and back-propagate the gradient all the way to the input layer.
    3. Calculate the perturbed input z = x + ε sign(e), where e is the gradient of step 2.
    4. Perform forward and backward pass as in standard back-propagation, but use z instead of x.
    5. Update weights and biases based on gradients from step 4.

`adversarial_step` is exactly that, for any `nn.Module` and loss; with ε = 0 it is one step of
standard back-propagation. Both trainers run it as it is: CIFAR-10 on one net, MNIST on all
seeds of a configuration at once (`advgrad.mnist.model.StackedMLP`, whose loss is one J per
seed; their sum is back-propagated, which trains each seed on its own gradient since the seeds
share no parameter).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from advgrad.core.adversarial import fgsm, input_gradient
from advgrad.core.dropout import per_seed

# (logits, labels) -> J: a scalar, or one J per seed (S,) for a stacked model
Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def adversarial_step(
    model: nn.Module,
    loss_fn: Loss,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    clip: tuple[float, float] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One update of Algorithm 1 on the mini-batch (x, y); returns the logits and the loss of
    step 4 (the pass the update is computed from), detached.

    `clip` optionally clips z to an input range (the author's code does not). sign(0) = 0.
    """
    if eps > 0:
        # Steps 1-2: forward x, back-propagate J to the input only (no weight gradients).
        e = input_gradient(lambda v: loss_fn(model(v), y).sum(), x)
        # Step 3: z = x + eps * sign(e).
        z = fgsm(x, e, eps, clip)
    else:
        z = x  # eps = 0: standard back-propagation
    # Step 4: the standard forward and backward pass, on z.
    logits = model(z)
    loss = loss_fn(logits, y)
    optimizer.zero_grad(set_to_none=True)
    loss.sum().backward()
    # Step 5: update weights and biases with the gradients of step 4.
    optimizer.step()
    return logits.detach(), loss.detach()


def goodfellow_step(
    model: nn.Module,
    loss_fn: Loss,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    clean_weight: float = 0.5,
    clip: tuple[float, float] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """For comparison under the same protocol: one update of Goodfellow, Shlens and Szegedy
    (2014), eq. 3: J~ = a J(x) + (1 - a) J(x + eps sign(grad_x J(x))), a = `clean_weight` (0.5
    there), the perturbation held constant. Unlike Algorithm 1 the clean pass is trained on too,
    so its one backward pass gives both the weight gradients of a J(x) and the input gradient
    (whose sign is that of grad_x J(x), a > 0). Returns the logits on the perturbed input and
    J~, detached."""
    if not 0 < clean_weight < 1:
        raise ValueError(f"goodfellow_step: clean_weight = {clean_weight!r}: need a number in (0, 1)")
    x = x.detach().requires_grad_(True)
    optimizer.zero_grad(set_to_none=True)
    clean = loss_fn(model(x), y)
    (clean_weight * clean).sum().backward()  # weight gradients of a J(x), and x.grad
    z = fgsm(x.detach(), x.grad, eps, clip)
    logits = model(z)
    perturbed = loss_fn(logits, y)
    ((1 - clean_weight) * perturbed).sum().backward()  # accumulates onto a J(x)'s gradients
    optimizer.step()
    return logits.detach(), (clean_weight * clean + (1 - clean_weight) * perturbed).detach()


def random_sign(x: torch.Tensor, generators: list[torch.Generator], stacked: bool) -> torch.Tensor:
    """sign(u), u ~ N(0, 1) for every element of x: +1 or -1 (u = 0 has probability 0), drawn
    seed by seed (`advgrad.core.dropout.per_seed`): stacked, slice s of x from `generators[s]`."""
    return per_seed(torch.randn, x, generators, stacked).sign()


def random_step(
    model: nn.Module,
    loss_fn: Loss,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    generators: list[torch.Generator],
    clip: tuple[float, float] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The control for the paper's claim that the *adversarial* direction regularises (beyond
    the paper): Algorithm 1 with step 2's gradient sign replaced by a random sign, z = x + eps
    sign(u), u ~ N(0, 1) drawn afresh for every element at every step. The perturbation has
    FGSM's L-infinity size (eps in every element) and no first pass. Returns what
    `adversarial_step` returns."""
    z = fgsm(x, random_sign(x, generators, getattr(model, "stacked", False)), eps, clip)
    return adversarial_step(model, loss_fn, optimizer, z, y, 0.0)

"""The fast gradient sign perturbation, shared by training (Algorithm 1) and evaluation.

Paper, eq. (2): mu = eps * sign(grad_x J(theta, x, y)); the adversarial objective is
J(theta, x + mu, y) (eq. 1). torch.sign(0) == 0, as in the author's Torch code, so an input
pixel whose gradient is exactly zero is left alone.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def fgsm(x: torch.Tensor, grad_x: torch.Tensor, eps: float, clip: tuple[float, float] | None = None) -> torch.Tensor:
    """z = x + eps * sign(grad_x), optionally clipped to the input range `clip`.

    The author's code (anokland/dfa-torch) does not clip; clipping is a param (mnist.clip, attack.clip).
    """
    z = x + eps * torch.sign(grad_x)
    return z if clip is None else z.clamp(*clip)


def input_gradient(loss_fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Gradient of the scalar loss_fn(x) with respect to x only.

    `torch.autograd.grad(..., inputs=[x])` runs only the backward nodes on the path to x and
    asks each of them for the input gradient alone, so no weight gradient is computed or
    accumulated into `.grad` (Algorithm 1, step 2, needs only the input-layer gradient).
    """
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(loss_fn(x), [x])
    return grad


def fgsm_autograd(
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    eps: float,
    clip: tuple[float, float] | None = None,
) -> torch.Tensor:
    """FGSM for any differentiable model: the perturbed input, detached from the graph."""
    if eps == 0:
        return x.detach()
    return fgsm(x.detach(), input_gradient(loss_fn, x), eps, clip).detach()

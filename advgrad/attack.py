"""FGSM evaluation (paper section 3): transfer attacks between models, and white-box sweeps.

Attacks run on plain per-seed `nn.Sequential` models with autograd, so they are independent of
the hand-written backward pass used in training: a bug in one is not repeated in the other.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from advgrad.adversarial import fgsm_autograd

__all__ = ["mnist_objective", "fgsm_examples", "error_pct", "transfer_errors", "whitebox_errors"]


def mnist_objective(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The MNIST training objective J: logistic outputs, binary cross-entropy on one-hot
    targets summed over the output units, averaged over the batch (paper section 3)."""
    target = F.one_hot(y, logits.shape[-1]).to(logits.dtype)  # (B, 10)
    return F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / logits.shape[0]


def fgsm_examples(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                  clip: tuple[float, float] | None = None, objective=mnist_objective,
                  chunk: int = 2000) -> torch.Tensor:
    """x + eps * sign(grad_x J(model(x), y)) for every row of x, in chunks.

    The gradient is taken per chunk; since each sample's loss term depends only on its own
    input, and sign() ignores the positive 1/B factor, chunking does not change the result.
    """
    model.eval()
    out = [fgsm_autograd(lambda xb, yb=yb: objective(model(xb), yb), xb, eps, clip)
           for xb, yb in zip(x.split(chunk), y.split(chunk))]
    return torch.cat(out)  # (N, 784)


@torch.no_grad()
def error_pct(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 10000) -> float:
    """Classification error of `model` on (x, y), in percent."""
    model.eval()
    wrong = sum(int((model(xb).argmax(-1) != yb).sum()) for xb, yb in zip(x.split(chunk), y.split(chunk)))
    return 100.0 * wrong / len(y)


def transfer_errors(sources: Sequence[nn.Module], targets: Sequence[nn.Module], x: torch.Tensor,
                    y: torch.Tensor, eps: float, clip=None, offset: int = 0) -> list[float]:
    """Error (%) of target `(i + offset) % T` on FGSM examples made with source i.

    With sources and targets drawn from the same list of seeds, `offset=1` pairs every model
    with another one, so a model is never attacked with its own gradients (the paper's
    protocol: "another 2x400 ReLU model").
    """
    errors = []
    for i, source in enumerate(sources):
        x_adv = fgsm_examples(source, x, y, eps, clip)
        errors.append(error_pct(targets[(i + offset) % len(targets)], x_adv, y))
    return errors


def whitebox_errors(models: Sequence[nn.Module], x: torch.Tensor, y: torch.Tensor,
                    eps_grid: Sequence[float], clip=None) -> list[dict]:
    """Error (%) of each model on FGSM examples made with its own gradients, per eps."""
    rows = []
    for seed_index, model in enumerate(models):
        for eps in eps_grid:
            x_adv = fgsm_examples(model, x, y, eps, clip) if eps > 0 else x
            rows.append({"seed_index": seed_index, "eps": float(eps),
                         "error_pct": error_pct(model, x_adv, y)})
    return rows

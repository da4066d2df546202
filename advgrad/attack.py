"""FGSM evaluation (paper section 3): transfer attacks between models, and white-box sweeps.

Attacks run on plain per-seed `nn.Sequential` models with autograd, so they are independent of
the hand-written backward pass used in training: a bug in one is not repeated in the other.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from advgrad.adversarial import fgsm_autograd

__all__ = ["mnist_objective", "fgsm_examples", "error_pct", "transfer_pairs", "transfer_errors",
           "whitebox_errors"]


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


def transfer_pairs(seeds: Sequence[int]) -> list[tuple[int, int]]:
    """(source seed, target seed) of the transfer experiment (paper section 3).

    Source seed i attacks the backprop AND the adversarial target of seed i+1 (cyclically), so
    the two targets differ only in their training method and neither shares the source's
    initial weights or mini-batch order ("another 2x400 ReLU model"). One seed gives no pair.
    """
    seeds = list(seeds)
    if len(seeds) < 2:
        return []
    return [(s, seeds[(i + 1) % len(seeds)]) for i, s in enumerate(seeds)]


def transfer_errors(sources: Mapping[int, nn.Module], targets: Mapping[str, Mapping[int, nn.Module]],
                    x: torch.Tensor, y: torch.Tensor, eps: float, clip=None,
                    objective=mnist_objective) -> dict[str, list[float]]:
    """Error (%) of each target family on FGSM examples made with each source, per pair.

    `sources` maps seed -> model; `targets` maps a name ("backprop", "adversarial") to
    seed -> model. The examples of source seed s are made once and classified by every
    family's model of the paired seed (`transfer_pairs`). Returns {name: [error per pair]}.
    """
    errors: dict[str, list[float]] = {name: [] for name in targets}
    for source_seed, target_seed in transfer_pairs(sorted(sources)):
        x_adv = fgsm_examples(sources[source_seed], x, y, eps, clip, objective)
        for name, family in targets.items():
            errors[name].append(error_pct(family[target_seed], x_adv, y))
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

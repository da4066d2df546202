"""FGSM evaluation (paper section 3): the transfer experiment, and white-box sweeps.

Attacks run on plain per-seed modules (`advgrad.mnist_model.build_mlp`) with autograd, so they
are independent of the hand-written backward pass of the training fast path: a bug in one is
not repeated in the other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from advgrad.adversarial import fgsm_autograd
from advgrad.evaluation import misclassified
from advgrad.mnist_model import bce_loss
from advgrad.stats import mean_std

__all__ = ["fgsm_examples", "error_pct", "transfer_pairs", "transfer_errors", "transfer_experiment",
           "whitebox_errors", "NOT_RUN_ONE_SEED"]

NOT_RUN_ONE_SEED = ("needs at least 2 seeds: the source model must not share its seed (initial "
                    "weights, mini-batch order) with a target")


def fgsm_examples(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                  clip: tuple[float, float] | None = None, objective=bce_loss,
                  chunk: int = 2000) -> torch.Tensor:
    """x + eps * sign(grad_x J(model(x), y)) for every row of x, in chunks.

    The gradient is taken per chunk; since each sample's loss term depends only on its own
    input, and sign() ignores the positive 1/B factor, chunking does not change the result.
    """
    model.eval()
    out = [fgsm_autograd(lambda xb, yb=yb: objective(model(xb), yb), xb, eps, clip)
           for xb, yb in zip(x.split(chunk), y.split(chunk), strict=True)]
    return torch.cat(out)  # (N, 784)


def error_pct(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Classification error of `model` on (x, y), in percent."""
    return 100.0 * misclassified(model, x, y) / len(y)


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
                    objective=bce_loss) -> dict[str, list[float]]:
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


def transfer_experiment(backprop: Mapping[int, nn.Module], adversarial: Mapping[int, nn.Module],
                        x: torch.Tensor, y: torch.Tensor, eps_list: Sequence[float], clip=None,
                        eps_unit: float = 1.0) -> dict:
    """Section 3's experiment: {eps: {backprop_pct, backprop_std_pct, adversarial_pct,
    adversarial_std_pct, n_pairs, pairs}}, the backprop nets being both the sources and the
    backprop targets. With one seed there is no pair: the row says why instead.

    x are pixels; each eps counts in units of `eps_unit` pixels (1: pixels; the input std for
    nets that standardize their inputs, so that eps counts in standard deviations: with a
    scalar std, FGSM of eps * std on the pixels is FGSM of eps on the standardized input)."""
    if sorted(backprop) != sorted(adversarial):
        raise ValueError(f"attack: the backprop and adversarial fit nets have different seeds "
                         f"({sorted(backprop)} vs {sorted(adversarial)})")
    pairs = transfer_pairs(sorted(backprop))
    results = {}
    for eps in eps_list:
        row = {"n_pairs": len(pairs), "pairs": [list(p) for p in pairs]}
        if not pairs:
            row["not_run"] = NOT_RUN_ONE_SEED
        else:
            errors = transfer_errors(backprop, {"backprop": backprop, "adversarial": adversarial},
                                     x, y, eps * eps_unit, clip)
            for name, values in errors.items():
                row[f"{name}_pct"], row[f"{name}_std_pct"] = mean_std(values)
        results[f"{eps:g}"] = row
    return results


def whitebox_errors(models: Mapping[int, nn.Module], x: torch.Tensor, y: torch.Tensor,
                    eps_grid: Sequence[float], clip=None) -> list[dict]:
    """Error (%) of each model on FGSM examples made with its own gradients, per eps:
    rows {"seed", "eps", "error_pct"}."""
    rows = []
    for seed, model in models.items():
        for eps in eps_grid:
            x_adv = fgsm_examples(model, x, y, eps, clip) if eps > 0 else x
            rows.append({"seed": seed, "eps": float(eps), "error_pct": error_pct(model, x_adv, y)})
    return rows

"""Attacks (paper section 3 and beyond): FGSM transfer, and white-box FGSM and PGD robustness.

Attacks run on plain per-seed modules (`advgrad.mnist.model.build_mlp`), not the stacked model
that trains them (`StackedMLP`), so a bug in the stacking is not repeated in the evaluation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from advgrad.core.adversarial import fgsm_autograd
from advgrad.core.evaluation import misclassified, wrong
from advgrad.core.stats import mean_std
from advgrad.mnist.model import bce_loss


def fgsm_examples(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    clip: tuple[float, float] | None = None,
    objective=bce_loss,
    chunk: int = 2000,
) -> torch.Tensor:
    """x + eps * sign(grad_x J(model(x), y)) for every row of x, in chunks.

    The gradient is taken per chunk; since each sample's loss term depends only on its own
    input, and sign() ignores the positive 1/B factor, chunking does not change the result.
    """
    model.eval()
    out = [
        fgsm_autograd(lambda xb, yb=yb: objective(model(xb), yb), xb, eps, clip)
        for xb, yb in zip(x.split(chunk), y.split(chunk), strict=True)
    ]
    return torch.cat(out)  # (N, 784)


def error_pct(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Classification error of `model` on (x, y), in percent."""
    return 100.0 * int(misclassified(model, x, y)) / len(y)


def transfer_pairs(seeds: Sequence[int]) -> list[tuple[int, int]]:
    """(source seed, target seed) of the transfer experiment (paper section 3).

    Source seed i attacks the backprop AND the adversarial target of seed i+1 (cyclically), so
    the two targets differ only in their training method and neither shares the source's
    initial weights or mini-batch order ("another 2x400 ReLU model"). One seed gives no pair.
    """
    seeds = list(seeds)
    return [(s, seeds[(i + 1) % len(seeds)]) for i, s in enumerate(seeds)] if len(seeds) > 1 else []


def transfer_errors(
    sources: Mapping[int, nn.Module],
    targets: Mapping[str, Mapping[int, nn.Module]],
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    clip=None,
    objective=bce_loss,
) -> dict[str, list[float]]:
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


def transfer_experiment(
    targets: Mapping[str, Mapping[int, nn.Module]],
    x: torch.Tensor,
    y: torch.Tensor,
    eps_list: Sequence[float],
    clip=None,
    eps_unit: float = 1.0,
) -> dict:
    """Section 3's experiment: {eps: {n_pairs, pairs, and per target family <name>_pct,
    <name>_std_pct (mean and std over pairs) and <name>_per_pair_pct (in the order of `pairs`)}}.
    `targets` maps a family name to seed -> model; its "backprop" nets are also the sources. With
    one seed there is no pair: the row says why instead.

    x are pixels; each eps counts in units of `eps_unit` pixels (1: pixels; the input std for
    nets that standardize their inputs, so that eps counts in standard deviations: with a
    scalar std, FGSM of eps * std on the pixels is FGSM of eps on the standardized input)."""
    seeds = {name: sorted(family) for name, family in targets.items()}
    if len({tuple(s) for s in seeds.values()}) != 1:
        raise ValueError(f"attack: the fit nets have different seeds ({seeds})")
    pairs = transfer_pairs(seeds["backprop"])
    results = {}
    for eps in eps_list:
        row = {"n_pairs": len(pairs), "pairs": [list(p) for p in pairs]}
        if not pairs:
            row["not_run"] = (
                "needs at least 2 seeds: the source model must not share its seed (initial weights, mini-batch "
                "order) with a target"
            )
        else:
            for name, values in transfer_errors(targets["backprop"], targets, x, y, eps * eps_unit, clip).items():
                row[f"{name}_pct"], row[f"{name}_std_pct"] = mean_std(values)
                row[f"{name}_per_pair_pct"] = values
        results[f"{eps:g}"] = row
    return results


def softmax_ce(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy on the logits, the loss robustness papers attack."""
    return F.cross_entropy(logits, y)


def pgd_examples(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    steps: int,
    step_size: float,
    clip: tuple[float, float] | None = None,
    objective=bce_loss,
    start: torch.Tensor | None = None,
    chunk: int = 2000,
) -> torch.Tensor:
    """L-infinity PGD (Madry et al. 2018): from x + start (start in [-eps, eps]; zeros if None),
    `steps` times x' <- project(x' + step_size * sign(grad J(x'))) onto the eps-ball around x
    and, with `clip`, the input range. The same iteration as torchattacks.PGD."""
    model.eval()
    start = torch.zeros_like(x) if start is None else start
    out = []
    for xb, yb, sb in zip(x.split(chunk), y.split(chunk), start.split(chunk), strict=True):
        adv = xb + sb
        if clip is not None:
            adv = adv.clamp(*clip)
        for _ in range(steps):
            adv = fgsm_autograd(lambda v, yb=yb: objective(model(v), yb), adv, step_size)
            adv = xb + (adv - xb).clamp(-eps, eps)
            if clip is not None:
                adv = adv.clamp(*clip)
        out.append(adv)
    return torch.cat(out)


def robustness_broken(
    models: Mapping[int, nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    eps_grid: Sequence[float],
    steps: int,
    step_size: float,
    restarts: int = 1,
    clip: tuple[float, float] | None = (0.0, 1.0),
    seed: int = 0,
) -> dict[tuple[int, str, float], torch.Tensor]:
    """Which images FGSM and PGD break, per model and eps: {(seed, attack, eps): bool (N,)}.

    An image counts as broken if any attempt misclassifies it: the training objective and
    softmax cross-entropy, and for PGD each of `restarts` uniform random starts in the eps-ball
    (drawn from a generator seeded with `seed`, the same for every model). eps = 0 is the clean
    error of both attacks. The attacks treat each image on its own (the losses are sums or means
    over images and a step takes only the gradient's sign), so the first m entries of a mask are
    those images' outcomes, comparable with another attack's on the same m images.
    """
    broken = {}
    for model_seed, model in models.items():
        g = torch.Generator().manual_seed(seed)
        for eps in eps_grid:
            fgsm, pgd = wrong(model, x, y), wrong(model, x, y)
            if eps > 0:
                for objective in (bce_loss, softmax_ce):
                    fgsm |= wrong(model, fgsm_examples(model, x, y, eps, clip, objective), y)
                    for _ in range(restarts):
                        start = (torch.rand(x.shape, generator=g) * 2 - 1) * eps
                        adv = pgd_examples(model, x, y, eps, steps, step_size, clip, objective, start)
                        pgd |= wrong(model, adv, y)
            broken[(model_seed, "fgsm", float(eps))] = fgsm
            broken[(model_seed, "pgd", float(eps))] = pgd
    return broken


def error_rows(broken: Mapping[tuple[int, str, float], torch.Tensor]) -> list[dict]:
    """{(seed, attack, eps): bool (N,)} -> rows {"seed", "attack", "eps", "error_pct", "n_images"}."""
    return [
        dict(seed=seed, attack=attack, eps=eps, n_images=len(b), error_pct=100.0 * int(b.sum()) / len(b))
        for (seed, attack, eps), b in broken.items()
    ]

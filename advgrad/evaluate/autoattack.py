"""AutoAttack (Croce and Hein 2020): the standard L-infinity suite, a robustness check beyond the paper.

Croce and Hein's `AutoAttack(version="standard")` (github.com/fra31/auto-attack,
autoattack/autoattack.py, `set_version`) runs, each on the images the previous ones left
correctly classified: APGD-CE (100 iterations, 1 restart), APGD-T (targeted DLR loss, 100
iterations, the 9 most likely other classes, 1 restart each), FAB-T (100 iterations, 9 target
classes, 1 restart) and Square (5000 queries, p_init 0.8, no rescaled schedule). torchattacks
3.5.1's `AutoAttack(version="standard")` builds APGD, APGD-T and FAB with its own 10-iteration
defaults and Square with the rescaled schedule, a weaker suite than the one behind the
published numbers; `standard_suite` composes torchattacks' parts with Croce and Hein's settings.

The suite attacks logits: APGD-CE's softmax cross-entropy and APGD-T's DLR loss are invariant to
a constant added to every logit, and FAB linearizes the logit differences. The MNIST nets' logits
are pre-sigmoid (`advgrad.mnist.model`); their sigmoid outputs saturate (exactly 1.0 in float32
above a logit of about 17), which zeroes the gradients and ties the argmax, so attacking them
would understate the error.

Every attack reseeds torch's global generator (`torch.random.manual_seed(seed)`; from the clock
when seed is None), so the suite runs with a fixed seed inside `torch.random.fork_rng`: the
examples are a function of the model, the images and the seed, and the caller's random stream
is left as it was. The suite clips to [0, 1] whatever it is given, so it exists only for that
threat model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torchattacks
from torch import nn

from advgrad.core.evaluation import wrong

STEPS = 100  # APGD-CE, APGD-T and FAB-T iterations of the standard version
SQUARE_QUERIES = 5000  # Square's query budget in the standard version
MNIST_IMAGE = (1, 28, 28)  # Square samples square windows of an image: (channels, height, width)
_RANGE = (0.0, 1.0)  # the suite's fixed clip range
_SLACK = 1e-6  # float rounding of x + eps when checking the examples against the eps-ball


class ImageInput(nn.Module):
    """`model` on images: (N, C, H, W) -> model(x.flatten(1)). The suite works on 4-D images
    (Square's windows, APGD's per-image step sizes), the MLPs on flat vectors."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.flatten(1))


def standard_suite(net: nn.Module, eps: float, n_classes: int, seed: int, n_queries: int = SQUARE_QUERIES):
    """Croce and Hein's standard L-infinity suite on `net` (images in [0, 1] -> logits), as a
    torchattacks `MultiAttack`: each attack runs on the images the ones before it left unbroken."""
    common = {"norm": "Linf", "eps": eps, "seed": seed}
    return torchattacks.MultiAttack(
        [
            torchattacks.APGD(net, loss="ce", steps=STEPS, n_restarts=1, rho=0.75, **common),
            torchattacks.APGDT(net, steps=STEPS, n_restarts=1, n_classes=n_classes, rho=0.75, **common),
            torchattacks.FAB(net, steps=STEPS, n_restarts=1, multi_targeted=True, n_classes=n_classes, **common),
            torchattacks.Square(net, n_queries=n_queries, n_restarts=1, p_init=0.8, resc_schedule=False, **common),
        ]
    )


def _cuda_devices() -> list[int]:
    # The attacks also call torch.cuda.manual_seed, which on a machine with CUDA reseeds (or,
    # before CUDA starts, queues a reseed of) the current device's generator: fork those too.
    return list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []


def autoattack_examples(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    seed: int = 0,
    n_queries: int = SQUARE_QUERIES,
    image_shape: Sequence[int] = MNIST_IMAGE,
) -> torch.Tensor:
    """The standard suite's examples for flat inputs x (N, prod(image_shape)) in [0, 1], labels y,
    against `model` (flat inputs -> logits): each within eps of its image in L-infinity and in
    [0, 1]; an image no attack breaks is returned unchanged. eps = 0 returns x.

    Runs inside `torch.random.fork_rng`, every attack seeded with `seed` (as Croce and Hein seed
    theirs with one seed), so two calls give the same examples and the caller's RNG is untouched.
    """
    if len(x) == 0 or eps == 0:
        return x.clone()
    if x.min() < _RANGE[0] or x.max() > _RANGE[1]:
        raise ValueError("autoattack: the suite clips to [0, 1], so the inputs must be pixels in [0, 1]")
    model.eval()
    # eval: after each attack torchattacks puts back train mode if the wrapper was in it, which
    # would switch on the dropout of the Figure 2 net.
    net = ImageInput(model).eval()
    with torch.no_grad():
        n_classes = model(x[:1]).shape[-1]
    with torch.random.fork_rng(devices=_cuda_devices()):
        suite = standard_suite(net, float(eps), n_classes, seed, n_queries)
        adv = suite(x.reshape(len(x), *image_shape), y).reshape(x.shape).detach()
    dist = (adv - x).abs().amax(dim=1)
    if (dist > eps + _SLACK).any() or adv.min() < _RANGE[0] or adv.max() > _RANGE[1]:
        raise RuntimeError(f"autoattack: an example left the eps-ball ({float(dist.max()):g} > {eps:g}) or [0, 1]")
    return adv


def autoattack_broken(
    models: Mapping[int, nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    eps_list: Sequence[float],
    seed: int = 0,
    n_queries: int = SQUARE_QUERIES,
    image_shape: Sequence[int] = MNIST_IMAGE,
) -> dict[tuple[int, str, float], torch.Tensor]:
    """Which images the standard suite breaks, each seed's net attacked on its own:
    {(seed, "autoattack", eps): bool (N,)}, the masks of `advgrad.evaluate.attack.robustness_broken`.
    An image counts as broken if it is misclassified clean or its example is."""
    broken = {}
    for model_seed, model in models.items():
        for eps in eps_list:
            adv = autoattack_examples(model, x, y, eps, seed, n_queries, image_shape)
            broken[(model_seed, "autoattack", float(eps))] = wrong(model, x, y) | wrong(model, adv, y)
    return broken

"""MNIST training (paper section 3, Table 2): every seed of one configuration, stacked.

The nets of a configuration's S seeds form one `StackedMLP`, trained by `advgrad.core.training.fit`
with the reference step of `advgrad.core.algorithm1` and `torch.optim.SGD` (plain SGD, no momentum,
weight decay or schedule; section 3). Seed s keeps its own initial weights, shuffling and
dropout streams, so its result does not depend on which other seeds train beside it (up to
float rounding in the batched kernels).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor

from advgrad.core.algorithm1 import adversarial_step, goodfellow_step, random_step
from advgrad.core.training import fit
from advgrad.core.vat import vat_step
from advgrad.mnist.model import MLPConfig, StackedMLP, bce_loss, input_range


@dataclass(frozen=True)
class MnistConfig:
    """One Table 2 configuration: the net, plain-SGD settings (section 3), and the seeds."""

    mlp: MLPConfig
    lr: float  # SGD learning rate; gradients are averaged over the mini-batch
    eps: float  # FGSM magnitude of eq. (2); 0 = standard back-propagation
    epochs: int
    batch_size: int
    init_std: float  # std of the N(0, init_std) weight initialisation
    seeds: tuple[int, ...]
    clip: bool = False  # clip x + mu to [0, 1] (the author's code does not)
    # Weight a of the clean loss: 0 is adversarial back-propagation (the paper, eq. 1); a > 0 is
    # Goodfellow et al.'s (2014) a J(x) + (1 - a) J(x + mu) (their eq. 3: a = 0.5).
    clean_weight: float = 0.0
    # The direction of the perturbation: "adversarial" (sign of the input gradient, eq. 2),
    # "random" (a random sign per element, fresh each step: the control, beyond the paper) or
    # "vat" (Miyato et al.'s virtual adversarial training, with `vat`'s settings, not eps).
    direction: str = "adversarial"
    vat: dict | None = None  # params.yaml's mnist.vat: eps, xi, iterations, weight


def make_step(cfg: MnistConfig) -> Callable:
    """The update of the configuration's method: Algorithm 1 (eps = 0: back-propagation),
    Goodfellow et al.'s objective where `clean_weight` > 0 and eps > 0, or the random-sign
    control where `direction` is "random", VAT where it is "vat". The values themselves were
    validated with params.yaml (stages.params), once."""
    if cfg.direction not in ("adversarial", "random", "vat"):
        raise ValueError(f"MnistConfig.direction = {cfg.direction!r}: allowed: adversarial, random, vat")
    if cfg.direction == "vat":
        return partial(_vat, **cfg.vat)
    clip = input_range(cfg.mlp) if cfg.clip else None
    if cfg.direction == "random" and cfg.eps > 0:
        return partial(_random, eps=cfg.eps, clip=clip)
    if cfg.clean_weight > 0 and cfg.eps > 0:
        return partial(_step, goodfellow_step, eps=cfg.eps, clean_weight=cfg.clean_weight, clip=clip)
    return partial(_step, adversarial_step, eps=cfg.eps, clip=clip)


def _step(method, model, optimizer, x, y, rng, **kwargs):
    return method(model, bce_loss, optimizer, x, y, **kwargs)


def _random(model, optimizer, x, y, rng, **kwargs):
    return random_step(model, bce_loss, optimizer, x, y, generators=rng, **kwargs)


def _vat(model, optimizer, x, y, rng, **kwargs):
    return vat_step(model, bce_loss, optimizer, x, y, generators=rng, **kwargs)


def _check_data(cfg: MnistConfig, name: str, x: Tensor, y: Tensor) -> None:
    n_in = cfg.mlp.sizes[0]
    if not x.is_floating_point() or x.dim() != 2 or x.shape[1] != n_in:
        raise ValueError(f"train: {name} inputs must be a float tensor (N, {n_in}); got {x.dtype} {tuple(x.shape)}")
    if y.dtype != torch.int64 or y.shape != x.shape[:1]:
        raise ValueError(
            f"train: {name} labels must be an int64 tensor ({x.shape[0]},); got {y.dtype} {tuple(y.shape)}"
        )


def train(
    cfg: MnistConfig,
    train: tuple[Tensor, Tensor],
    test: tuple[Tensor, Tensor],
    device,
    state: dict | None = None,
    on_epoch: Callable[[dict, float], None] | None = None,
) -> dict:
    """Train every seed of `cfg` from `state` (default: from scratch) up to `cfg.epochs`.

    `train` and `test` are (inputs (N, in) float in [0, 1], labels (N,) int64). Returns the final
    state of `advgrad.core.training.fit`, whose "model" is a `StackedMLP` state_dict
    (`advgrad.mnist.model.unstack` gives the per-seed nets). `on_epoch(state, seconds)` is called
    after every epoch; the given state is not modified.
    """
    device = torch.device(device)
    x_train, y_train = (t.to(device) for t in train)
    x_test, y_test = (t.to(device) for t in test)
    _check_data(cfg, "training", x_train, y_train)
    _check_data(cfg, "test", x_test, y_test)
    if cfg.mlp.standardizes:  # the exported nets' first step (Standardize), done once on the data
        x_train, x_test = ((x - cfg.mlp.input_mean) / cfg.mlp.input_std for x in (x_train, x_test))
    model = StackedMLP(cfg.mlp, cfg.seeds, cfg.init_std).to(device)
    # foreach: one multi-tensor update instead of a Python loop over the 6 tensors (on a CPU
    # torch defaults to the loop; reports/benchmark.md measures the difference)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, foreach=True)
    return fit(
        model,
        optimizer,
        make_step(cfg),
        (x_train, y_train),
        (x_test, y_test),
        cfg.seeds,
        cfg.batch_size,
        epochs=cfg.epochs,
        state=state,
        on_epoch=on_epoch,
    )

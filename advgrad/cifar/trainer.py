"""CIFAR-10 training (paper section 4, Table 3): the seeds of one configuration, one after another.

For each seed: a net initialised N(0, 0.01^2), biases 0, from the seed's generator, trained by
the shared loop (`advgrad.core.training.fit`) with `advgrad.core.algorithm1.adversarial_step` (eps = 0:
plain back-propagation) and max-norm after every update, until the halving schedule
(`advgrad.cifar.schedule`) says stop.

The seeds run sequentially: with 10M parameters and batches of 128 images the conv net's
matrices are already large, so stacking seeds (the MNIST trainer's remedy for its batch of 10)
would mostly multiply memory (not measured).

Choices the paper leaves open (section 4), each written where it is made:
- Adversarial + dropout: the model is in training mode for both passes of Algorithm 1, and each
  forward pass draws its own dropout masks, as Torch's nn.Dropout did in the author's code. The
  perturbation is computed through the first pass's masks; the update through the second's.
  Inputs dropped in the first pass get a zero input gradient, so sign(0) = 0 leaves them
  unperturbed.
- No clipping of x + mu: ZCA-whitened inputs have no fixed range.
- The learning-rate schedule is driven by the "online" training error: the error of the
  predictions the updates were computed from, accumulated over the epoch (on perturbed,
  dropped-out inputs when the method uses them), as in the author's Torch code. The clean
  training error (eval mode, whole training set, after the epoch) is recorded every epoch too.
- The last, smaller mini-batch of an epoch is used (the author's code allows varying batches).
- Optimizer: torch.optim.SGD on the loss averaged over the mini-batch, weight decay added to the
  gradient (as Torch7's optim.sgd does). Momentum is PyTorch's (no dampening) unless
  `dampening` is set; Torch7's optim.sgd, the author's framework, defaults to dampening =
  momentum (v = m v + (1 - m) g), a 10x smaller step at m = 0.9 for the same lr.

Resuming: `train` returns, and passes to `on_epoch` after every epoch, a plain dict of CPU
tensors and Python values (model, optimizer, schedule and generator states, curves) that
`torch.save` can write. Passing it back as `state=` continues exactly where it stopped: all
randomness of an epoch (shuffling and dropout) is drawn from the seed's own generators, whose
states are in the dict, so an interrupted and resumed run is bit-identical to an uninterrupted one
on the same device (CUDA kernels that are themselves non-deterministic excepted).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from advgrad.cifar.model import apply_max_norm_, build_model, init_weights_
from advgrad.cifar.schedule import HalvingSchedule
from advgrad.core.algorithm1 import adversarial_step
from advgrad.core.results import summarize as summarize_curves
from advgrad.core.training import fit

CURVE_COLUMNS = ("epoch", "seed", "train_error", "test_error", "online_train_error", "lr")


@dataclass(frozen=True)
class CifarConfig:
    """One Table 3 cell: the params.yaml keys it reads, under their own names (`of_cell`)."""

    arch: str  # mlp | conv
    seeds: tuple[int, ...]  # one run per seed, trained in this order
    lr: float  # cifar10.<arch>: lr, momentum, dampening, weight_decay (and the MLP's units)
    momentum: float
    # torch.optim.SGD's dampening: v = momentum * v + (1 - dampening) * g. PyTorch's default is
    # 0; Torch7's optim.sgd, which the author used, defaults to dampening = momentum.
    dampening: float
    weight_decay: float  # L2 coefficient added to the gradient
    eps: float  # cifar10.eps.<arch> (eq. 2) for the adversarial methods; 0 = plain back-propagation
    dropout: dict | None  # cifar10.dropout for the dropout methods (advgrad.cifar.model); None = none
    batch_size: int
    max_norm: float | None  # per-unit incoming weight norm bound; None = unconstrained
    init_std: float
    max_epochs: int  # the rest: HalvingSchedule's settings
    max_halvings: int
    target_train_error: float
    halving_decay: float
    units: int | None = None  # hidden units of the MLP
    eval_batch_size: int = 500  # chunk size of the error evaluations (memory only)

    @classmethod
    def of_cell(cls, params, arch: str, method: str) -> CifarConfig:
        """The cell (arch, method) of validated params (stages.params.Params). Only the keys of
        `arch` and of `method` are read, as the cell's stage in dvc.yaml lists them."""
        c = params.cifar10
        return cls(
            arch=arch,
            seeds=tuple(range(params.seed_base, params.seed_base + params.seeds)),
            **dataclasses.asdict(getattr(c, arch)),
            eps=getattr(c.eps, arch) if method.startswith("adversarial") else 0.0,
            dropout=dataclasses.asdict(c.dropout) if method.endswith("-dropout") else None,
            **{k: getattr(c, k) for k in (*SCHEDULE, "batch_size", "max_norm", "init_std")},
        )


SCHEDULE = ("halving_decay", "max_halvings", "target_train_error", "max_epochs")  # HalvingSchedule's settings


# ---------------------------------------------------------------------------------------------
# One step, and the run of all seeds.


def make_optimizer(model: nn.Module, config: CifarConfig) -> torch.optim.SGD:
    return torch.optim.SGD(
        model.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        dampening=config.dampening,
        weight_decay=config.weight_decay,
    )


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    rng: list[torch.Generator] | None = None,
    *,
    eps: float,
    max_norm: float | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One update of Algorithm 1 (eps > 0) or of plain back-propagation (eps = 0) on softmax +
    cross-entropy averaged over the mini-batch, then max-norm (Srivastava et al. 2014: after
    every update). x: (B, 3, 32, 32), y: (B,). Returns the detached logits (B, 10) and mean
    loss of the pass the update was computed from (the perturbed one when eps > 0). `rng` (the
    training loop's per-seed noise generators) is not used: no CIFAR-10 method draws noise."""
    logits, loss = adversarial_step(model, F.cross_entropy, optimizer, x, y, eps)
    if max_norm is not None:
        apply_max_norm_(model, max_norm)
    return logits, loss


def train(
    config: CifarConfig,
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    *,
    state: dict | None = None,
    on_epoch: Callable[[dict, float], None] | None = None,
) -> dict:
    """Train every seed of `config` to the schedule's stop, one after another; returns the final state.

    The data are tensors already on the training device (the models go where the data are):
    x (N, 3, 32, 32) float32, y (N,) int64. `state` resumes a run from a dict that this
    function produced; `on_epoch(state, seconds)` is called after every epoch with the current
    state (e.g. to save it) and the epoch's wall time.

    State layout: {"config": asdict(config), "runs": [finished seeds], "current": the unfinished
    seed's `advgrad.core.training.fit` state or None}; a finished seed is {"seed", "model", "curve",
    "stop_reason"}. A curve is a list of per-epoch dicts (`fit`'s rows: errors as fractions; lr
    is the rate used in that epoch).
    """
    device = train_x.device
    if state is None:
        state = {"config": dataclasses.asdict(config), "runs": [], "current": None}
    elif state["config"] != dataclasses.asdict(config):
        raise ValueError(
            "cifar_trainer.train: the resume state was made with a different "
            "configuration; delete it or train with its configuration"
        )
    state = dict(state, runs=list(state["runs"]))
    step = partial(train_step, eps=config.eps, max_norm=config.max_norm)

    while len(state["runs"]) < len(config.seeds):
        seed = config.seeds[len(state["runs"])]
        # Initial weights drawn on the CPU from the seed's generator, so equal on every device.
        model = build_model(config.arch, config.units, config.dropout)
        model = init_weights_(model, config.init_std, torch.Generator().manual_seed(seed)).to(device)
        schedule = HalvingSchedule(config.lr, **{k: getattr(config, k) for k in SCHEDULE})

        def on_seed_epoch(current: dict, seconds: float, seed=seed, schedule=schedule) -> None:
            if schedule.stop_reason is None:
                state["current"] = current
            else:  # this seed is finished
                finished = {"model": current["model"], "curve": current["curves"], "stop_reason": schedule.stop_reason}
                state["runs"].append({"seed": seed, **finished})
                state["current"] = None
            if on_epoch is not None:
                on_epoch(state, seconds)

        fit(
            model,
            make_optimizer(model, config),
            step,
            (train_x, train_y),
            (test_x, test_y),
            (seed,),
            config.batch_size,
            schedule=schedule,
            state=state["current"],
            on_epoch=on_seed_epoch,
            eval_chunk=config.eval_batch_size,
        )
    return state


# ---------------------------------------------------------------------------------------------
# Results.


def summarize(state: dict) -> dict:
    """Table 3 statistic: test error at the end of each seed's training, mean and sample std over
    seeds (%), plus how long each seed ran and why it stopped."""
    seeds = [run["seed"] for run in state["runs"]]
    stat = summarize_curves(curve_rows(state), seeds, last_epochs=1)
    stat.pop("final_train_error_pct")  # the schedule's stopping rule speaks for the training error
    return {
        **stat,
        "epochs_run": [len(run["curve"]) for run in state["runs"]],
        "stop_reasons": [run["stop_reason"] for run in state["runs"]],
    }


def curve_rows(state: dict) -> list[dict]:
    """Per-epoch rows of every finished seed, in seed order."""
    return [point for run in state["runs"] for point in run["curve"]]

"""CIFAR-10 training (paper section 4, Table 3): the seeds of one configuration, one after another.

The loop is plain PyTorch, readable top to bottom:

    for each seed:                      init N(0, 0.01^2), biases 0, from a per-seed generator
        until the schedule says stop:   (advgrad.schedule: halve on a plateau, stop rules)
            for each mini-batch of a per-seed permutation of the training set:
                advgrad.algorithm1.adversarial_step (eps = 0: plain back-propagation), max-norm
            clean training error and test error (eval mode)

The seeds run sequentially: with 10M parameters and batches of 128 images the conv net's
matrices are already large, so stacking seeds (the MNIST trainer's remedy for its batch of 10)
would mostly multiply memory (not measured).

Choices the paper leaves open (section 4), each written where it is made:
- Adversarial + dropout: the model is in training mode for both passes of Algorithm 1, and each
  forward pass draws its own dropout masks, as a standard dropout layer does (and as Torch's
  nn.Dropout did in the author's code). The perturbation is computed through the first pass's
  masks; the update through the second's. Inputs dropped in the first pass get a zero input
  gradient, so sign(0) = 0 leaves them unperturbed.
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
randomness of an epoch (shuffling and dropout) is drawn from the seed's own generator, whose
state is in the dict, so an interrupted and resumed run is bit-identical to an uninterrupted one
on the same device (CUDA kernels that are themselves non-deterministic excepted).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from advgrad.algorithm1 import adversarial_step
from advgrad.cifar_model import apply_max_norm_, build_model, init_weights_
from advgrad.evaluation import error_rate
from advgrad.results import summarize as summarize_curves
from advgrad.schedule import Action, HalvingSchedule

__all__ = ["CifarConfig", "CURVE_COLUMNS", "train", "train_step", "train_epoch", "make_optimizer",
           "summarize", "curve_rows"]

CURVE_COLUMNS = ("epoch", "seed", "train_error", "test_error", "online_train_error", "lr")


@dataclass(frozen=True)
class CifarConfig:
    """Everything that defines one Table 3 configuration. Defaults are the paper's values."""

    arch: str                    # mlp | conv
    seeds: tuple[int, ...]       # one run per seed, trained in this order
    lr: float                    # initial learning rate (paper: mlp 0.1, conv 0.5)
    eps: float = 0.0             # adversarial perturbation (eq. 2); 0 = plain back-propagation
    momentum: float = 0.0        # paper: conv 0.9, mlp 0
    # torch.optim.SGD's dampening: v = momentum * v + (1 - dampening) * g. PyTorch's default is
    # 0; Torch7's optim.sgd, which the author used, defaults to dampening = momentum.
    dampening: float = 0.0
    weight_decay: float = 0.0    # L2 coefficient added to the gradient (paper: conv 0.001)
    units: int = 3000            # hidden units of the MLP
    p_input: float = 0.0         # dropout rates (0 = none; paper: 0.1 / 0.25 / 0.5)
    p_conv: tuple[float, ...] = (0.0, 0.0, 0.0)  # one rate per conv block (author: .25 .25 .5)
    p_fc: float = 0.0
    conv_dropout_position: str = "before_pool"  # cifar_model.CONV_DROPOUT_POSITIONS
    batch_size: int = 128
    max_norm: float | None = 4.0  # per-unit incoming weight norm bound; None = unconstrained
    init_std: float = 0.01
    max_epochs: int = 300
    max_halvings: int = 8
    target_train_error: float = 1e-4
    halving_decay: float = 0.75
    eval_batch_size: int = 500      # chunk size of the error evaluations (memory only)

    def __post_init__(self):
        object.__setattr__(self, "seeds", tuple(self.seeds))
        object.__setattr__(self, "p_conv", tuple(self.p_conv))
        if self.arch not in ("mlp", "conv"):
            raise ValueError(f"CifarConfig.arch = {self.arch!r} is invalid; allowed: mlp, conv")
        if not self.seeds:
            raise ValueError("CifarConfig.seeds is empty; give at least one seed")


# ---------------------------------------------------------------------------------------------
# One step, one epoch, one evaluation.

def make_optimizer(model: nn.Module, config: CifarConfig) -> torch.optim.SGD:
    return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                           dampening=config.dampening, weight_decay=config.weight_decay)


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
               *, eps: float, max_norm: float | None) -> tuple[torch.Tensor, torch.Tensor]:
    """One update of Algorithm 1 (eps > 0) or of plain back-propagation (eps = 0) on softmax +
    cross-entropy averaged over the mini-batch, then max-norm (Srivastava et al. 2014: after
    every update). x: (B, 3, 32, 32), y: (B,). Returns the detached logits (B, 10) and mean
    loss of the pass the update was computed from (the perturbed one when eps > 0)."""
    logits, loss = adversarial_step(model, F.cross_entropy, optimizer, x, y, eps)
    if max_norm is not None:
        apply_max_norm_(model, max_norm)
    return logits, loss


def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor,
                y: torch.Tensor, order: torch.Tensor, *, batch_size: int, eps: float,
                max_norm: float | None) -> tuple[torch.Tensor, torch.Tensor]:
    """One pass over (x, y) in mini-batches of `order` (a permutation of the sample indices).

    Returns (wrong, loss_sum) as device scalars: misclassified training samples in the passes
    the updates used (the "online" training error) and the summed loss. Nothing is read back to
    the host inside the loop.
    """
    model.train()
    wrong = torch.zeros((), dtype=torch.int64, device=x.device)
    loss_sum = torch.zeros((), device=x.device)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        xb, yb = x[idx], y[idx]                            # (B, 3, 32, 32), (B,)
        logits, loss = train_step(model, optimizer, xb, yb, eps=eps, max_norm=max_norm)
        wrong += (logits.argmax(1) != yb).sum()
        loss_sum += loss * len(idx)
    return wrong, loss_sum


@contextlib.contextmanager
def _dropout_rng(device: torch.device, seed: int):
    """Seed torch's global RNG of `device` (where dropout draws its masks) for one epoch.

    Forking keeps the caller's RNG state untouched, and seeding from the run's own generator
    makes an epoch's masks a function of the saved state alone, which is what makes resuming
    exact.
    """
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


# ---------------------------------------------------------------------------------------------
# The run: all seeds of one configuration.

def _cpu_copy(tree):
    """A deep copy of a (nested) state dict with every tensor on the CPU."""
    if isinstance(tree, torch.Tensor):
        return tree.detach().to("cpu", copy=True)
    if isinstance(tree, dict):
        return {k: _cpu_copy(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_cpu_copy(v) for v in tree)
    return tree


def _new_schedule(config: CifarConfig) -> HalvingSchedule:
    return HalvingSchedule(config.lr, decay=config.halving_decay, max_halvings=config.max_halvings,
                           target_train_error=config.target_train_error,
                           max_epochs=config.max_epochs)


def _new_model(config: CifarConfig) -> nn.Module:
    return build_model(config.arch, units=config.units, p_input=config.p_input,
                       p_conv=config.p_conv, p_fc=config.p_fc,
                       conv_dropout_position=config.conv_dropout_position)


def _start_seed(config: CifarConfig, seed: int, device: torch.device):
    """Fresh model, optimizer, schedule and generator for `seed`."""
    generator = torch.Generator().manual_seed(seed)  # init, shuffling and dropout seeds
    model = init_weights_(_new_model(config), config.init_std, generator).to(device)
    return model, make_optimizer(model, config), _new_schedule(config), generator, []


def _resume_seed(config: CifarConfig, current: dict, device: torch.device):
    """Model, optimizer, schedule, generator and curve of an unfinished seed, from its state."""
    model = _new_model(config).to(device)
    model.load_state_dict(current["model"])
    optimizer = make_optimizer(model, config)
    optimizer.load_state_dict(current["optimizer"])
    schedule = _new_schedule(config)
    schedule.load_state_dict(current["schedule"])
    generator = torch.Generator()
    generator.set_state(current["generator"])
    return model, optimizer, schedule, generator, list(current["curve"])


def _check_finite(model: nn.Module, loss_sum: torch.Tensor, config: CifarConfig, seed: int,
                  epoch: int, lr: float) -> None:
    weights_finite = torch.stack([p.isfinite().all() for p in model.parameters()]).all()
    if not (torch.isfinite(loss_sum) & weights_finite):  # one host sync per epoch
        raise FloatingPointError(
            f"CIFAR-10 {config.arch} training diverged: non-finite loss or weights in epoch "
            f"{epoch} of seed {seed} (lr {lr}, momentum {config.momentum}, dampening {config.dampening}, "
            f"eps {config.eps}); the learning rate is too large for this optimizer reading")


def train(config: CifarConfig, train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor,
          test_y: torch.Tensor, *, state: dict | None = None,
          on_epoch: Callable[[dict, float], None] | None = None) -> dict:
    """Train every seed of `config` to the schedule's stop; returns the final state.

    The data are tensors already on the training device (the models go where the data are):
    x (N, 3, 32, 32) float32, y (N,) int64. `state` resumes a run from a dict that this
    function produced (and is updated in place); `on_epoch(state, seconds)` is called after every epoch with the current
    state (e.g. to save it) and the epoch's wall time.

    State layout: {"config": asdict(config), "runs": [finished seeds], "current": unfinished
    seed or None}; a finished seed is {"seed", "model", "curve", "stop_reason"}, the unfinished
    one also holds "optimizer", "schedule" and "generator". A curve is a list of per-epoch dicts
    {"epoch", "seed", "train_error", "test_error", "online_train_error", "lr"} (errors as
    fractions; lr is the rate used in that epoch).
    """
    device = train_x.device
    if state is None:
        state = {"config": dataclasses.asdict(config), "runs": [], "current": None}
    elif state["config"] != dataclasses.asdict(config):
        raise ValueError("cifar_trainer.train: the resume state was made with a different "
                         "configuration; delete it or train with its configuration")
    n = len(train_x)

    while len(state["runs"]) < len(config.seeds):
        seed = config.seeds[len(state["runs"])]
        model, optimizer, schedule, generator, curve = (
            _start_seed(config, seed, device) if state["current"] is None
            else _resume_seed(config, state["current"], device))

        action = None
        while action is not Action.STOP:
            t0 = time.perf_counter()
            epoch, lr = schedule.epoch + 1, schedule.lr
            # All randomness of the epoch comes from the seed's generator (see module docstring).
            dropout_seed = int(torch.randint(2**62, (1,), generator=generator))
            order = torch.randperm(n, generator=generator).to(device)
            with _dropout_rng(device, dropout_seed):
                wrong, loss_sum = train_epoch(model, optimizer, train_x, train_y, order,
                                              batch_size=config.batch_size, eps=config.eps,
                                              max_norm=config.max_norm)
            _check_finite(model, loss_sum, config, seed, epoch, lr)
            point = {"epoch": epoch, "seed": seed,
                     "train_error": error_rate(model, train_x, train_y, config.eval_batch_size),
                     "test_error": error_rate(model, test_x, test_y, config.eval_batch_size),
                     "online_train_error": wrong.item() / n, "lr": lr}
            curve.append(point)

            action = schedule.step(point["online_train_error"])
            for group in optimizer.param_groups:
                group["lr"] = schedule.lr

            run = {"seed": seed, "model": _cpu_copy(model.state_dict()), "curve": list(curve)}
            if action is Action.STOP:
                state["runs"].append({**run, "stop_reason": schedule.stop_reason})
                state["current"] = None
            else:
                state["current"] = {**run, "optimizer": _cpu_copy(optimizer.state_dict()),
                                    "schedule": schedule.state_dict(),
                                    "generator": generator.get_state()}
            if on_epoch is not None:
                on_epoch(state, time.perf_counter() - t0)
    return state


# ---------------------------------------------------------------------------------------------
# Results.

def summarize(state: dict) -> dict:
    """Table 3 statistic: test error at the end of each seed's training, mean and sample std over
    seeds (%), plus how long each seed ran and why it stopped."""
    seeds = [run["seed"] for run in state["runs"]]
    stat = summarize_curves(curve_rows(state), seeds, last_epochs=1)
    stat.pop("final_train_error_pct")  # the schedule's stopping rule speaks for the training error
    return {**stat,
            "epochs_run": [len(run["curve"]) for run in state["runs"]],
            "stop_reasons": [run["stop_reason"] for run in state["runs"]]}


def curve_rows(state: dict) -> list[dict]:
    """Per-epoch rows of every finished seed, in seed order."""
    return [point for run in state["runs"] for point in run["curve"]]

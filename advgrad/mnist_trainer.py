"""The MNIST training loop (paper section 3): plain SGD with adversarial back-propagation.

One `train` call trains every seed of one Table 2 configuration. Each epoch shuffles the
training set per seed (section 3: "The samples were shuffled after each epoch"), runs the
Algorithm 1 step over mini-batches of 10, checks the loss for divergence, and measures the clean
training and test error of every seed (Figure 1); a callback gets the state, which can be
checkpointed: it holds the generator states, so a resumed run is bit-identical to an
uninterrupted one.

The steps themselves run on the fast path (`advgrad.stacked.StackedSGD`: all seeds as one
stacked model, hand-written passes, worker threads on CPU, a CUDA graph on GPUs), which is
tested equal to `advgrad.algorithm1.adversarial_step` on `advgrad.mnist_model`'s net. Seed s has
its own weight initialisation, shuffling stream and dropout stream, so its result does not
depend on which other seeds run beside it (up to float rounding, see `StackedSGD`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from advgrad import stacked
from advgrad.mnist_model import MLPConfig

__all__ = ["MnistConfig", "stream_seed", "init_state", "train"]


@dataclass(frozen=True)
class MnistConfig:
    """One Table 2 configuration: the net, plain-SGD settings (section 3), and the seeds."""
    mlp: MLPConfig
    lr: float          # SGD learning rate; gradients are averaged over the mini-batch
    eps: float         # FGSM magnitude of eq. (2); 0 = standard back-propagation
    epochs: int
    batch_size: int
    init_std: float    # std of the N(0, init_std) weight initialisation
    seeds: tuple[int, ...]
    clip: bool = False  # clip x + mu to [0, 1] (the author's code does not)
    # Weight a of the clean loss: 0 is adversarial back-propagation (the paper, eq. 1); a > 0 is
    # Goodfellow et al.'s (2014) a J(x) + (1 - a) J(x + mu) (their eq. 3: a = 0.5).
    clean_weight: float = 0.0

    def __post_init__(self):
        checks = [(self.lr > 0, "lr", "a positive number"), (self.eps >= 0, "eps", "a number >= 0"),
                  (self.epochs > 0, "epochs", "a positive integer"),
                  (self.batch_size > 0, "batch_size", "a positive integer"),
                  (self.init_std > 0, "init_std", "a positive number"),
                  (0 <= self.clean_weight < 1, "clean_weight", "a number in [0, 1)"),
                  (len(self.seeds) > 0 and len(set(self.seeds)) == len(self.seeds), "seeds",
                   "a non-empty tuple of distinct integers")]
        for ok, name, allowed in checks:
            if not ok:
                raise ValueError(f"MnistConfig.{name} = {getattr(self, name)!r}: need {allowed}")


def stream_seed(seed: int, stream: str) -> int:
    """A seed for one random stream ("shuffle", "dropout") of run `seed`.

    Hashing keeps the streams of one run apart from each other and from its weight
    initialisation (`torch.Generator().manual_seed(seed)`, see `stacked.init_params`).
    """
    digest = hashlib.sha256(f"advgrad/{seed}/{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1  # 63 bits: a valid manual_seed


def init_state(cfg: MnistConfig, device) -> dict:
    """The state before epoch 0: initial weights, the seeds' generator states, no curves.

    Shuffling runs on CPU generators (one permutation per epoch, identical on every device);
    dropout masks are drawn on the device, so their generators live there.
    """
    device = torch.device(device)
    return {
        "epoch": 0,
        "params": stacked.init_params(cfg.mlp, cfg.seeds, cfg.init_std, device),
        "shuffle_rng": [torch.Generator().manual_seed(stream_seed(s, "shuffle")).get_state()
                        for s in cfg.seeds],
        "dropout_rng": [torch.Generator(device=device).manual_seed(stream_seed(s, "dropout")).get_state()
                        for s in cfg.seeds],
        "curves": [],
    }


def _generators(states: Sequence[Tensor], device) -> list[torch.Generator]:
    gens = []
    for state in states:
        g = torch.Generator(device=device)
        g.set_state(state)
        gens.append(g)
    return gens


def _check_data(cfg: MnistConfig, name: str, x: Tensor, y: Tensor) -> None:
    n_in = cfg.mlp.sizes[0]
    if not x.is_floating_point() or x.dim() != 2 or x.shape[1] != n_in:
        raise ValueError(f"train: {name} inputs must be a float tensor (N, {n_in}); "
                         f"got {x.dtype} {tuple(x.shape)}")
    if y.dtype != torch.int64 or y.shape != x.shape[:1]:
        raise ValueError(f"train: {name} labels must be an int64 tensor ({x.shape[0]},); "
                         f"got {y.dtype} {tuple(y.shape)}")


def _check_finite(train_loss: Tensor, seeds: Sequence[int], epoch: int) -> None:
    """One host sync per epoch: a diverged seed fails here rather than after 150 epochs."""
    bad = (~torch.isfinite(train_loss)).nonzero().flatten().tolist()
    if bad:
        s = bad[0]
        raise FloatingPointError(f"seed {seeds[s]} diverged in epoch {epoch}: training loss is "
                                 f"{train_loss[s].item()} (learning rate too large?)")


def train(cfg: MnistConfig, train: tuple[Tensor, Tensor], test: tuple[Tensor, Tensor], device,
          state: dict | None = None,
          on_epoch: Callable[[dict, float], None] | None = None,
          workers: int | None = None) -> dict:
    """Train every seed of `cfg` from `state` (default: `init_state`) up to `cfg.epochs`.

    `train` and `test` are (inputs (N, in) float in [0, 1], labels (N,) int64). After each epoch
    the curves get one row per seed, `{"epoch", "seed", "train_error", "test_error",
    "train_loss"}` (epoch counted from 1, errors as fractions, train error = clean error on the
    whole training split, train loss = mean per sample of the trained objective), `epoch` is
    incremented, and `on_epoch(state, seconds)` is called. The given state is not modified; a
    state loaded from disk on CPU is moved to `device`. `workers`: seed groups trained in
    parallel (see `StackedSGD`; default one per CPU core). Returns the final state.
    """
    device = torch.device(device)
    x_train, y_train = (t.to(device) for t in train)
    x_test, y_test = (t.to(device) for t in test)
    _check_data(cfg, "training", x_train, y_train)
    _check_data(cfg, "test", x_test, y_test)
    if cfg.mlp.standardizes:  # the net's first step, done once here for the fast path
        x_train, x_test = ((x - cfg.mlp.input_mean) / cfg.mlp.input_std for x in (x_train, x_test))
    state = init_state(cfg, device) if state is None else state

    params = [(W.to(device).clone(), b.to(device).clone()) for W, b in state["params"]]
    shuffle_rng = _generators(state["shuffle_rng"], "cpu")
    dropout_rng = _generators(state["dropout_rng"], device)
    curves = list(state["curves"])
    n = x_train.shape[0]

    with stacked.StackedSGD(cfg, params, dropout_rng, (x_train, y_train), workers) as sgd:
        for epoch in range(state["epoch"], cfg.epochs):
            start = time.perf_counter()
            # Shuffle each epoch (section 3): one permutation per seed, drawn on the CPU.
            order = torch.stack([torch.randperm(n, generator=g) for g in shuffle_rng]).to(device)  # (S, N)
            train_loss = sgd.steps(order) / n                         # (S,) still on the device
            _check_finite(train_loss, cfg.seeds, epoch + 1)          # the epoch's first host sync

            train_error = sgd.errors(x_train, y_train).tolist()
            test_error = sgd.errors(x_test, y_test).tolist()
            curves += [{"epoch": epoch + 1, "seed": seed, "train_error": train_error[s],
                        "test_error": test_error[s], "train_loss": train_loss[s].item()}
                       for s, seed in enumerate(cfg.seeds)]
            state = {"epoch": epoch + 1, "params": params,
                     "shuffle_rng": [g.get_state() for g in shuffle_rng],
                     "dropout_rng": [g.get_state() for g in dropout_rng],
                     "curves": curves}
            if on_epoch is not None:
                on_epoch(state, time.perf_counter() - start)
    return state

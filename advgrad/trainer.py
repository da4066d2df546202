"""The MNIST training loop: plain SGD with adversarial back-propagation, all seeds at once.

One `train` call trains every seed of one configuration as a stacked model (`advgrad.mlp`).
Seed s has its own weight initialisation, its own shuffling stream and its own dropout stream,
so its result does not depend on which other seeds run beside it (up to float rounding: a
stacked matrix kernel may round differently for another number of seeds, so results are
bit-identical for a given device and worker count, see `StackedSGD`). The loop keeps the data on
the device and never synchronises with the host inside an epoch; after each epoch it checks
the loss for divergence, measures the clean training and test error (Figure 1) and hands the
state to a callback, which can checkpoint it: the state holds the generator states, so a
resumed run is bit-identical to an uninterrupted one.

How the steps run is the job of `StackedSGD` (DESIGN.md, "Performance design"; figures in
reports/benchmark.md). At batch 10 one step is a few dozen small kernels:
- on CPU the seeds are split into one group per core, each group trained as a stacked model by
  its own single-threaded worker thread (matrix kernels release the GIL);
- on CUDA all seeds form one group and the whole step is captured once as a CUDA graph and
  replayed, since a GPU would otherwise wait on Python to launch each tiny kernel.
"""

from __future__ import annotations

import hashlib
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import Tensor

from advgrad import mlp

__all__ = ["TrainConfig", "stream_seed", "init_state", "worker_layout", "StackedSGD", "train",
           "summarize"]


@dataclass(frozen=True)
class TrainConfig:
    """One Table 2 configuration: the net, plain-SGD settings (section 3), and the seeds."""
    mlp: mlp.MLPConfig
    lr: float          # SGD learning rate; gradients are averaged over the mini-batch
    eps: float         # FGSM magnitude of eq. (2); 0 = standard back-propagation
    epochs: int
    batch_size: int
    init_std: float    # std of the N(0, init_std) weight initialisation
    seeds: tuple[int, ...]
    clip: bool = False  # clip x + mu to [0, 1] (the author's code does not)

    def __post_init__(self):
        checks = [(self.lr > 0, "lr", "a positive number"), (self.eps >= 0, "eps", "a number >= 0"),
                  (self.epochs > 0, "epochs", "a positive integer"),
                  (self.batch_size > 0, "batch_size", "a positive integer"),
                  (self.init_std > 0, "init_std", "a positive number"),
                  (len(self.seeds) > 0 and len(set(self.seeds)) == len(self.seeds), "seeds",
                   "a non-empty tuple of distinct integers")]
        for ok, name, allowed in checks:
            if not ok:
                raise ValueError(f"TrainConfig.{name} = {getattr(self, name)!r}: need {allowed}")


def stream_seed(seed: int, stream: str) -> int:
    """A seed for one random stream ("shuffle", "dropout") of run `seed`.

    Hashing keeps the streams of one run apart from each other and from its weight
    initialisation (`torch.Generator().manual_seed(seed)`, see `mlp.init_params`).
    """
    digest = hashlib.sha256(f"advgrad/{seed}/{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1  # 63 bits: a valid manual_seed


def init_state(cfg: TrainConfig, device) -> dict:
    """The state before epoch 0: initial weights, the seeds' generator states, no curves.

    Shuffling runs on CPU generators (one permutation per epoch, identical on every device);
    dropout masks are drawn on the device, so their generators live there.
    """
    device = torch.device(device)
    return {
        "epoch": 0,
        "params": mlp.init_params(cfg.mlp, cfg.seeds, cfg.init_std, device),
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


def _check_data(cfg: TrainConfig, name: str, x: Tensor, y: Tensor) -> None:
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


def _gather(x: Tensor, y: Tensor, idx: Tensor) -> tuple[Tensor, Tensor]:
    """Mini-batch `idx` (S, B) of every seed: inputs (S, B, in) and labels (S, B).

    `index_select` on the flat indices rather than `x[idx]`: on CPU it is ~4x faster.
    """
    flat = idx.reshape(-1)
    return x.index_select(0, flat).view(*idx.shape, -1), y.index_select(0, flat).view(idx.shape)


class _Stopped(Exception):
    """Raised in a worker thread when the training loop is being left (error, Ctrl-C)."""


class _CapturedStep:
    """`step(idx, loss_sum)` on static buffers: captured once as a CUDA graph, then replayed.

    A graph replays fixed kernels on fixed memory, so the step reads its mini-batch through the
    static index buffer `idx` (S, B), updates the parameters in place (their storage never
    moves) and adds its loss into the static `loss_sum` (S,). On a CPU nothing is captured and
    the same static-buffer step runs eagerly (this is how the tests exercise it).
    """

    def __init__(self, step: Callable[[Tensor, Tensor], None], params: mlp.Params,
                 shape: tuple[int, int], device: torch.device):
        self.step = step
        self.idx = torch.zeros(shape, dtype=torch.int64, device=device)   # (S, B)
        self.loss_sum = torch.zeros(shape[0], device=device)             # (S,)
        self.graph = None
        # CUDA wants a few eager runs on a side stream before capture (lazy initialisation of
        # cuBLAS and the allocator). They are not training: the parameters are put back after.
        saved = [(W.clone(), b.clone()) for W, b in params]
        if device.type == "cuda":
            side = torch.cuda.Stream(device)
            side.wait_stream(torch.cuda.current_stream(device))
            with torch.cuda.stream(side):
                for _ in range(3):
                    step(self.idx, self.loss_sum)
            torch.cuda.current_stream(device).wait_stream(side)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                step(self.idx, self.loss_sum)
        else:
            step(self.idx, self.loss_sum)  # one eager warm-up too, so tests can see it undone
        for (W, b), (W0, b0) in zip(params, saved):
            W.copy_(W0)
            b.copy_(b0)
        self.loss_sum.zero_()

    def __call__(self, idx: Tensor) -> None:
        self.idx.copy_(idx)
        if self.graph is None:
            self.step(self.idx, self.loss_sum)
        else:
            self.graph.replay()


def worker_layout(n_seeds: int, device, workers: int | None = None) -> tuple[int, int]:
    """(worker threads, intra-op threads per worker) of `StackedSGD` for `n_seeds` seeds.

    Default: on CPU one worker per torch thread (torch's default is one per core), at most one
    per seed; on other devices one worker. Several workers run single-threaded (measured on 2
    cores, see reports/benchmark.md); a lone worker keeps torch's thread count.
    """
    if workers is None:
        workers = min(n_seeds, torch.get_num_threads()) if torch.device(device).type == "cpu" else 1
    if not 1 <= workers <= n_seeds:
        raise ValueError(f"StackedSGD: workers = {workers}: need 1 to {n_seeds} (one per seed at most)")
    return workers, 1 if workers > 1 else torch.get_num_threads()


class StackedSGD:
    """Runs the SGD steps and the evaluations of one configuration on the data's device.

    `params` (stacked over all S seeds) are updated in place. The seeds are split into
    `workers` contiguous groups, each a stacked model of its own (views of `params`) trained by
    its own thread, all with the same per-op code (`advgrad.mlp.sgd_step`).

    - CPU, by default (`worker_layout`) one single-threaded worker per core. At batch 10 an op
      is too small to share between cores, and OpenMP's threads spin and stall as soon as a
      core is also busy with anything else; independent single-threaded workers simply share it.
    - CUDA: one group, and without dropout `graph=True`: the full-batch step is captured once as
      a CUDA graph and replayed. (`graph=True` on CPU runs the same static-buffer step eagerly;
      dropout configurations run eagerly, as their per-seed generators would need registering
      with the graph.)

    The grouping can change float rounding (see the module docstring), so a run is
    bit-identical to another only with the same worker count. Use as a context manager: it sets
    torch's intra-op thread count for the workers and restores it on exit, and a worker still
    inside an epoch when the block is left (an error, Ctrl-C) stops at its next step.
    """

    def __init__(self, cfg: TrainConfig, params: mlp.Params, dropout_rng: Sequence[torch.Generator],
                 train: tuple[Tensor, Tensor], workers: int | None = None, graph: bool | None = None):
        self.cfg, self.params = cfg, params
        self.x, self.y = train
        device = self.x.device
        n_seeds = len(cfg.seeds)
        workers, self.threads = worker_layout(n_seeds, device, workers)
        bounds = [round(i * n_seeds / workers) for i in range(workers + 1)]
        self.groups = [slice(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]  # contiguous seeds
        self._group_params = [[(W[g], b[g]) for W, b in params] for g in self.groups]
        self._group_rng = [list(dropout_rng[g]) for g in self.groups]
        self._stop = threading.Event()
        self._pool: ThreadPoolExecutor | None = None
        if graph is None:
            graph = device.type == "cuda" and not cfg.mlp.has_dropout
        if graph and (workers > 1 or cfg.mlp.has_dropout):
            raise ValueError("StackedSGD: graph=True needs one worker and no dropout")
        self._graph = graph
        self._captured: _CapturedStep | None = None

    def __enter__(self) -> "StackedSGD":
        if self._graph:
            step = lambda idx, loss_sum: self._step(0, idx, loss_sum)  # noqa: E731
            self._captured = _CapturedStep(step, self.params, (len(self.cfg.seeds), self.cfg.batch_size),
                                           self.x.device)
        self._stop.clear()
        self._saved_threads = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        self._pool = ThreadPoolExecutor(len(self.groups)) if len(self.groups) > 1 else None
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        torch.set_num_threads(self._saved_threads)

    def _map(self, fn: Callable[[int], Tensor]) -> Tensor:
        """fn(group) for every group, on the workers; results concatenated over the seed axis."""
        if self._pool is None:
            return torch.cat([fn(g) for g in range(len(self.groups))])
        return torch.cat(list(self._pool.map(fn, range(len(self.groups)))))

    def _step(self, group: int, idx: Tensor, loss_sum: Tensor) -> None:
        """One SGD step of one group on mini-batch `idx` (S_g, B); its summed loss into loss_sum."""
        cfg = self.cfg
        x, y = _gather(self.x, self.y, idx)                           # (S_g, B, in), (S_g, B)
        loss = mlp.sgd_step(self._group_params[group], x, y, cfg.mlp, cfg.lr, cfg.eps, cfg.clip,
                            self._group_rng[group])                   # (S_g,) stays on the device
        loss_sum.add_(loss, alpha=idx.shape[1])

    def _group_steps(self, group: int, order: Tensor) -> Tensor:
        """The steps of one group over its rows of the order (S_g, n); its summed loss (S_g,)."""
        loss_sum = torch.zeros(order.shape[0], device=order.device)  # (S_g,)
        if self._captured is not None:
            self._captured.loss_sum.zero_()
        for idx in order.split(self.cfg.batch_size, dim=1):           # (S_g, B); the last may be smaller
            if self._stop.is_set():
                raise _Stopped
            if self._captured is not None and idx.shape[1] == self.cfg.batch_size:
                self._captured(idx)
            else:
                self._step(group, idx, loss_sum)
        return loss_sum if self._captured is None else loss_sum + self._captured.loss_sum

    def steps(self, order: Tensor) -> Tensor:
        """SGD over the mini-batches of `order` (S, n): row s lists the training samples of seed s
        in the order it sees them. Returns each seed's loss summed over the n samples (S,)."""
        return self._map(lambda g: self._group_steps(g, order[self.groups[g]]))

    def errors(self, x: Tensor, y: Tensor) -> Tensor:
        """Clean error rate (S,) of every seed on the split (x (N, in), y (N,)), float64."""
        return self._map(lambda g: mlp.error_rate(self._group_params[g], x, y, self.cfg.mlp.activation))


def train(cfg: TrainConfig, train: tuple[Tensor, Tensor], test: tuple[Tensor, Tensor], device,
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
    state = init_state(cfg, device) if state is None else state

    params = [(W.to(device).clone(), b.to(device).clone()) for W, b in state["params"]]
    shuffle_rng = _generators(state["shuffle_rng"], "cpu")
    dropout_rng = _generators(state["dropout_rng"], device)
    curves = list(state["curves"])
    n = x_train.shape[0]

    with StackedSGD(cfg, params, dropout_rng, (x_train, y_train), workers) as sgd:
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


def summarize(curves: list[dict], seeds: Sequence[int], last_epochs: int) -> dict:
    """The paper's statistic (section 3): "the mean of the 10 last epochs averaged over 5 runs".

    Per seed, the mean test error over its last `last_epochs` epochs (all epochs if fewer were
    run); then the mean and sample standard deviation (ddof = 1; 0 for a single seed) across
    seeds. Everything in percent.
    """
    per_seed, final_train = [], []
    for seed in seeds:
        rows = sorted((r for r in curves if r["seed"] == seed), key=lambda r: r["epoch"])
        if not rows:
            raise ValueError(f"summarize: no curve rows for seed {seed}")
        tail = rows[-last_epochs:]
        per_seed.append(100 * sum(r["test_error"] for r in tail) / len(tail))
        final_train.append(100 * rows[-1]["train_error"])
    return {"error_pct": statistics.fmean(per_seed),
            "std_pct": statistics.stdev(per_seed) if len(per_seed) > 1 else 0.0,
            "n_seeds": len(per_seed),
            "seeds": list(seeds),
            "per_seed_pct": per_seed,
            "final_train_error_pct": statistics.fmean(final_train)}

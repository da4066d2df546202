"""MNIST training throughput: the reference step in a per-seed PyTorch loop against the stacked
module that `advgrad.mnist.trainer.train` runs (README, "Performance and cost"). Writes
reports/benchmark.md.

    python -m benchmarks.throughput            # 2x800 ReLU, batch 10, 5 seeds, eps 0 and 0.08
    python -m benchmarks.throughput --matrix   # + every MNIST training stage: cost per epoch, projected time
    python -m benchmarks.throughput --layouts  # + torch's intra-op threads vs worker threads (CPU)

(a) per-seed loop: the reference step, `advgrad.core.algorithm1.adversarial_step`, on one `build_mlp`
    `nn.Sequential` + `torch.optim.SGD` per seed, one seed after another; timed twice, with one
    intra-op thread and with torch's default threads.
(b) stacked module: what `train` runs, one `StackedMLP` of all S seeds stepped by `make_step(cfg)`
    (the same `adversarial_step`) with `torch.optim.SGD(foreach=True)`, torch's default threads.

(a)'s nets are (b)'s initial weights unstacked; both see the same batches, gathered as
`advgrad.core.training.fit` does (the gather is timed, fit's loss and error bookkeeping is not).
Hygiene: one process; random MNIST-shaped data (a dense product costs the same whatever the
pixels); a warm-up; then `repeats` rounds, each running every variant in turn, so that a change
of machine load hits all of them; medians; ratios are medians of the ratios of runs of the same
round; the load average before and after; on CUDA a synchronisation around every timed run.

Efficiency: a step's matrix-product FLOPs (`step_flops`: the passes it makes, 2 FLOPs per
multiply-add, times the batch and the models) per second, as a fraction of this machine's
`torch.mm` peak measured in the same run on the same device (the fastest of 5 float32 products
of 2048 x 2048 matrices, default threads).

The last line printed is machine-readable, `speedup=<x.xx> adversarial_ratio=<y.yy>
peak_fraction=<z.zzz>`: (b)'s per-model speed-up over (a) with default threads on the adversarial
step, (b)'s adversarial/standard ratio of a step's time, and (b)'s adversarial GFLOP/s over the peak.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import resource
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import Tensor

from advgrad.core.algorithm1 import adversarial_step
from advgrad.core.dropout import use_generators
from advgrad.core.evaluation import error_rate
from advgrad.core.io import save_text
from advgrad.core.names import ACTIVATIONS
from advgrad.mnist.model import StackedMLP, bce_loss, to_modules
from advgrad.mnist.trainer import MnistConfig, make_step
from stages.common import ROOT
from stages.params import load_params
from stages.train_mnist import build_config

PARAMS = load_params(ROOT / "params.yaml")  # the settings every stage reads (the paper's, section 3)
EPS = PARAMS.eps
N_TRAIN, N_FIT, N_TEST = 60000, 50000, 10000  # MNIST training, fit (no validation), test
FASTER = 1.15  # the layout rule: worker threads replace torch's own only if this much faster
VARIANTS = {"a1": "(a) per-seed loop, 1 thread", "a": "(a) per-seed loop, default threads", "b": "(b) stacked module"}


def config(units: int, activation: str, eps: float, seeds, batch_size: int) -> MnistConfig:
    """The training stage's configuration of the net (stages.train_mnist.build_config), at `eps`
    (0: back-propagation), one epoch of `batch_size` over `seeds`."""
    cfg = build_config(PARAMS, activation, units, "adversarial" if eps > 0 else "backprop")
    return dataclasses.replace(cfg, eps=eps, epochs=1, batch_size=batch_size, seeds=tuple(int(s) for s in seeds))


def timed(device: torch.device, fn, *args) -> float:
    """Seconds `fn(*args)` takes; on CUDA the queued work is waited for before and after."""
    sync = torch.cuda.synchronize if device.type == "cuda" else lambda _: None
    sync(device)
    start = time.perf_counter()
    fn(*args)
    sync(device)
    return time.perf_counter() - start


@contextmanager
def intra_op_threads(n: int | None):
    """torch's intra-op thread count set to `n` (None: left alone), restored afterwards."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class Runner:
    """Trains on consecutive mini-batches of a fixed (S, n) order, one permutation per seed."""

    def __init__(self, cfg: MnistConfig, x: Tensor, y: Tensor, order: Tensor):
        self.cfg, self.x, self.y, self.order, self.pos = cfg, x, y, order, 0

    def run(self, steps: int) -> float:
        """Seconds for `steps` training steps of every seed."""
        n = steps * self.cfg.batch_size
        order, self.pos = self.order[:, self.pos : self.pos + n], self.pos + n
        assert order.shape[1] == n, "benchmark data too short for the steps asked"
        return timed(self.x.device, self._steps, order)


class PerSeed(Runner):
    """(a): one `build_mlp` net + `torch.optim.SGD` per seed, trained one seed after another."""

    def __init__(self, cfg: MnistConfig, x: Tensor, y: Tensor, order: Tensor):
        super().__init__(cfg, x, y, order)
        start = StackedMLP(cfg.mlp, cfg.seeds, cfg.init_std).state_dict()  # (b)'s initial weights
        self.models = [m.train().to(x.device) for m in to_modules(start, cfg.mlp)]
        self.opts = [torch.optim.SGD(m.parameters(), lr=cfg.lr) for m in self.models]

    def _steps(self, order: Tensor) -> None:
        x, y, eps = self.x, self.y, self.cfg.eps
        for model, opt, seed_order in zip(self.models, self.opts, order, strict=True):
            for idx in seed_order.split(self.cfg.batch_size):
                adversarial_step(model, bce_loss, opt, x.index_select(0, idx), y.index_select(0, idx), eps)


class Stacked(Runner):
    """(b): all seeds at once, as `advgrad.mnist.trainer.train` steps them."""

    def __init__(self, cfg: MnistConfig, x: Tensor, y: Tensor, order: Tensor):
        super().__init__(cfg, x, y, order)
        self.model = StackedMLP(cfg.mlp, cfg.seeds, cfg.init_std).to(x.device)
        use_generators(self.model, [torch.Generator(device=x.device).manual_seed(s) for s in cfg.seeds])
        self.opt = torch.optim.SGD(self.model.parameters(), lr=cfg.lr, foreach=True)
        self.step = make_step(cfg)
        # What a step itself draws (the random control's signs, VAT's start direction), per seed.
        self.noise = [torch.Generator(device=x.device).manual_seed(1000 + s) for s in cfg.seeds]

    def _steps(self, order: Tensor) -> None:
        x, y = self.x, self.y
        self.model.train()  # an evaluation leaves it in eval mode
        for idx in order.split(self.cfg.batch_size, dim=1):  # (S, B)
            xb = x.index_select(0, idx.reshape(-1)).view(*idx.shape, x.shape[1])
            self.step(self.model, self.opt, xb, y.index_select(0, idx.reshape(-1)).view(idx.shape), self.noise)

    def eval_seconds(self, n: int) -> float:
        """Seconds to measure every seed's error on n images, as `train` does every epoch."""
        return timed(self.x.device, error_rate, self.model, self.x[:n], self.y[:n])


def _data(n: int, seeds: int, device, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """n random MNIST-shaped samples and an (S, n) order: one permutation per seed."""
    g = torch.Generator().manual_seed(seed)
    x, y = torch.rand(n, 784, generator=g), torch.randint(0, 10, (n,), generator=g)
    order = torch.stack([torch.randperm(n, generator=g) for _ in range(seeds)])
    return x.to(device), y.to(device), order.to(device)


def step_flops(sizes: tuple[int, ...], adversarial: bool, batch_size: int = 1, models: int = 1) -> int:
    """Matrix-product FLOPs (2 per multiply-add) of one training step of `models` nets.

    Per layer a pass costs in*out multiply-adds per sample. A standard step is a forward pass,
    the weight gradients, and the input gradients of layers 2..L (nobody needs the input
    layer's: the input does not require a gradient); the adversarial step adds a forward pass
    and the input gradients of ALL layers (steps 1-2 of Algorithm 1).
    """
    layers = [i * o for i, o in zip(sizes[:-1], sizes[1:], strict=True)]
    macs = 2 * sum(layers) + sum(layers[1:]) + (2 * sum(layers) if adversarial else 0)
    return 2 * macs * batch_size * models


def flop_ratio(sizes: tuple[int, ...]) -> tuple[float, float]:
    """Adversarial/standard ratio of matrix-product FLOPs: (ours, the paper's count). The
    paper's 5/3 counts the first layer's input gradient in the standard step too."""
    return step_flops(sizes, True) / step_flops(sizes, False), 5 / 3


def mm_peak(device: torch.device, n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of the fastest of `repeats` float32 n x n `torch.mm` (2 n^3 FLOPs), after an untimed one."""
    g = torch.Generator().manual_seed(0)
    a, b = (torch.rand(n, n, generator=g).to(device) for _ in range(2))
    timed(device, torch.mm, a, b)
    return 2 * n**3 / min(timed(device, torch.mm, a, b) for _ in range(repeats)) / 1e9


def _paired(numerators: list[float], denominators: list[float]) -> float:
    """Median of the ratios of paired runs: the runs of one round are seconds apart, so a slow
    spell of the machine cancels out better than in a ratio of medians."""
    return statistics.median(a / b for a, b in zip(numerators, denominators, strict=True))


# --- measurements --------------------------------------------------------------------------------


def compare(args, device: torch.device) -> dict:
    """(a) with 1 and with default threads, and (b); standard and adversarial; seconds per step of all seeds."""
    n = max((args.warmup + args.repeats * args.steps) * args.batch_size, args.eval_samples)
    x, y, order = _data(n, args.seeds, device)
    runners = {}  # a variant's standard and adversarial runs are back to back: their ratio is paired
    for variant, cls, threads in (("a1", PerSeed, 1), ("a", PerSeed, None), ("b", Stacked, None)):
        for eps in (0.0, EPS):
            cfg = config(args.units, args.activation, eps, range(args.seeds), args.batch_size)
            runners[(variant, eps)] = (cls(cfg, x, y, order), threads)
    times = {key: [] for key in runners}
    for rnd in range(-1, args.repeats):  # round -1: the warm-up
        for key, (runner, threads) in runners.items():
            with intra_op_threads(threads):
                t = runner.run(args.warmup if rnd < 0 else args.steps)
            if rnd >= 0:
                times[key].append(t / args.steps)
    b = runners[("b", EPS)][0]
    evals = [b.eval_seconds(args.eval_samples) / args.eval_samples for _ in range(min(3, args.repeats))]
    return {
        "all": times,
        "step": {k: statistics.median(t) for k, t in times.items()},
        "eval_per_sample": statistics.median(evals),
    }


def epoch_seconds(step: float, eval_per_sample: float, n_train: int, batch_size: int) -> float:
    """An epoch of `train`: n_train / B steps, then the errors on the training and test split."""
    return (n_train // batch_size) * step + eval_per_sample * (n_train + N_TEST)


def cost_matrix(args, device: torch.device) -> list[dict]:
    """Seconds per epoch (all seeds) of every MNIST training stage of dvc.yaml with (b): the median of
    `matrix_repeats` runs and of up to 3 evaluations of `eval_samples` images, extrapolated to an epoch."""
    units, steps, B, S = [int(u) for u in args.matrix_units.split(",")], args.matrix_steps, args.batch_size, args.seeds
    x, y, order = _data(max((args.warmup + args.matrix_repeats * steps) * B, args.eval_samples), S, device, seed=1)
    stages = [
        (u, a, m, N_TRAIN)
        for u in units
        for a in args.matrix_activations.split(",")
        for m in args.matrix_methods.split(",")
    ]
    # The FGSM-transfer / Figure 2-3 nets: 2x400 ReLU on the training set without validation.
    fit = ("backprop", "adversarial", "random", "dropout")
    stages += [(400 if 400 in units else units[0], "relu", m, N_FIT) for m in fit]
    params = PARAMS  # each method's settings, as its training stage reads them
    rows = []
    for u, a, method, n_train in stages:
        cfg = dataclasses.replace(build_config(params, a, u, method), epochs=1, batch_size=B, seeds=tuple(range(S)))
        r = Stacked(cfg, x, y, order)
        r.run(args.warmup)
        step = statistics.median(r.run(steps) / steps for _ in range(args.matrix_repeats))
        per_sample = (
            statistics.median(r.eval_seconds(args.eval_samples) for _ in range(min(3, args.matrix_repeats)))
            / args.eval_samples
        )
        rows.append(
            {
                "stage": f"{'train-fit' if n_train == N_FIT else 'train'}-{method}",
                "config": f"2x{u} {a}",
                "n_train": n_train,
                "step_ms": 1e3 * step,
                "train_s": (n_train // B) * step,
                "eval_s": per_sample * (n_train + N_TEST),
                "epoch_s": epoch_seconds(step, per_sample, n_train, B),
            }
        )
        print(
            f"  {rows[-1]['stage']:22s} {rows[-1]['config']:15s} {rows[-1]['epoch_s']:7.1f} s/epoch ({S} seeds)",
            flush=True,
        )
    return rows


def _single_threaded(runner: Stacked, steps: int) -> int:
    # OpenMP and MKL thread counts are per thread once a thread has run torch code: set this
    # worker's own, and report what it ran with.
    torch.set_num_threads(1)
    runner.run(steps)
    return torch.get_num_threads()


def layouts(args) -> list[dict]:
    """(b)'s adversarial step on the CPU: (i) one stacked module of all S seeds on torch's default
    threads, against (ii) min(S, torch.get_num_threads()) single-threaded workers, each training a
    stacked module of a contiguous share of the seeds; in rounds, ratios paired."""
    steps, B, rows = args.steps, args.batch_size, []
    for units in (int(u) for u in args.layout_units.split(",")):
        for S in (int(s) for s in args.layout_seeds.split(",")):
            x, y, order = _data((args.warmup + args.repeats * steps) * B, S, torch.device("cpu"), seed=3)
            one = Stacked(config(units, args.activation, EPS, range(S), B), x, y, order)
            shares = [s.tolist() for s in torch.arange(S).tensor_split(min(S, torch.get_num_threads()))]
            split = [Stacked(config(units, args.activation, EPS, s, B), x, y, order[s]) for s in shares]
            times, seen = {"i": [], "ii": []}, set()
            with ThreadPoolExecutor(len(split)) as pool:
                for rnd in range(-1, args.repeats):  # round -1: the warm-up
                    k = args.warmup if rnd < 0 else steps
                    t_one = one.run(k)
                    with intra_op_threads(1):
                        start = time.perf_counter()
                        seen.update(pool.map(_single_threaded, split, [k] * len(split)))
                        t_split = time.perf_counter() - start
                    if rnd >= 0:
                        times["i"].append(t_one / steps / S)
                        times["ii"].append(t_split / steps / S)
            assert seen == {1}, f"worker threads ran with {seen} intra-op threads"
            rows.append(
                {
                    "net": f"2x{units} {args.activation}",
                    "seeds": S,
                    "workers": len(split),
                    "one_ms": 1e3 * statistics.median(times["i"]),
                    "ratio": _paired(times["ii"], times["i"]),
                    "split_ms": 1e3 * statistics.median(times["ii"]),
                }
            )
            print(
                "  {net}, {seeds} seeds: (i) {one_ms:.2f}, (ii) {workers} workers {split_ms:.2f} ms/step per model; "
                "(ii)/(i) {ratio:.2f}".format(**rows[-1]),
                flush=True,
            )
    return rows


# --- report --------------------------------------------------------------------------------------


def _machine(device: torch.device, default_threads: int) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "device": str(device),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "default_threads": default_threads,
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
    }


def _peak_memory(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB CUDA max allocated"
    # ru_maxrss is in KiB on Linux: the peak of the whole process, every variant and the data.
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.0f} MiB CPU max RSS (whole process)"


def headline(args, res: dict, peak_gflops: float) -> dict:
    runs, sizes = res["all"], (784, args.units, args.units, 10)
    gflops = {k: step_flops(sizes, k[1] > 0, args.batch_size, args.seeds) / t / 1e9 for k, t in res["step"].items()}
    return {
        "speedup": _paired(runs[("a", EPS)], runs[("b", EPS)]),
        "speedup_standard": _paired(runs[("a", 0.0)], runs[("b", 0.0)]),
        "speedup_1thread": _paired(runs[("a1", EPS)], runs[("b", EPS)]),
        "adversarial_ratio": _paired(runs[("b", EPS)], runs[("b", 0.0)]),
        "ratios": {v: _paired(runs[(v, EPS)], runs[(v, 0.0)]) for v in VARIANTS},
        "gflops": gflops,
        "peak_gflops": peak_gflops,
        "peak_fraction": gflops[("b", EPS)] / peak_gflops,
    }


def render(
    args,
    machine: dict,
    res: dict,
    head: dict,
    matrix: list[dict] | None,
    layout: list[dict] | None,
    load: tuple[float, float],
    memory: str,
) -> str:
    B, S, peak = args.batch_size, args.seeds, head["peak_gflops"]
    epoch = {eps: epoch_seconds(res["step"][("b", eps)], res["eval_per_sample"], N_TRAIN, B) for eps in (0.0, EPS)}
    ours_flops, paper_flops = flop_ratio((784, args.units, args.units, 10))
    lines = [
        "# Training throughput: the reference step in a per-seed loop vs the stacked module",
        "",
        f"Generated by `{' '.join(['python -m benchmarks.throughput', *args.argv])}` (see that module for the "
        "method). Do not edit by hand.",
        "",
        f"- Net: 784-{args.units}-{args.units}-10 {args.activation}, batch {B}, eps {EPS} (paper section 3); "
        f"{S} seeds: (a) one after another, (b) all at once.",
        f"- Machine: {machine['cpu']}, {machine['cores']} cores; device {machine['device']}"
        + (f" ({machine['gpu']})" if machine["gpu"] else "")
        + f"; torch {machine['torch']}, Python {machine['python']}.",
        f"- Threads: torch's default is {machine['default_threads']} intra-op thread(s); (a) runs with 1 and with "
        "the default, (b) with the default.",
        f"- Matrix-product peak: {peak:.1f} GFLOP/s, the fastest of 5 float32 `torch.mm` of {args.peak_size} x "
        f"{args.peak_size} matrices on {machine['device']}, default threads.",
        f"- Timing: {args.warmup} warm-up steps, then {args.repeats} rounds of {args.steps} steps of every variant "
        f"in turn; medians. Load average (1 min) {load[0]:.2f} before, {load[1]:.2f} after.",
        f"- Peak memory: {memory}.",
        "",
        "| | step | ms per step per model | samples/s per model | GFLOP/s | fraction of mm peak |",
        "|---|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {VARIANTS[v]} | {'adversarial' if eps else 'standard'} | {1e3 * t / S:.2f} | {S * B / t:.0f} | "
        f"{head['gflops'][(v, eps)]:.2f} | {head['gflops'][(v, eps)] / peak:.3f} |"
        for (v, eps), t in res["step"].items()
    ]
    lines += [
        "",
        f"**Speed-up of (b) over (a) with default threads, per model, adversarial step: {head['speedup']:.2f}x** "
        f"(standard step: {head['speedup_standard']:.2f}x; over (a) with 1 thread, adversarial step: "
        f"{head['speedup_1thread']:.2f}x). Speed-ups and ratios are medians of the ratios of runs of one round.",
        "",
        f"**Adversarial/standard cost ratio of a training step, (b): {head['adversarial_ratio']:.2f}** ((a) "
        f"with 1 thread: {head['ratios']['a1']:.2f}; with default threads: {head['ratios']['a']:.2f}). The paper says "
        f'the extra pass adds "roughly 70%" (section 5). Counting matrix-product FLOPs gives 5/3 = {paper_flops:.2f} '
        "when the standard step back-propagates to the input layer, as a generic layer library does; the standard "
        "step here skips the first layer's input gradient (nothing uses it), which makes the honest FLOP ratio for "
        f"this net {ours_flops:.2f}. Elementwise work and per-op overheads move the measured ratio either way.",
        "",
        f"**Fraction of the `torch.mm` peak, (b)'s adversarial step: {head['peak_fraction']:.3f}** "
        f"({head['gflops'][('b', EPS)]:.2f} of {peak:.1f} GFLOP/s; FLOPs as counted above, 2 per multiply-add, "
        f"times the batch and the {S} models). A batch of {B} makes every product thin; a fraction of the peak "
        "compares across machines better than a time.",
        "",
        f"Per epoch *including evaluation*, (b) ({N_TRAIN // B} steps, then the clean error on {N_TRAIN} training "
        f"+ {N_TEST} test images, as `train` does for Figure 1): {epoch[0.0]:.1f} s standard, {epoch[EPS]:.1f} s "
        f"adversarial for {S} seeds ({epoch[0.0] / S:.1f} / {epoch[EPS] / S:.1f} s per model); ratio "
        f"{epoch[EPS] / epoch[0.0]:.2f} (evaluation costs both the same and dilutes the step ratio above).",
        "",
        "All timed runs (ms per step per model, in order):",
        "",
    ]
    lines += [
        f"- {VARIANTS[v]}, eps={eps}: " + ", ".join(f"{1e3 * t / S:.2f}" for t in ts)
        for (v, eps), ts in res["all"].items()
    ]
    if matrix:
        lines += [
            "",
            f"## Cost of every MNIST training stage on this machine ({S} seeds per stage, (b))",
            "",
            f"Measured per stage: the median of {args.matrix_repeats} runs of {args.matrix_steps} steps and of "
            f"{min(3, args.matrix_repeats)} evaluations of {args.eval_samples} images, extrapolated to a full epoch "
            "(a projection, not a measured epoch). Stages run one after another here; on a machine shared with "
            "other jobs the spread between neighbouring rows is noise.",
            "",
            "| stage | net | train images | ms per step | train s/epoch | eval s/epoch | s/epoch | s/epoch per model |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {r['stage']} | {r['config']} | {r['n_train']} | {r['step_ms']:.2f} | {r['train_s']:.1f} | "
            f"{r['eval_s']:.1f} | {r['epoch_s']:.1f} | {r['epoch_s'] / S:.1f} |"
            for r in matrix
        ]
        lines += [
            "",
            f"**Projected wall time of the MNIST protocol on this machine, {args.epochs} epochs, {S} seeds, "
            f"stages one after another: {sum(r['epoch_s'] for r in matrix) * args.epochs / 3600:.1f} h** "
            f"({len(matrix)} training stages; attack, white-box, analysis and report stages not included, "
            "they take minutes).",
        ]
    if layout:
        rule = f"{round((FASTER - 1) * 100)} %"
        lines += [
            "",
            "## CPU layout: torch's intra-op threads vs worker threads",
            "",
            f"(b)'s adversarial step on the CPU, batch {B}: (i) one stacked module of all seeds on torch's default "
            f"{machine['default_threads']} intra-op thread(s), against (ii) worker threads (a `ThreadPoolExecutor`, "
            "as many as torch's default threads, at most one per seed), each with 1 intra-op thread and its own "
            f"stacked module of a contiguous share of the seeds. {args.repeats} rounds of {args.steps} steps after "
            f"{args.warmup} warm-up steps; (ii)/(i) is the median of the paired ratios of times. **Rule: the simpler "
            f"layout (i) is kept unless (ii) is at least {rule} faster** ((ii)/(i) at most {1 / FASTER:.3f}).",
            "",
            "| net | seeds | (i) ms/step per model | (ii) workers | (ii) ms/step per model | (ii)/(i) | verdict |",
            "|---|---:|---:|---:|---:|---:|---|",
        ]
        lines += [
            f"| {r['net']} | {r['seeds']} | {r['one_ms']:.2f} | {r['workers']} | {r['split_ms']:.2f} | "
            f"{r['ratio']:.2f} | {f'(ii), at least {rule} faster' if r['ratio'] <= 1 / FASTER else 'keep (i)'} |"
            for r in layout
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    ap.add_argument("--units", type=int, default=800, help="hidden units per layer (default 800)")
    ap.add_argument("--activation", choices=sorted(ACTIVATIONS), default="relu")
    ap.add_argument("--seeds", type=int, default=5, help="seeds: (a) loops over them, (b) stacks them (default 5)")
    ap.add_argument("--batch-size", type=int, default=10)
    ap.add_argument("--steps", type=int, default=100, help="steps per timed run (default 100)")
    ap.add_argument("--repeats", type=int, default=7, help="timed rounds (default 7)")
    ap.add_argument("--warmup", type=int, default=20, help="untimed steps first (default 20)")
    ap.add_argument(
        "--eval-samples",
        type=int,
        default=10000,
        help="images of the timed evaluation, extrapolated to 70000 (default 10000)",
    )
    ap.add_argument("--peak-size", type=int, default=2048, help="matrix size of the torch.mm peak (default 2048)")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda (default auto)")
    ap.add_argument("--matrix", action="store_true", help="also time every MNIST training stage, project the protocol")
    ap.add_argument("--matrix-units", default="400,800,1200")
    ap.add_argument("--matrix-activations", default="logistic,tanh,relu")
    ap.add_argument("--matrix-methods", default="backprop,adversarial,goodfellow,random,vat")
    ap.add_argument("--matrix-steps", type=int, default=200, help="steps per timed run (default 200)")
    ap.add_argument("--matrix-repeats", type=int, default=3, help="timed runs per stage (default 3)")
    ap.add_argument("--epochs", type=int, default=150, help="epochs of the projection (paper: 150)")
    ap.add_argument("--layouts", action="store_true", help="also time torch's threads against worker threads (CPU)")
    ap.add_argument("--layout-units", default="400,800")
    ap.add_argument("--layout-seeds", default="2,5")
    ap.add_argument("--out", type=Path, default=Path("reports/benchmark.md"))
    args = ap.parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit(
            "benchmarks.throughput: --device cuda but no CUDA device is available (use --device auto or cpu)"
        )
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    default_threads, load_before = torch.get_num_threads(), os.getloadavg()[0]
    print(
        f"device {device}, torch {torch.__version__}, default threads {default_threads}; "
        f"load average {load_before:.2f}",
        flush=True,
    )
    peak = mm_peak(device, args.peak_size)
    print(f"torch.mm peak: {peak:.1f} GFLOP/s ({args.peak_size} x {args.peak_size}, float32)", flush=True)
    res = compare(args, device)
    head = headline(args, res, peak)
    for (v, eps), t in res["step"].items():
        g = head["gflops"][(v, eps)]
        print(
            f"{VARIANTS[v]:35s} {'adversarial' if eps else 'standard':11s} {1e3 * t / args.seeds:8.2f} ms/step "
            f"per model {g:8.2f} GFLOP/s ({g / peak:.3f} of peak)",
            flush=True,
        )
    matrix = layout = None
    if args.matrix:
        print("cost per epoch of every MNIST training stage:", flush=True)
        matrix = cost_matrix(args, device)
    if args.layouts:
        print("CPU layout, (b)'s adversarial step:", flush=True)
        layout = layouts(args)
    assert torch.get_num_threads() == default_threads  # every variant restored the thread count
    memory = _peak_memory(device)
    save_text(
        render(
            args,
            _machine(device, default_threads),
            res,
            head,
            matrix,
            layout,
            (load_before, os.getloadavg()[0]),
            memory,
        ),
        args.out,
    )
    print(
        f"(b) over (a), adversarial step: {head['speedup_1thread']:.2f}x over 1 thread; adversarial/standard: "
        f"(a) {head['ratios']['a']:.2f}, FLOP count {flop_ratio((784, args.units, args.units, 10))[0]:.2f}; "
        f"peak memory {memory}; wrote {args.out}"
    )
    print(
        f"speedup={head['speedup']:.2f} adversarial_ratio={head['adversarial_ratio']:.2f} "
        f"peak_fraction={head['peak_fraction']:.3f}",
        flush=True,
    )
    return head


if __name__ == "__main__":
    main()

"""MNIST training throughput: the reference step in a plain PyTorch loop against advgrad's fast
path (README, "Performance and cost"). Writes reports/benchmark.md.

    python -m benchmarks.throughput                          # 2x800 ReLU, batch 10, 5 seeds: ~1.5 min
    python -m benchmarks.throughput --steps 150 --repeats 5  # under a minute
    python -m benchmarks.throughput --matrix                 # + every MNIST training stage: cost
                                                             #   per epoch, projected time (+2 min)
    python -m benchmarks.throughput --device cuda --check    # a new GPU: the CUDA-graph step
                                                             #   against the eager step, first

The paper's MNIST net (section 3: 784-h-h-10, batch 10, plain SGD) is trained two ways, with
standard back-propagation (eps = 0) and adversarial back-propagation (Algorithm 1, eps = 0.08):

(a) plain: the reference implementation of the method, `advgrad.algorithm1.adversarial_step`
    (autograd, the first pass computing only the input gradient) on one `nn.Sequential`
    (`advgrad.mnist_model.build_mlp`) + `torch.optim.SGD` per model, one model at a time,
    torch's default threads.
(b) ours: `advgrad.stacked.StackedSGD.steps`, exactly what `mnist_trainer.train()` runs: all
    seeds at once, hand-written passes.

Measurement hygiene: one process; the same data for both (random MNIST-shaped inputs: dense
matrix products cost the same whatever the pixels); a warm-up; then `repeats` timed runs that
alternate (a) and (b), so that a change of machine load hits both; medians are reported, and
the load average before and after. The last line printed is machine-readable:
`speedup=<x.xx> adversarial_ratio=<y.yy>`, (b)'s per-model speed-up over (a) on the adversarial
step and (b)'s adversarial/standard cost ratio of a training step.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from advgrad import stacked
from advgrad.algorithm1 import adversarial_step
from advgrad.io import save_text
from advgrad.mnist_model import ACTIVATIONS, MLPConfig, bce_loss, build_mlp
from advgrad.mnist_trainer import MnistConfig, stream_seed

EPS = 0.08                                             # paper section 3
LR = {"logistic": 0.5, "tanh": 0.01, "relu": 0.05}     # paper section 3 (params.yaml)
DROPOUT = (0.2, 0.5)                                   # params.yaml mnist.dropout (Figure 2 net)
N_TRAIN, N_FIT, N_TEST = 60000, 50000, 10000           # MNIST training, fit (no validation), test


@dataclass(frozen=True)
class Setting:
    """One timed configuration: a 784-units-units-10 net, eps (0: standard back-propagation),
    the number of seeds (b) trains at once, the batch size, and dropout (the Figure 2 net)."""
    units: int
    activation: str
    eps: float
    seeds: int
    batch_size: int
    dropout: bool = False

    @property
    def sizes(self) -> tuple[int, ...]:
        return (784, self.units, self.units, 10)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --- (a) the plain loop ------------------------------------------------------------------------

def plain_model(units: int, activation: str, device) -> nn.Sequential:
    model = build_mlp(MLPConfig((784, units, units, 10), activation)).to(device)
    for layer in model:
        if isinstance(layer, nn.Linear):  # N(0, 0.01) weights, zero biases (section 3)
            nn.init.normal_(layer.weight, 0.0, 0.01)
            nn.init.zeros_(layer.bias)
    return model


class Plain:
    """(a): one model trained on consecutive mini-batches of a fixed permutation."""

    def __init__(self, s: Setting, x: Tensor, y: Tensor, order: Tensor):
        self.s, self.x, self.y, self.order, self.pos = s, x, y, order, 0
        self.model = plain_model(s.units, s.activation, x.device)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR[s.activation])

    def run(self, steps: int) -> float:
        """Seconds for `steps` training steps."""
        B, x, y = self.s.batch_size, self.x, self.y
        batches = self.order[self.pos:self.pos + steps * B].split(B)
        self.pos += steps * B
        _sync(x.device)
        start = time.perf_counter()
        for idx in batches:
            adversarial_step(self.model, bce_loss, self.opt, x[idx], y[idx], self.s.eps)
        _sync(x.device)
        return time.perf_counter() - start


# --- (b) advgrad's trainer ---------------------------------------------------------------------

class Ours:
    """(b): `StackedSGD.steps` on all seeds, as `advgrad.mnist_trainer.train` runs it."""

    def __init__(self, s: Setting, x: Tensor, y: Tensor, order: Tensor, workers: int | None):
        self.s, self.x, self.y, self.order, self.pos, self.workers = s, x, y, order, 0, workers
        self.cfg = MnistConfig(
            MLPConfig(s.sizes, s.activation, *(DROPOUT if s.dropout else (0.0, 0.0))),
            lr=LR[s.activation], eps=s.eps, epochs=1, batch_size=s.batch_size, init_std=0.01,
            seeds=tuple(range(s.seeds)))
        device = x.device
        self.params = stacked.init_params(self.cfg.mlp, self.cfg.seeds, self.cfg.init_std, device)
        self.rng = [torch.Generator(device=device).manual_seed(stream_seed(seed, "dropout"))
                    for seed in self.cfg.seeds]

    def _sgd(self) -> stacked.StackedSGD:
        return stacked.StackedSGD(self.cfg, self.params, self.rng, (self.x, self.y), self.workers)

    def run(self, steps: int) -> float:
        """Seconds for `steps` training steps of every seed (the worker set-up is not timed)."""
        order = self.order[:, self.pos:self.pos + steps * self.s.batch_size]  # (S, steps * B)
        self.pos += steps * self.s.batch_size
        with self._sgd() as sgd:
            _sync(self.x.device)
            start = time.perf_counter()
            sgd.steps(order)
            _sync(self.x.device)
            return time.perf_counter() - start

    def eval_seconds(self, x: Tensor, y: Tensor) -> float:
        """Seconds to measure the error of every seed on (x, y), as `train` does every epoch."""
        with self._sgd() as sgd:
            _sync(x.device)
            start = time.perf_counter()
            sgd.errors(x, y)
            _sync(x.device)
            return time.perf_counter() - start


def _data(n: int, seeds: int, device, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """n random MNIST-shaped samples and an (S, n) order: one permutation per seed."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 784, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    order = torch.stack([torch.randperm(n, generator=g) for _ in range(seeds)])
    return x.to(device), y.to(device), order.to(device)


def flop_ratio(sizes: tuple[int, ...]) -> tuple[float, float]:
    """Adversarial/standard ratio of matrix-product FLOPs: (ours, the paper's count).

    Per layer a pass costs in*out multiply-adds per sample. A standard step is a forward pass,
    the weight gradients, and the input gradients of layers 2..L (ours: nobody needs the input
    layer's); the adversarial step adds a forward pass and the input gradients of ALL layers.
    The paper's 5/3 counts the first layer's input gradient in the standard step too.
    """
    layers = [i * o for i, o in zip(sizes[:-1], sizes[1:], strict=True)]
    total, above_first = sum(layers), sum(layers[1:])
    ours = (2 * total + above_first + 2 * total) / (2 * total + above_first)
    return ours, 5 / 3


# --- measurements --------------------------------------------------------------------------------

def compare(units: int, activation: str, seeds: int, batch_size: int, steps: int, repeats: int,
            warmup: int, eval_samples: int, device: torch.device, workers: int | None) -> dict:
    """(a) and (b), standard and adversarial, timed alternately; medians in seconds per step."""
    n = max((warmup + repeats * steps) * batch_size, eval_samples)
    x, y, order = _data(n, seeds, device)
    runners = {}
    for eps in (0.0, EPS):
        s = Setting(units, activation, eps, seeds, batch_size)
        runners[("plain", eps)] = Plain(s, x, y, order[0])
        runners[("ours", eps)] = Ours(s, x, y, order, workers)
    for r in runners.values():
        r.run(warmup)
    times = {key: [] for key in runners}
    for _ in range(repeats):
        for key, r in runners.items():
            times[key].append(r.run(steps) / steps)
    evals = [runners[("ours", EPS)].eval_seconds(x[:eval_samples], y[:eval_samples]) / eval_samples
             for _ in range(repeats)]
    return {"step": {key: statistics.median(t) for key, t in times.items()},
            "all": times, "eval_per_sample": statistics.median(evals)}


def epoch_seconds(step: float, eval_per_sample: float, n_train: int, batch_size: int) -> float:
    """An epoch of `train`: n_train / B steps, then the errors on the training and test split."""
    return (n_train // batch_size) * step + eval_per_sample * (n_train + N_TEST)


def cost_matrix(units: list[int], activations: list[str], seeds: int, batch_size: int, steps: int,
                repeats: int, warmup: int, eval_samples: int, device: torch.device,
                workers: int | None) -> list[dict]:
    """Seconds per epoch (all seeds) of every MNIST training stage of dvc.yaml: the median of
    `repeats` runs of `steps` steps and of up to 3 evaluations of `eval_samples` images,
    extrapolated to a full epoch."""
    n = max((warmup + repeats * steps) * batch_size, eval_samples)
    x, y, order = _data(n, seeds, device, seed=1)
    stages = [(u, a, m, N_TRAIN) for u in units for a in activations for m in ("backprop", "adversarial")]
    # The FGSM-transfer / Figure 2-3 nets: 2x400 ReLU on the training set without validation.
    fit_units = 400 if 400 in units else units[0]
    stages += [(fit_units, "relu", m, N_FIT) for m in ("backprop", "adversarial", "dropout")]
    rows = []
    for u, a, method, n_train in stages:
        s = Setting(u, a, EPS if method == "adversarial" else 0.0, seeds, batch_size, method == "dropout")
        r = Ours(s, x, y, order, workers)
        r.run(warmup)
        step = statistics.median(r.run(steps) / steps for _ in range(repeats))
        per_sample = statistics.median(r.eval_seconds(x[:eval_samples], y[:eval_samples])
                                       for _ in range(min(3, repeats))) / eval_samples
        rows.append({"stage": f"{'train-fit' if n_train == N_FIT else 'train'}-{method}",
                     "config": f"2x{u} {a}", "n_train": n_train, "step_ms": 1e3 * step,
                     "train_s": (n_train // batch_size) * step,
                     "eval_s": per_sample * (n_train + N_TEST),
                     "epoch_s": epoch_seconds(step, per_sample, n_train, batch_size)})
        print(f"  {rows[-1]['stage']:22s} {rows[-1]['config']:15s} {rows[-1]['epoch_s']:7.1f} s/epoch "
              f"({seeds} seeds)", flush=True)
    return rows


def check_graph(units: int, activation: str, seeds: int, batch_size: int, steps: int,
                device: torch.device) -> dict:
    """Train the same seeds for `steps` steps with the CUDA-graph step and with the eager step,
    from the same start; the largest differences of the parameters and of the summed loss.
    (On a CPU the graph path runs its static-buffer step eagerly: nothing is captured.)"""
    x, y, order = _data(steps * batch_size, seeds, device, seed=2)
    cfg = MnistConfig(MLPConfig((784, units, units, 10), activation), lr=LR[activation], eps=EPS, epochs=1,
                      batch_size=batch_size, init_std=0.01, seeds=tuple(range(seeds)))
    out = []
    for graph in (False, True):
        params = stacked.init_params(cfg.mlp, cfg.seeds, cfg.init_std, device)
        rng = [torch.Generator(device=device).manual_seed(stream_seed(s, "dropout")) for s in cfg.seeds]
        with stacked.StackedSGD(cfg, params, rng, (x, y), workers=1, graph=graph) as sgd:
            loss = sgd.steps(order)
            captured = sgd._captured is not None and sgd._captured.graph is not None
        out.append((params, loss, captured))
    (eager, eager_loss, _), (graphed, graph_loss, captured) = out
    diff = max(float((a - b).abs().max()) for (Wa, ba), (Wb, bb) in zip(eager, graphed, strict=True)
               for a, b in ((Wa, Wb), (ba, bb)))
    return {"param_diff": diff, "loss_diff": float((eager_loss - graph_loss).abs().max()),
            "captured": captured, "steps": steps}


# --- report --------------------------------------------------------------------------------------

def _machine(device: torch.device, default_threads: int) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"device": str(device), "cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__,
            "python": platform.python_version(), "default_threads": default_threads}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _peak_memory(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB CUDA max allocated"
    # ru_maxrss is in KiB on Linux: the peak of the whole process, (a), (b) and the data.
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.0f} MiB CPU max RSS (whole process)"


def _paired(numerators: list[float], denominators: list[float]) -> float:
    """Median of the ratios of paired runs."""
    return statistics.median(a / b for a, b in zip(numerators, denominators, strict=True))


def render(args, machine: dict, workers: int, threads: int, res: dict, matrix: list[dict] | None,
           load: tuple[float, float], peak: str) -> tuple[str, dict]:
    """The markdown report and the headline numbers."""
    step, B, S = res["step"], args.batch_size, args.seeds
    per_model = {key: (S if key[0] == "ours" else 1) * B / t for key, t in step.items()}  # samples/s
    # Ratios are medians of per-run ratios: the two runs of a pair are timed back to back, so
    # a slow spell of the machine cancels out better than in a ratio of medians.
    runs = res["all"]
    speedup = _paired(runs[("plain", EPS)], [t / S for t in runs[("ours", EPS)]])
    standard_speedup = _paired(runs[("plain", 0.0)], [t / S for t in runs[("ours", 0.0)]])
    ratio = _paired(runs[("ours", EPS)], runs[("ours", 0.0)])
    plain_ratio = _paired(runs[("plain", EPS)], runs[("plain", 0.0)])
    epoch = {eps: epoch_seconds(step[("ours", eps)], res["eval_per_sample"], N_TRAIN, B)
             for eps in (0.0, EPS)}
    epoch_ratio = epoch[EPS] / epoch[0.0]
    ours_flops, paper_flops = flop_ratio((784, args.units, args.units, 10))
    net = f"784-{args.units}-{args.units}-10 {args.activation}"

    lines = [
        "# Training throughput: plain PyTorch loop vs advgrad's trainer",
        "",
        "Generated by `" + " ".join(["python -m benchmarks.throughput", *args.argv])
        + "` (see that module for the method). Do not edit by hand.",
        "",
        f"- Net: {net}, batch {B}, eps {EPS} (paper section 3); (b) trains {S} seeds at once.",
        f"- Machine: {machine['cpu']}, {machine['cores']} cores; device {machine['device']}"
        + (f" ({machine['gpu']})" if "gpu" in machine else "")
        + f"; torch {machine['torch']}, Python {machine['python']}.",
        f"- Threads: (a) torch's default, {machine['default_threads']}; (b) {workers} worker thread(s) "
        f"x {threads} intra-op thread(s).",
        f"- Timing: {args.warmup} warm-up steps, then {args.repeats} alternating runs of {args.steps} "
        f"steps each; medians. Load average (1 min) {load[0]:.2f} before, {load[1]:.2f} after.",
        f"- Peak memory: {peak}.",
        "",
        "| | step | ms per step | samples/s per model |",
        "|---|---|---:|---:|",
    ]
    for key in [("plain", 0.0), ("plain", EPS), ("ours", 0.0), ("ours", EPS)]:
        label = "(a) plain loop" if key[0] == "plain" else f"(b) advgrad, {S} seeds"
        kind = "adversarial" if key[1] else "standard"
        lines.append(f"| {label} | {kind} | {1e3 * step[key]:.2f} | {per_model[key]:.0f} |")
    lines += [
        "",
        f"**Speed-up of (b) over (a), per model, adversarial step: {speedup:.2f}x** "
        f"(standard step: {standard_speedup:.2f}x). Speed-ups and ratios are medians of the "
        f"ratios of runs timed back to back.",
        "",
        f"**Adversarial/standard cost ratio of a training step, (b): {ratio:.2f}** "
        f"((a): {plain_ratio:.2f}). The paper says the extra pass adds \"roughly 70%\" "
        f"(section 5). Counting matrix-product FLOPs gives 5/3 = {paper_flops:.2f} when the standard "
        f"step back-propagates to the input layer, as a generic layer library does; our standard "
        f"step skips the first layer's input gradient (nothing uses it), which makes the honest "
        f"FLOP ratio for this net {ours_flops:.2f}. Elementwise work and per-op overheads move the "
        f"measured ratio away from the FLOP count either way.",
        "",
        f"Per epoch *including evaluation* ({N_TRAIN // B} steps, then the clean error on "
        f"{N_TRAIN} training + {N_TEST} test images, as `train` does for Figure 1): "
        f"{epoch[0.0]:.1f} s standard, {epoch[EPS]:.1f} s adversarial for {S} seeds "
        f"({epoch[0.0] / S:.1f} / {epoch[EPS] / S:.1f} s per model); "
        f"ratio including evaluation {epoch_ratio:.2f} (evaluation is the same for both and "
        f"dilutes the ratio; the training-step ratio above is the one to compare).",
        "",
        "All timed runs (ms per step, in order):",
        "",
    ]
    for key, ts in res["all"].items():
        lines.append(f"- {key[0]} eps={key[1]}: " + ", ".join(f"{1e3 * t:.2f}" for t in ts))
    if matrix:
        total = sum(r["epoch_s"] for r in matrix) * args.epochs
        lines += [
            "",
            f"## Cost of every MNIST training stage on this machine ({S} seeds per stage)",
            "",
            f"Measured per stage: the median of {args.matrix_repeats} runs of {args.matrix_steps} steps and "
            f"of {min(3, args.matrix_repeats)} evaluations of {args.eval_samples} images, extrapolated to a "
            f"full epoch (a projection, not a measured epoch). Stages run one after another here; "
            f"on a machine shared with other jobs the spread between neighbouring rows is noise.",
            "",
            "| stage | net | train images | ms per step | train s/epoch | eval s/epoch | s/epoch "
            "| s/epoch per model |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in matrix:
            lines.append(f"| {r['stage']} | {r['config']} | {r['n_train']} | {r['step_ms']:.2f} | "
                         f"{r['train_s']:.1f} | {r['eval_s']:.1f} | {r['epoch_s']:.1f} | "
                         f"{r['epoch_s'] / S:.1f} |")
        lines += [
            "",
            f"**Projected wall time of the MNIST protocol on this machine, {args.epochs} epochs, "
            f"{S} seeds, stages one after another: {total / 3600:.1f} h** "
            f"({len(matrix)} training stages; attack, white-box, analysis and report stages not "
            f"included, they take minutes).",
        ]
    return "\n".join(lines) + "\n", {"speedup": speedup, "ratio": ratio, "plain_ratio": plain_ratio,
                                     "epoch_ratio": epoch_ratio, "peak": peak}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--units", type=int, default=800, help="hidden units per layer (default 800)")
    ap.add_argument("--activation", choices=sorted(ACTIVATIONS), default="relu")
    ap.add_argument("--seeds", type=int, default=5, help="seeds trained at once by (b) (default 5)")
    ap.add_argument("--batch-size", type=int, default=10)
    ap.add_argument("--steps", type=int, default=300, help="steps per timed run (default 300)")
    ap.add_argument("--repeats", type=int, default=7, help="timed runs of each variant (default 7)")
    ap.add_argument("--warmup", type=int, default=30, help="untimed steps first (default 30)")
    ap.add_argument("--eval-samples", type=int, default=10000,
                    help="images of the timed evaluation, extrapolated to 70000 (default 10000)")
    ap.add_argument("--workers", type=int, default=None, help="(b)'s worker threads (default: StackedSGD's)")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda (default auto)")
    ap.add_argument("--matrix", action="store_true",
                    help="also time every MNIST training stage and project the protocol's wall time")
    ap.add_argument("--matrix-units", default="400,800,1200")
    ap.add_argument("--matrix-activations", default="logistic,tanh,relu")
    ap.add_argument("--matrix-steps", type=int, default=200, help="steps per timed run (default 200)")
    ap.add_argument("--matrix-repeats", type=int, default=3, help="timed runs per stage (default 3)")
    ap.add_argument("--epochs", type=int, default=150, help="epochs of the projection (paper: 150)")
    ap.add_argument("--check", action="store_true",
                    help="only compare the CUDA-graph step with the eager step (run it first on a new GPU)")
    ap.add_argument("--check-steps", type=int, default=300)
    ap.add_argument("--out", type=Path, default=Path("reports/benchmark.md"))
    args = ap.parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("benchmarks.throughput: --device cuda but no CUDA device is available "
                         "(use --device auto or cpu)")
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto"
                          else args.device)
    if args.check:
        c = check_graph(args.units, args.activation, args.seeds, args.batch_size, args.check_steps, device)
        print(f"graph vs eager step on {device} ({'captured as a CUDA graph' if c['captured'] else 'not captured'}), "
              f"{c['steps']} steps of {args.seeds} seeds: largest parameter difference {c['param_diff']:.3g}, "
              f"largest summed-loss difference {c['loss_diff']:.3g}")
        return c
    default_threads = torch.get_num_threads()
    load_before = os.getloadavg()[0]

    workers, threads = stacked.worker_layout(args.seeds, device, args.workers)

    print(f"device {device}, torch {torch.__version__}, default threads {default_threads}; "
          f"(b): {workers} worker(s) x {threads} thread(s); load average {load_before:.2f}", flush=True)
    res = compare(args.units, args.activation, args.seeds, args.batch_size, args.steps, args.repeats,
                  args.warmup, args.eval_samples, device, args.workers)
    for key, t in res["step"].items():
        n_models = args.seeds if key[0] == "ours" else 1
        print(f"{key[0]:5s} {'adversarial' if key[1] else 'standard':11s} {1e3 * t:8.2f} ms/step "
              f"{n_models * args.batch_size / t:9.0f} samples/s per model", flush=True)
    matrix = None
    if args.matrix:
        print("cost per epoch of every MNIST training stage:", flush=True)
        matrix = cost_matrix([int(u) for u in args.matrix_units.split(",")],
                             args.matrix_activations.split(","), args.seeds, args.batch_size,
                             args.matrix_steps, args.matrix_repeats, args.warmup, args.eval_samples,
                             device, args.workers)
    assert torch.get_num_threads() == default_threads  # (b) restored the thread count for (a)
    text, head = render(args, _machine(device, default_threads), workers, threads, res, matrix,
                        (load_before, os.getloadavg()[0]), _peak_memory(device))
    save_text(text, args.out)
    ours_flops, paper_flops = flop_ratio((784, args.units, args.units, 10))
    print(f"speed-up of (b) over (a), per model, adversarial step: {head['speedup']:.2f}x")
    print(f"adversarial/standard, training step: (b) {head['ratio']:.2f}, (a) {head['plain_ratio']:.2f}; "
          f"FLOP count {ours_flops:.2f} (ours: no input gradient of the first layer in the standard "
          f"step), {paper_flops:.2f} (the paper's count)")
    print(f"adversarial/standard, per epoch including evaluation (b): {head['epoch_ratio']:.2f}")
    print(f"peak memory: {head['peak']}; wrote {args.out}")
    print(f"speedup={head['speedup']:.2f} adversarial_ratio={head['ratio']:.2f}", flush=True)
    return head


if __name__ == "__main__":
    main()

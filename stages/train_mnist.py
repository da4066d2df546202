"""DVC stage: train all seeds of one MNIST configuration (paper section 3, Table 2).

    python -m stages.train_mnist --method adversarial --split train --dataset mnist \
        --activation relu --units 800 --data data/processed/mnist.pt \
        --model models/mnist-relu-800-adversarial.pt --run-dir runs/mnist-relu-800-adversarial

Methods: `backprop` (eps = 0), `adversarial` (eps from params), `goodfellow` (Goodfellow et
al. 2014's objective with the same eps, beyond the paper), `random` (the same eps in a random sign
per input element: the control of section 5's claim, beyond the paper), `dropout` (eps = 0 with
the dropout rates of params: the Figure 2 comparison net). Split `train` is the whole training set
(Table 2); `fit` leaves out the validation split (the FGSM transfer experiment, Figures 2-3).
Writes the model file (advgrad.core.checkpoint), curves.csv (one row per seed and epoch) and
metrics.json (the Table 2 statistic). An interrupted run resumes from its last finished epoch
(stages/common.py).
"""

from __future__ import annotations

import dataclasses
import logging
import statistics
from pathlib import Path

import torch

from advgrad.core.checkpoint import save_models
from advgrad.core.io import save_json
from advgrad.core.names import NUM_CLASSES
from advgrad.core.results import rounded, summarize, write_curves
from advgrad.mnist.data import load_mnist
from advgrad.mnist.model import MLPConfig, unstack
from advgrad.mnist.trainer import MnistConfig, train
from stages import common
from stages.params import ACTIVATIONS, MNIST_DATASETS, Params

log = logging.getLogger("advgrad.train")

METHODS = ("backprop", "adversarial", "goodfellow", "random", "vat", "dropout")
SPLITS = ("train", "fit")
PERTURBED = ("adversarial", "goodfellow", "random")  # the methods that train on x + an eps-sized perturbation
CURVE_COLUMNS = ("epoch", "seed", "train_error", "test_error", "train_loss")


def build_config(
    params: Params, activation: str, units: int, method: str, input_stats: tuple[float, float] = (0.0, 1.0)
) -> MnistConfig:
    """The paper's protocol for one configuration, each method reading only its own params (as its
    dvc.yaml stage lists them): eps and clip where it perturbs the inputs (eps = 0 is plain
    back-propagation), the clean-loss weight Goodfellow's, mnist.vat VAT's, the dropout rates (mnist.dropout's keys
    under the net's `dropout_` prefix) the dropout net. `input_stats` (mean, std) standardize the
    inputs (the default 0, 1: pixels as they are)."""
    p, perturbs = params.mnist, method in PERTURBED
    dropout = {f"dropout_{k}": v for k, v in dataclasses.asdict(p.dropout).items()} if method == "dropout" else {}
    return MnistConfig(
        mlp=MLPConfig(
            (784, units, units, NUM_CLASSES), activation, **dropout, input_mean=input_stats[0], input_std=input_stats[1]
        ),
        lr=getattr(p.lr, activation),
        eps=params.eps if perturbs else 0.0,
        epochs=p.epochs,
        batch_size=p.batch_size,
        init_std=p.init_std,
        seeds=tuple(range(params.seed_base, params.seed_base + params.seeds)),
        clip=p.clip and perturbs,
        clean_weight=p.clean_weight if method == "goodfellow" else 0.0,
        direction=method if method in ("random", "vat") else "adversarial",
        vat=dataclasses.asdict(p.vat) if method == "vat" else None,
    )


def input_stats(params: Params, split: str, data) -> tuple[float, float]:
    """(mean, std) the net standardizes its inputs with: (0, 1) except for the transfer
    experiment's fit nets under `attack.inputs: standardized`, which use one global mean and
    (sample) std of the fit split's pixels, as the author's code's `-normalization simple`."""
    if split == "fit" and params.attack.inputs == "standardized":
        return data.fit.x.mean().item(), data.fit.x.std().item()
    return 0.0, 1.0


def run(
    cfg: MnistConfig,
    train_split,
    test_split,
    device,
    name: str,
    resume: common.ResumeCheckpoint | None = None,
    times=None,
) -> dict:
    """Train (resuming if a checkpoint exists) and return the final trainer state; each epoch's
    wall time (seconds, this process's epochs only) is appended to `times` if given."""
    state = resume.load() if resume else None
    if state is not None:
        log.info("%s: resuming after epoch %d", name, state["epoch"])
    bar = common.progress(cfg.epochs, name, initial=state["epoch"] if state else 0)

    def on_epoch(state, seconds):
        rows = [r for r in state["curves"] if r["epoch"] == state["epoch"]]
        train_err, test_err = (100 * sum(r[k] for r in rows) / len(rows) for k in ("train_error", "test_error"))
        what = f"train_error {train_err:.2f}% test_error {test_err:.2f}% (mean of {len(rows)} seeds)"
        log.info("%s epoch %d/%d %s %.1fs", name, state["epoch"], cfg.epochs, what, seconds)
        if times is not None:
            times.append(seconds)
        bar.set_postfix(train=f"{train_err:.2f}%", test=f"{test_err:.2f}%")
        bar.update(1)
        if resume and state["epoch"] < cfg.epochs:
            resume.save(state)

    try:
        with common.interruptible():
            splits = ((train_split.x, train_split.y), (test_split.x, test_split.y))
            state = train(cfg, *splits, device, state=state, on_epoch=on_epoch)
    except FloatingPointError as err:  # the trainer names seed and epoch
        raise SystemExit(f"{name}: {err}") from None
    except KeyboardInterrupt as err:
        saved = resume.last_saved if resume else None
        raise common.stopped(
            name, err, f"epoch {saved['epoch']} of {cfg.epochs} is saved in {resume.path}" if saved else None
        ) from None
    finally:
        bar.close()
    return state


def write_outputs(cfg: MnistConfig, state: dict, metrics: dict, meta: dict, model: Path, run_dir: Path) -> None:
    save_models(
        model,
        model={"family": "mnist-mlp", **dataclasses.asdict(cfg.mlp)},
        seeds=cfg.seeds,
        state_dicts=unstack(state["model"], cfg.mlp),
        config={"train": dataclasses.asdict(cfg), **meta},
    )
    write_curves(state["curves"], CURVE_COLUMNS, run_dir / "curves.csv")
    save_json(metrics, run_dir / "metrics.json")


def main(argv=None) -> None:
    methods, activations = ("--method", METHODS), ("--activation", ACTIVATIONS)
    options = (methods, ("--split", SPLITS), ("--dataset", MNIST_DATASETS), activations, ("--units", int))
    args, params = common.cli(__doc__, argv, *options, "--data", "--model", "--run-dir")
    device = common.resolve_device(params.device)
    name = f"train-{args.method}-{args.split}:{args.dataset}-{args.activation}-{args.units}"
    with common.stage_errors(name):
        data = load_mnist(args.data, device)
        train_split = data.train if args.split == "train" else data.fit
        cfg = build_config(params, args.activation, args.units, args.method, input_stats(params, args.split, data))
        meta = {"method": args.method, "split": args.split, "dataset": args.dataset}
        resume = common.ResumeCheckpoint(
            f"{args.dataset}-{args.activation}-{args.units}-{args.method}-{args.split}",
            {
                "config": dataclasses.asdict(cfg),
                **meta,
                "data_md5": common.file_md5(args.data),
                # the thread count can change float rounding in the kernels
                "device": str(device),
                "threads": torch.get_num_threads(),
            },
            "train_mnist",
        )
        state = run(cfg, train_split, data.test, device, name, resume, times := [])
        summary = summarize(state["curves"], cfg.seeds, params.mnist.last_epochs)
        # No copies of params (DVC shows them beside the metrics); run-specific facts in provenance.
        metrics = {
            **rounded(summary),
            "n_train": len(train_split.y),
            "data_verified": bool(data.meta.get("verified", False)),
            # the median epoch (the first one warms up); the claims ledger's "roughly 70 %" extra time
            "provenance": common.provenance(
                device, seconds_per_epoch=round(statistics.median(times), 3) if times else None
            ),
        }
        write_outputs(cfg, state, metrics, meta, args.model, args.run_dir)
        resume.clear()
    mean_std = f"{summary['error_pct']:.2f} ± {summary['std_pct']:.2f} %"
    log.info("%s: test error %s over %d seeds", name, mean_std, summary["n_seeds"])


if __name__ == "__main__":
    main()

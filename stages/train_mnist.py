"""DVC stage: train all seeds of one MNIST configuration (paper section 3, Table 2).

    python -m stages.train_mnist --method adversarial --split train --dataset mnist \
        --activation relu --units 800 --data data/processed/mnist.pt \
        --model models/mnist-relu-800-adversarial.pt --run-dir runs/mnist-relu-800-adversarial

Methods: `backprop` (eps = 0), `adversarial` (eps from params), `dropout` (eps = 0 with the
dropout rates of params: the Figure 2 comparison net). Split `train` is the whole training set
(Table 2); `fit` leaves out the validation split (the FGSM transfer experiment, Figures 2-3).
An interrupted run resumes from its last finished epoch (see stages/common.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

import pandas as pd

from advgrad.data import load_mnist
from advgrad.io import atomic_path, save_checked, save_json
from advgrad.mlp import MLPConfig
from advgrad.trainer import TrainConfig, summarize, train, worker_layout
from stages.common import (ResumeCheckpoint, file_md5, interruptible, progress, provenance,
                           resolve_device, setup_logging, stage_errors, stopped)
from stages.params import Params, load_params_or_exit

log = logging.getLogger("advgrad.train")

METHODS = ("backprop", "adversarial", "dropout")


def build_config(params: Params, activation: str, units: int, method: str) -> TrainConfig:
    """The paper's protocol for one configuration, from params.yaml."""
    p = params.mnist
    dropout = p.dropout if method == "dropout" else None
    return TrainConfig(
        mlp=MLPConfig(sizes=(784, units, units, 10), activation=activation,
                      dropout_input=dropout.input if dropout else 0.0,
                      dropout_hidden=dropout.hidden if dropout else 0.0),
        lr=getattr(p.lr, activation),
        eps=params.eps if method == "adversarial" else 0.0,  # eps = 0 is plain back-propagation
        epochs=p.epochs,
        batch_size=p.batch_size,
        init_std=p.init_std,
        seeds=tuple(range(params.seed_base, params.seed_base + params.seeds)),
        clip=p.clip if method == "adversarial" else False,
    )


def run(cfg: TrainConfig, train_split, test_split, device, name: str,
        resume: ResumeCheckpoint | None = None, workers: int | None = None) -> dict:
    """Train (resuming if a checkpoint exists) and return the final trainer state."""
    state = resume.load() if resume else None
    if state is not None:
        log.info("%s: resuming after epoch %d", name, state["epoch"])
    bar = progress(cfg.epochs, name, initial=state["epoch"] if state else 0)

    def on_epoch(state, seconds):
        rows = [r for r in state["curves"] if r["epoch"] == state["epoch"]]
        train_err = 100 * sum(r["train_error"] for r in rows) / len(rows)
        test_err = 100 * sum(r["test_error"] for r in rows) / len(rows)
        log.info("%s epoch %d/%d train_error %.2f%% test_error %.2f%% (mean of %d seeds) %.1fs",
                 name, state["epoch"], cfg.epochs, train_err, test_err, len(rows), seconds)
        bar.set_postfix(train=f"{train_err:.2f}%", test=f"{test_err:.2f}%")
        bar.update(1)
        if resume and state["epoch"] < cfg.epochs:
            resume.save(state)

    try:
        with interruptible():
            state = train(cfg, (train_split.x, train_split.y), (test_split.x, test_split.y), device,
                          state=state, on_epoch=on_epoch, workers=workers)
    except FloatingPointError as err:  # the trainer names seed and epoch
        raise SystemExit(f"{name}: {err}") from None
    except KeyboardInterrupt as err:
        saved = resume.last_saved if resume else None
        raise stopped(name, err, f"epoch {saved['epoch']} of {cfg.epochs} is saved in {resume.path}"
                      if saved else None) from None
    finally:
        bar.close()
    return state


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", choices=METHODS, required=True)
    ap.add_argument("--split", choices=("train", "fit"), required=True)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--activation", required=True)
    ap.add_argument("--units", type=int, required=True)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--run-dir", type=Path, required=True)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = ap.parse_args(argv)
    setup_logging()

    params = load_params_or_exit(args.params)
    cfg = build_config(params, args.activation, args.units, args.method)
    device = resolve_device(params.device)
    name = f"train-{args.method}-{args.split}:{args.dataset}-{args.activation}-{args.units}"
    with stage_errors(name):
        data = load_mnist(args.data, device)
        train_split = data.train if args.split == "train" else data.fit
        # The worker layout changes float rounding (advgrad.trainer.StackedSGD), so it is part of
        # what must match for a resumed run to be bit-identical to an uninterrupted one.
        workers, _ = worker_layout(len(cfg.seeds), device)
        resume = ResumeCheckpoint(f"{args.dataset}-{args.activation}-{args.units}-{args.method}-{args.split}",
                                  {"config": dataclasses.asdict(cfg), "split": args.split,
                                   "data_md5": file_md5(args.data), "device": str(device),
                                   "workers": workers},
                                  __spec__.name)  # this module's name, also under python -m

        state = run(cfg, train_split, data.test, device, name, resume, workers)

        summary = summarize(state["curves"], cfg.seeds, params.mnist.last_epochs)
        config = dataclasses.asdict(cfg)
        save_checked({"config": config, "method": args.method, "split": args.split,
                      "dataset": args.dataset, "seeds": list(cfg.seeds),
                      "params": [(w.cpu(), b.cpu()) for w, b in state["params"]]}, args.model)
        with atomic_path(args.run_dir / "curves.csv") as tmp:
            pd.DataFrame(state["curves"]).to_csv(tmp, index=False, float_format="%.6g")
        save_json({**summary, "epochs": cfg.epochs, "last_epochs": params.mnist.last_epochs,
                   "n_train": len(train_split.y), "data_verified": bool(data.meta.get("verified", False)),
                   "provenance": provenance(device, workers=workers)},
                  args.run_dir / "metrics.json")
        resume.clear()
        log.info("%s: test error %.2f ± %.2f %% over %d seeds", name, summary["error_pct"],
                 summary["std_pct"], summary["n_seeds"])


if __name__ == "__main__":
    main()

"""Stage train-cifar: every seed of one CIFAR-10 configuration of Table 3 (paper section 4).

    python -m stages.train_cifar --arch {mlp|conv} --prep {zca|simple} --method <method> \
        --data data/processed/cifar-10-<prep>.pt --model models/cifar-10-<arch>-<prep>-<method>.pt \
        --run-dir runs/cifar-10-<arch>-<prep>-<method>

Writes --model (advgrad.core.checkpoint: the config and one state_dict per seed) and, into --run-dir, curves.csv
(epoch, seed, train_error, test_error, online_train_error, lr; errors as fractions) and
metrics.json (the Table 3 statistic in percent, run info, "data_verified"). An
interrupted run resumes from its checkpoint in .advgrad/resume/ (see stages/common.py).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import torch

from advgrad.cifar.data import load_cifar
from advgrad.cifar.trainer import CURVE_COLUMNS, CifarConfig, curve_rows, summarize, train
from advgrad.core.checkpoint import save_models
from advgrad.core.io import save_json
from advgrad.core.results import rounded, write_curves
from stages.common import (
    ResumeCheckpoint,
    cli,
    file_md5,
    interruptible,
    progress,
    provenance,
    resolve_device,
    stage_errors,
    stopped,
)
from stages.params import CIFAR_ARCHS, CIFAR_METHODS, CIFAR_PREPS, Params

STAGE = "train-cifar"

log = logging.getLogger("advgrad")


def train_config(params: Params, arch: str, method: str) -> CifarConfig:
    """The trainer's configuration for one Table 3 cell, from params.yaml.

    Only the keys of `arch` and of `method` are read (cifar10.eps.<arch> by the adversarial
    methods, cifar10.dropout by the dropout ones), as the cell's stage in dvc.yaml lists them.
    """
    c = params.cifar10
    dropout = method.endswith("-dropout")
    if arch == "mlp":
        a, arch_only = c.mlp, {"units": c.mlp.units}
    else:
        a, arch_only = (
            c.conv,
            ({"p_conv": c.dropout.conv, "conv_dropout_position": c.dropout.conv_position} if dropout else {}),
        )
    return CifarConfig(
        arch=arch,
        seeds=tuple(range(params.seed_base, params.seed_base + params.seeds)),
        lr=a.lr,
        momentum=a.momentum,
        dampening=a.dampening,
        weight_decay=a.weight_decay,
        eps=getattr(c.eps, arch) if method.startswith("adversarial") else 0.0,
        p_input=c.dropout.input if dropout else 0.0,
        p_fc=c.dropout.fc if dropout else 0.0,
        **arch_only,
        batch_size=c.batch_size,
        max_norm=c.max_norm,
        init_std=c.init_std,
        max_epochs=c.max_epochs,
        max_halvings=c.max_halvings,
        target_train_error=c.target_train_error,
        halving_decay=c.halving_decay,
    )


def stage_config(params: Params, arch: str, prep: str, method: str, data_path: Path) -> dict:
    """The stage's full configuration: it keys the resume checkpoint and is saved beside the
    results. The data file's hash is part of it, so a checkpoint made on other data (e.g. before
    cifar10.zca_epsilon changed) is never resumed."""
    return {
        "dataset": "cifar-10",
        "arch": arch,
        "prep": prep,
        "method": method,
        "train_size": params.cifar10.train_size,
        "data_md5": file_md5(data_path),
        "train": dataclasses.asdict(train_config(params, arch, method)),
    }


def run(
    config: dict,
    data,
    device: torch.device,
    model_path: Path,
    run_dir: Path,
    checkpoint: ResumeCheckpoint | None = None,
) -> dict:
    """Train all seeds of `config` on `data` (a CifarData), write the outputs, return metrics."""
    prep = data.meta.get("prep")
    if prep != config["prep"]:
        raise ValueError(
            f"train_cifar: the data are {prep!r}-preprocessed but the configuration asks for {config['prep']!r}"
        )
    tc = CifarConfig(**config["train"])
    # preprocess-cifar already keeps the first train_size images (and fits the transform on
    # them); slicing again makes `run` honour the key on any data file, at no cost.
    n = config["train_size"] or len(data.train.x)
    if n > len(data.train.x):
        raise ValueError(
            f"train_cifar: cifar10.train_size = {n} exceeds the {len(data.train.x)} training images in the data"
        )
    train_x, train_y = data.train.x[:n].to(device), data.train.y[:n].to(device)
    test_x, test_y = data.test.x.to(device), data.test.y.to(device)

    state = checkpoint.load() if checkpoint is not None else None
    name = f"cifar-10 {config['arch']}-{config['prep']}-{config['method']}"
    done = (
        0 if state is None else (len(state["runs"]) * tc.max_epochs + len((state["current"] or {}).get("curves", [])))
    )
    if done:
        log.info("%s: resuming after %d finished seeds", name, len(state["runs"]))
    # The bar counts epochs against the upper bound max_epochs per seed; a seed that stops early
    # skips its remaining epochs.
    with progress(len(tc.seeds) * tc.max_epochs, name, initial=done) as bar:

        def on_epoch(state: dict, seconds: float) -> None:
            if checkpoint is not None:
                checkpoint.save(state)
            p = (state["current"]["curves"] if state["current"] else state["runs"][-1]["curve"])[-1]
            log.info(
                "%s seed %d epoch %d: train %.2f%% (online %.2f%%) test %.2f%% lr %.4g %.1fs",
                name,
                p["seed"],
                p["epoch"],
                100 * p["train_error"],
                100 * p["online_train_error"],
                100 * p["test_error"],
                p["lr"],
                seconds,
            )
            bar.update(1 if state["current"] is not None else tc.max_epochs - p["epoch"] + 1)

        try:
            with interruptible():
                state = train(tc, train_x, train_y, test_x, test_y, state=state, on_epoch=on_epoch)
        except KeyboardInterrupt as err:
            last = checkpoint.last_saved if checkpoint is not None else None
            where = None
            if last is not None:
                p = (last["current"]["curves"] if last["current"] else last["runs"][-1]["curve"])[-1]
                where = f"seed {p['seed']} epoch {p['epoch']} is saved in {checkpoint.path}"
            raise stopped(name, err, where) from None

    metrics = {
        **rounded(summarize(state)),
        "n_train": n,
        "data_verified": bool(data.meta.get("verified", False)),
        "provenance": provenance(device),
    }
    write_outputs(config, tc, state, metrics, Path(model_path), Path(run_dir))
    if checkpoint is not None:
        checkpoint.clear()  # only once every output is in place
    log.info(
        "%s: test error %.2f ± %.2f %% over %d seeds",
        name,
        metrics["error_pct"],
        metrics["std_pct"],
        metrics["n_seeds"],
    )
    return metrics


def write_outputs(config: dict, tc: CifarConfig, state: dict, metrics: dict, model: Path, run_dir: Path) -> None:
    save_models(
        model,
        model={
            "family": "cifar",
            "arch": tc.arch,
            "units": tc.units,
            "p_input": tc.p_input,
            "p_conv": tc.p_conv,
            "p_fc": tc.p_fc,
            "conv_dropout_position": tc.conv_dropout_position,
        },
        seeds=[r["seed"] for r in state["runs"]],
        state_dicts=[r["model"] for r in state["runs"]],
        config=config,
    )
    write_curves(curve_rows(state), CURVE_COLUMNS, run_dir / "curves.csv")
    save_json(metrics, run_dir / "metrics.json")


def main(argv: list[str] | None = None) -> None:
    args, params = cli(
        __doc__,
        argv,
        ("--arch", CIFAR_ARCHS),
        ("--prep", CIFAR_PREPS),
        ("--method", CIFAR_METHODS),
        "--data",
        "--model",
        "--run-dir",
    )
    device = resolve_device(params.device)
    with stage_errors(f"{STAGE}@{args.arch}-{args.prep}-{args.method}"):
        config = stage_config(params, args.arch, args.prep, args.method, args.data)
        data = load_cifar(args.data, device)
        checkpoint = ResumeCheckpoint(f"{STAGE}-{args.arch}-{args.prep}-{args.method}", config, "train_cifar")
        run(config, data, device, args.model, args.run_dir, checkpoint)


if __name__ == "__main__":
    main()

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
from stages import common
from stages.params import CIFAR_ARCHS, CIFAR_METHODS, CIFAR_PREPS, Params

STAGE = "train-cifar"

log = logging.getLogger("advgrad")


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
        "data_md5": common.file_md5(data_path),
        "train": dataclasses.asdict(CifarConfig.of_cell(params, arch, method)),
    }


def _last(state: dict) -> dict:
    """The newest curve row of a training state (advgrad.cifar.trainer.train)."""
    return (state["current"]["curves"] if state["current"] else state["runs"][-1]["curve"])[-1]


def run(
    config: dict,
    data,
    device: torch.device,
    model_path: Path,
    run_dir: Path,
    checkpoint: common.ResumeCheckpoint | None = None,
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
    with common.progress(len(tc.seeds) * tc.max_epochs, name, initial=done) as bar:

        def on_epoch(state: dict, seconds: float) -> None:
            if checkpoint is not None:
                checkpoint.save(state)
            p = _last(state)
            log.info(
                "%s seed %d epoch %d: train %.2f%% (online %.2f%%) test %.2f%% lr %.4g %.1fs",
                *(name, p["seed"], p["epoch"], 100 * p["train_error"], 100 * p["online_train_error"]),
                *(100 * p["test_error"], p["lr"], seconds),
            )
            bar.update(1 if state["current"] is not None else tc.max_epochs - p["epoch"] + 1)

        try:
            with common.interruptible():
                state = train(tc, train_x, train_y, test_x, test_y, state=state, on_epoch=on_epoch)
        except KeyboardInterrupt as err:
            last = checkpoint.last_saved if checkpoint is not None else None
            where = last and f"seed {_last(last)['seed']} epoch {_last(last)['epoch']} is saved in {checkpoint.path}"
            raise common.stopped(name, err, where) from None

    metrics = {
        **rounded(summarize(state)),
        "n_train": n,
        "data_verified": bool(data.meta.get("verified", False)),
        "provenance": common.provenance(device),
    }
    save_models(
        model_path,
        model={"family": "cifar", "arch": tc.arch, "units": tc.units, "dropout": tc.dropout},
        seeds=[r["seed"] for r in state["runs"]],
        state_dicts=[r["model"] for r in state["runs"]],
        config=config,
    )
    write_curves(curve_rows(state), CURVE_COLUMNS, Path(run_dir) / "curves.csv")
    save_json(metrics, Path(run_dir) / "metrics.json")
    if checkpoint is not None:
        checkpoint.clear()  # only once every output is in place
    log.info(
        "%s: test error %.2f ± %.2f %% over %d seeds", name, *(metrics[k] for k in ("error_pct", "std_pct", "n_seeds"))
    )
    return metrics


def main(argv: list[str] | None = None) -> None:
    choices = ("--arch", CIFAR_ARCHS), ("--prep", CIFAR_PREPS), ("--method", CIFAR_METHODS)
    args, params = common.cli(__doc__, argv, *choices, "--data", "--model", "--run-dir")
    device, cell = common.resolve_device(params.device), f"{args.arch}-{args.prep}-{args.method}"
    with common.stage_errors(f"{STAGE}@{cell}"):
        config = stage_config(params, args.arch, args.prep, args.method, args.data)
        checkpoint = common.ResumeCheckpoint(f"{STAGE}-{cell}", config, "train_cifar")
        run(config, load_cifar(args.data, device), device, args.model, args.run_dir, checkpoint)


if __name__ == "__main__":
    main()

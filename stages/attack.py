"""DVC stage: the FGSM transfer experiment of paper section 3.

    python -m stages.attack --data data/processed/<ds>.pt \
        --source models/<ds>-relu-400-backprop-fit.pt \
        --adversarial models/<ds>-relu-400-adversarial-fit.pt \
        --random models/<ds>-relu-400-random-fit.pt --out runs/attack/<ds>.json

Adversarial examples are made from the validation split with FGSM (each eps of `attack.eps`)
using a 2x400 ReLU back-propagation model (the source). They are classified by another 2x400
ReLU back-propagation model (paper: 22 % / 47 % error at eps 0.25 / 0.5) and by a 2x400 ReLU
adversarially trained model (paper: 4 % / 18 %) and, beyond the paper, by a 2x400 ReLU model
trained with the random-sign control (`--random`, optional). All models were trained on the
training set without the validation split. The pairing (source seed i -> both targets of seed i+1) is
`advgrad.evaluate.attack.transfer_pairs`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from advgrad.core.checkpoint import load_models
from advgrad.core.io import save_json
from advgrad.core.stats import mean_std
from advgrad.evaluate.attack import error_pct, transfer_experiment
from advgrad.mnist.data import load_mnist
from advgrad.mnist.model import INPUT_RANGE, from_entry
from stages.common import cli, stage_errors
from stages.params import Params

log = logging.getLogger("advgrad.evaluate.attack")


def run(params: Params, targets: dict, val, eps_unit: float = 1.0) -> dict:
    """The stage's JSON: transfer errors per eps and (source, target) pair, the clean validation
    errors, the settings. `targets`: {"backprop": nets (also the sources), "adversarial": nets,
    optionally "random": nets}; `eps_unit`: pixels per unit of eps (the fit nets' input std
    under attack.inputs: standardized)."""
    clip = INPUT_RANGE if params.attack.clip else None
    results = transfer_experiment(targets, val.x, val.y, params.attack.eps, clip, eps_unit)
    for eps, row in results.items():
        log.info("FGSM eps %s: %s", eps, row)
    clean = {
        f"{name}_clean_val_pct": mean_std([error_pct(m, val.x, val.y) for m in family.values()])[0]
        for name, family in targets.items()
    }
    return {
        "eps": results,
        "clean": clean,
        "n_val": len(val.y),
        "clip": params.attack.clip,
        "inputs": params.attack.inputs,
        "eps_unit": eps_unit,
    }


def main(argv=None) -> None:
    args, params = cli(__doc__, argv, "--data", "--source", "--adversarial", ("--random", Path, None), "--out")
    with stage_errors("attack"):
        val = load_mnist(args.data, "cpu").val
        paths = {"backprop": args.source, "adversarial": args.adversarial, "random": args.random}
        files = {name: load_models(path, from_entry) for name, path in paths.items() if path is not None}
        stds = {blob["model"]["input_std"] for blob, _ in files.values()}
        if len(stds) != 1:
            raise SystemExit(
                f"attack: the fit nets standardize their inputs differently (std {sorted(stds)}); "
                "re-run their training stages"
            )
        save_json(run(params, {name: nets for name, (_, nets) in files.items()}, val, eps_unit=stds.pop()), args.out)


if __name__ == "__main__":
    main()

"""DVC stage: the FGSM transfer experiment of paper section 3.

Adversarial examples are made from the validation split with FGSM (each eps of
`attack.eps`) using a 2x400 ReLU back-propagation model (the source). They are classified by
another 2x400 ReLU back-propagation model (paper: 22 % / 47 % error at eps 0.25 / 0.5) and by
a 2x400 ReLU adversarially trained model (paper: 4 % / 18 %). All models were trained on the
training set without the validation split. Over seeds: source seed i attacks the backprop and
the adversarial targets of seed i+1 (`advgrad.attack.transfer_pairs`), so the two targets
differ only in the method and never share the source's initial weights.
"""

from __future__ import annotations

import argparse
import logging
import statistics
from pathlib import Path

from advgrad.attack import error_pct, transfer_errors, transfer_pairs
from advgrad.data import load_mnist
from advgrad.io import save_json
from advgrad.mlp import INPUT_RANGE
from stages.common import load_mlp_checkpoint, setup_logging, stage_errors
from stages.params import load_params_or_exit

log = logging.getLogger("advgrad.attack")

NOT_RUN_ONE_SEED = ("needs at least 2 seeds: the source model must not share its seed (initial "
                    "weights, mini-batch order) with a target")


def _stats(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def run(backprop_models: dict, adversarial_models: dict, x, y, eps_list, clip) -> dict:
    """{eps: {backprop_pct, backprop_std_pct, adversarial_pct, adversarial_std_pct, n_pairs, pairs}}.

    `backprop_models` and `adversarial_models` map seed -> model (the same seeds). With one
    seed there is no pair: the row says why instead of giving numbers.
    """
    if sorted(backprop_models) != sorted(adversarial_models):
        raise ValueError(f"attack: the backprop and adversarial fit nets have different seeds "
                         f"({sorted(backprop_models)} vs {sorted(adversarial_models)})")
    pairs = transfer_pairs(sorted(backprop_models))
    results = {}
    for eps in eps_list:
        row = {"n_pairs": len(pairs), "pairs": [list(p) for p in pairs]}
        if not pairs:
            row["not_run"] = NOT_RUN_ONE_SEED
        else:
            errors = transfer_errors(backprop_models, {"backprop": backprop_models,
                                                       "adversarial": adversarial_models},
                                     x, y, eps, clip)
            for name, values in errors.items():
                row[f"{name}_pct"], row[f"{name}_std_pct"] = _stats(values)
        results[f"{eps:g}"] = row
        log.info("FGSM eps %g: %s", eps, row)
    return results


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--source", type=Path, required=True, help="2x400 ReLU backprop checkpoint (fit split)")
    ap.add_argument("--adversarial", type=Path, required=True, help="2x400 ReLU adversarial checkpoint (fit split)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = ap.parse_args(argv)
    setup_logging()
    params = load_params_or_exit(args.params)
    clip = INPUT_RANGE if params.attack.clip else None

    with stage_errors("attack"):
        data = load_mnist(args.data, "cpu")
        models = {}
        for name, path in (("backprop", args.source), ("adversarial", args.adversarial)):
            _, seed_models, ckpt = load_mlp_checkpoint(path)
            models[name] = dict(zip(ckpt["seeds"], seed_models))
        results = run(models["backprop"], models["adversarial"], data.val.x, data.val.y,
                      params.attack.eps, clip)
        clean = {f"{name}_clean_val_pct": _stats([error_pct(m, data.val.x, data.val.y)
                                                  for m in family.values()])[0]
                 for name, family in models.items()}
        save_json({"eps": results, "clean": clean, "n_val": len(data.val.y), "clip": params.attack.clip}, args.out)


if __name__ == "__main__":
    main()

"""DVC stage: the FGSM transfer experiment of paper section 3.

Adversarial examples are made from the validation split with FGSM (each eps of
`attack.eps`) using a 2x400 ReLU back-propagation model (the source). They are classified by
another 2x400 ReLU back-propagation model (paper: 22 % / 47 % error at eps 0.25 / 0.5) and by
a 2x400 ReLU adversarially trained model (paper: 4 % / 18 %). All models were trained on the
training set without the validation split. Over seeds: source seed i attacks backprop seed
i+1 (never itself) and adversarial seed i.
"""

from __future__ import annotations

import argparse
import logging
import statistics
from pathlib import Path

from advgrad.attack import error_pct, transfer_errors
from advgrad.data import load_mnist
from advgrad.io import save_json
from advgrad.mlp import INPUT_RANGE
from stages.common import load_mlp_checkpoint, setup_logging
from stages.params import load_params_or_exit

log = logging.getLogger("advgrad.attack")


def _stats(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def run(backprop_models, adversarial_models, x, y, eps_list, clip) -> dict:
    """{eps: {backprop_pct, backprop_std_pct, adversarial_pct, adversarial_std_pct, n_pairs}}."""
    results = {}
    for eps in eps_list:
        row = {"n_pairs": len(backprop_models)}
        if len(backprop_models) > 1:  # a model must not attack itself: needs two backprop seeds
            row["backprop_pct"], row["backprop_std_pct"] = _stats(
                transfer_errors(backprop_models, backprop_models, x, y, eps, clip, offset=1))
        row["adversarial_pct"], row["adversarial_std_pct"] = _stats(
            transfer_errors(backprop_models, adversarial_models, x, y, eps, clip, offset=0))
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

    data = load_mnist(args.data, "cpu")
    _, backprop_models, _ = load_mlp_checkpoint(args.source)
    _, adversarial_models, _ = load_mlp_checkpoint(args.adversarial)
    results = run(backprop_models, adversarial_models, data.val.x, data.val.y, params.attack.eps, clip)
    clean = {"backprop_clean_val_pct": _stats([error_pct(m, data.val.x, data.val.y) for m in backprop_models])[0],
             "adversarial_clean_val_pct": _stats([error_pct(m, data.val.x, data.val.y) for m in adversarial_models])[0]}
    save_json({"eps": results, "clean": clean, "n_val": len(data.val.y), "clip": params.attack.clip}, args.out)


if __name__ == "__main__":
    main()

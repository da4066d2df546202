"""DVC stage: white-box robustness of one Table 2 net and method (beyond the paper).

    python -m stages.robustness --data data/processed/<ds>.pt --model models/<key>.pt \
        --out runs/robustness/<key>.csv

The paper evaluates only one-step FGSM, transferred from another model. Here each seed's net
is attacked with its own gradients, by FGSM and by L-infinity PGD (Madry et al. 2018: random
start, `robustness.pgd_steps` steps of `robustness.pgd_step_size`, `robustness.pgd_restarts`
restarts), at every eps of `robustness.eps`, on the first `robustness.images` test images (null:
all). An image counts as broken if either loss breaks it (the training objective, softmax
cross-entropy). The threat model is `robustness.clip`: examples clipped to [0, 1] (the standard
one) or not. Writes one CSV row per seed, attack and eps.
"""

from __future__ import annotations

import logging

from advgrad.core.checkpoint import load_models
from advgrad.core.io import save_text
from advgrad.core.results import curves_csv
from advgrad.evaluate.attack import robustness_errors
from advgrad.mnist.data import load_mnist
from advgrad.mnist.model import INPUT_RANGE, from_entry
from stages.common import cli, stage_errors
from stages.params import Params

log = logging.getLogger("advgrad.robustness")

COLUMNS = ("seed", "attack", "eps", "error_pct", "n_images")


def run(params: Params, models: dict, test) -> str:
    """The CSV: one row per seed, attack (fgsm, pgd) and eps, the error in percent."""
    r = params.robustness
    n = len(test.y) if r.images is None else min(r.images, len(test.y))
    rows = robustness_errors(
        models,
        test.x[:n],
        test.y[:n],
        r.eps,
        r.pgd_steps,
        r.pgd_step_size,
        r.pgd_restarts,
        INPUT_RANGE if r.clip else None,
        params.seed_base,
    )
    for row in rows:
        log.info("seed %d %s eps %g: %.2f%%", row["seed"], row["attack"], row["eps"], row["error_pct"])
    return curves_csv(rows, COLUMNS)


def main(argv=None) -> None:
    args, params = cli(__doc__, argv, "--data", "--model", "--out")
    with stage_errors("robustness"):
        test = load_mnist(args.data, "cpu").test
        save_text(run(params, load_models(args.model, from_entry)[1], test), args.out)


if __name__ == "__main__":
    main()

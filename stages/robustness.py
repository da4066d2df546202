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

AutoAttack (Croce and Hein 2020, their standard L-infinity suite; `advgrad.evaluate.autoattack`)
checks PGD: at each eps of `robustness.autoattack.eps` ([] turns it off), on the first
`robustness.autoattack.images` of the same images, rows of attack `autoattack`. A log line warns
where PGD's error on those images is more than 2 points below the suite's at the same eps:
PGD was fooled, most likely by masked gradients. The suite always clips to [0, 1], so it runs
only with `robustness.clip: true`; the other combination stops the stage before any work.
"""

from __future__ import annotations

import logging

from advgrad.core.checkpoint import load_models
from advgrad.core.io import save_text
from advgrad.core.results import curves_csv
from advgrad.evaluate.attack import error_rows, robustness_broken
from advgrad.evaluate.autoattack import autoattack_broken
from advgrad.mnist.data import load_mnist
from advgrad.mnist.model import INPUT_RANGE, from_entry
from stages.common import cli, stage_errors
from stages.params import Params

log = logging.getLogger("advgrad.robustness")

COLUMNS = ("seed", "attack", "eps", "error_pct", "n_images")
MASKING_GAP_PCT = 2.0  # PGD this many points below AutoAttack's error: PGD was fooled


def check_params(params: Params) -> None:
    """Stop in one line on a combination the suite cannot run."""
    r = params.robustness
    if r.autoattack.eps and not r.clip:
        raise SystemExit(
            "robustness: robustness.autoattack.eps is set but robustness.clip is false: AutoAttack always clips "
            "to [0, 1]; set robustness.clip: true or robustness.autoattack.eps: []"
        )


def _pct(broken) -> float:
    return 100.0 * int(broken.sum()) / len(broken)


def warn_masking(pgd: dict, autoattack: dict) -> None:
    """Log where PGD's error is more than MASKING_GAP_PCT points below AutoAttack's, both on the
    images AutoAttack attacked (its masks are the first entries of PGD's)."""
    for (seed, _, eps), aa in autoattack.items():
        broken = pgd.get((seed, "pgd", eps))
        if broken is None:
            log.info("seed %d eps %g: no PGD at this eps (robustness.eps) to compare with AutoAttack", seed, eps)
            continue
        pgd_pct, aa_pct = _pct(broken[: len(aa)]), _pct(aa)
        if pgd_pct < aa_pct - MASKING_GAP_PCT:
            log.warning(
                f"seed {seed} eps {eps:g}: PGD error {pgd_pct:.2f}% is more than {MASKING_GAP_PCT:g} points below "
                f"AutoAttack's {aa_pct:.2f}% on the same {len(aa)} images: PGD was fooled (masked gradients?)"
            )


def run(params: Params, models: dict, test, activation: str) -> str:
    """The CSV: one row per seed, attack (fgsm, pgd, autoattack) and eps, the error in percent;
    AutoAttack's rows only where `activation` (the nets') is one of robustness.autoattack.activations."""
    check_params(params)
    r = params.robustness
    n = len(test.y) if r.images is None else min(r.images, len(test.y))
    x, y, clip = test.x[:n], test.y[:n], INPUT_RANGE if r.clip else None
    broken = robustness_broken(
        models, x, y, r.eps, r.pgd_steps, r.pgd_step_size, r.pgd_restarts, clip, params.seed_base
    )
    aa = r.autoattack
    m = n if aa.images is None else min(aa.images, n)
    attack = aa.eps and activation in aa.activations
    aa_broken = autoattack_broken(models, x[:m], y[:m], aa.eps, params.seed_base) if attack else {}
    warn_masking(broken, aa_broken)
    # Each seed's rows together, FGSM and PGD first (sorted is stable).
    rows = sorted(error_rows(broken) + error_rows(aa_broken), key=lambda row: list(models).index(row["seed"]))
    for row in rows:
        log.info("seed %d %s eps %g: %.2f%%", row["seed"], row["attack"], row["eps"], row["error_pct"])
    return curves_csv(rows, COLUMNS)


def main(argv=None) -> None:
    args, params = cli(__doc__, argv, "--data", "--model", "--out")
    check_params(params)
    with stage_errors("robustness"):
        test = load_mnist(args.data, "cpu").test
        blob, models = load_models(args.model, from_entry)
        save_text(run(params, models, test, blob["model"]["activation"]), args.out)


if __name__ == "__main__":
    main()

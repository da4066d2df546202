"""DVC stage: white-box FGSM error of one Table 2 configuration over an eps grid (beyond the
paper): each seed's model is attacked with its own gradients on the test set.

    python -m stages.whitebox --data data/processed/<ds>.pt --model models/<key>.pt \
        --out runs/whitebox/<key>.csv
"""

from __future__ import annotations

from advgrad.attack import whitebox_errors
from advgrad.checkpoint import load_models
from advgrad.data import load_mnist
from advgrad.io import save_text
from advgrad.mnist_model import INPUT_RANGE, from_entry
from stages.common import cli, stage_errors
from stages.params import Params


def run(params: Params, models: dict, test) -> str:
    """The CSV: one row per seed and eps, the error in percent."""
    clip = INPUT_RANGE if params.attack.clip else None
    rows = whitebox_errors(models, test.x, test.y, params.attack.whitebox_eps, clip)
    return "seed,eps,error_pct\n" + "".join(f"{r['seed']},{r['eps']:g},{r['error_pct']:.4f}\n" for r in rows)


def main(argv=None) -> None:
    args, params = cli(__doc__, argv, "--data", "--model", "--out")
    with stage_errors("whitebox"):
        test = load_mnist(args.data, "cpu").test
        save_text(run(params, load_models(args.model, from_entry)[1], test), args.out)


if __name__ == "__main__":
    main()

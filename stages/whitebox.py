"""DVC stage: white-box FGSM error of one Table 2 configuration over an eps grid (beyond the
paper): each seed's model is attacked with its own gradients on the test set."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from advgrad.attack import whitebox_errors
from advgrad.data import load_mnist
from advgrad.io import atomic_path
from advgrad.mlp import INPUT_RANGE
from stages.common import load_mlp_checkpoint, setup_logging, stage_errors
from stages.params import load_params_or_exit


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = ap.parse_args(argv)
    setup_logging()
    params = load_params_or_exit(args.params)
    clip = INPUT_RANGE if params.attack.clip else None

    with stage_errors("whitebox"):
        data = load_mnist(args.data, "cpu")
        _, models, ckpt = load_mlp_checkpoint(args.model)
        rows = whitebox_errors(models, data.test.x, data.test.y, params.attack.whitebox_eps, clip)
        df = pd.DataFrame(rows)
        df["seed"] = [ckpt["seeds"][i] for i in df.pop("seed_index")]
        with atomic_path(args.out) as tmp:
            df[["seed", "eps", "error_pct"]].to_csv(tmp, index=False, float_format="%.4f")


if __name__ == "__main__":
    main()

"""Stage preprocess@<dataset>: an MNIST-format dataset as compact tensors with its splits.

    python -m stages.preprocess_mnist --raw data/raw/<dataset> --out data/processed/<dataset>.pt

Reads params.yaml keys mnist.train_size and mnist.validation_size. Output: uint8 images (N, 784)
and labels, the validation indices (the last mnist.validation_size training images) and meta
(dataset, verified, sizes); `advgrad.data.load_mnist` turns it into float tensors on a device.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from advgrad.data.idx import IdxFormatError
from advgrad.data.prepare import PrepareError, prepare_mnist, read_mnist
from advgrad.io import OutputError, save_checked
from stages.common import setup_logging
from stages.download import read_manifest
from stages.params import ParamsError, load_params

log = logging.getLogger("advgrad")


def run(raw: str | Path, validation_size: int, train_size: int | None) -> dict:
    """Read the downloaded files in `raw` and return the dict to store."""
    manifest = read_manifest(raw)
    x_train, y_train, x_test, y_test = read_mnist(raw)
    return prepare_mnist(x_train, y_train, x_test, y_test, train_size=train_size,
                         validation_size=validation_size, dataset=manifest["dataset"],
                         verified=manifest["verified"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--raw", required=True, type=Path, help="download folder, data/raw/<dataset>")
    parser.add_argument("--out", required=True, type=Path, help="output file, data/processed/<dataset>.pt")
    args = parser.parse_args(argv)
    setup_logging()
    try:
        params = load_params().mnist
        blob = run(args.raw, params.validation_size, params.train_size)
    except (ParamsError, IdxFormatError, PrepareError, FileNotFoundError) as e:
        raise SystemExit(f"preprocess_mnist: {e}") from None
    try:
        save_checked(blob, args.out)
    except OutputError as e:
        raise SystemExit(f"preprocess_mnist: {e}") from None
    meta = blob["meta"]
    log.info("%s: %d training images (%d validation), %d test -> %s%s", meta["dataset"],
             meta["n_train"], meta["validation_size"], meta["n_test"], args.out,
             "" if meta["verified"] else " (UNVERIFIED data)")


if __name__ == "__main__":
    main()

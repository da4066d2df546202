"""Stage preprocess@<dataset>: an MNIST-format dataset as compact tensors with its splits.

    python -m stages.preprocess_mnist --raw data/raw/<dataset> --out data/processed/<dataset>.pt

Reads params.yaml keys mnist.train_size and mnist.validation_size. Output: uint8 images (N, 784)
and labels, the validation indices (the last mnist.validation_size training images) and meta
(dataset, verified, sizes); `advgrad.mnist.data.load_mnist` turns it into float tensors on a device.
"""

from __future__ import annotations

import logging
from pathlib import Path

from advgrad.core.io import OutputError, PrepareError, save_checked
from advgrad.data.idx import IdxFormatError, read_mnist
from advgrad.mnist.data import prepare_mnist
from stages.common import cli
from stages.download import read_manifest

log = logging.getLogger("advgrad")


def run(raw: str | Path, validation_size: int, train_size: int | None) -> dict:
    """Read the downloaded files in `raw` and return the dict to store."""
    manifest = read_manifest(raw)
    x_train, y_train, x_test, y_test = read_mnist(raw)
    return prepare_mnist(
        x_train,
        y_train,
        x_test,
        y_test,
        train_size=train_size,
        validation_size=validation_size,
        dataset=manifest["dataset"],
        verified=manifest["verified"],
    )


def main(argv: list[str] | None = None) -> None:
    args, params = cli(__doc__, argv, "--raw", "--out")
    try:
        blob = run(args.raw, params.mnist.validation_size, params.mnist.train_size)
        save_checked(blob, args.out)
    except (IdxFormatError, PrepareError, FileNotFoundError, OutputError) as e:
        raise SystemExit(f"preprocess_mnist: {e}") from None
    meta = blob["meta"]
    log.info(
        "%s: %d training images (%d validation), %d test -> %s%s",
        meta["dataset"],
        meta["n_train"],
        meta["validation_size"],
        meta["n_test"],
        args.out,
        "" if meta["verified"] else " (UNVERIFIED data)",
    )


if __name__ == "__main__":
    main()

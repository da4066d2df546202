"""Stage preprocess@<dataset>: an MNIST-format dataset as compact tensors with its splits.

    python -m stages.preprocess_mnist --raw data/raw/<dataset> --out data/processed/<dataset>.pt

Reads params.yaml keys mnist.train_size and mnist.validation_size. Output: uint8 images (N, 784)
and labels, the validation indices (the last mnist.validation_size training images) and meta
(dataset, verified, sizes); `advgrad.mnist.data.load_mnist` turns it into float tensors on a device.
"""

from __future__ import annotations

from pathlib import Path

from advgrad.data.idx import IdxFormatError, read_mnist
from advgrad.mnist.data import prepare_mnist
from stages.common import cli
from stages.download import download_meta, save_processed


def run(raw: str | Path, validation_size: int, train_size: int | None) -> dict:
    """Read the downloaded files in `raw` and return the dict to store."""
    meta = download_meta(raw)
    return prepare_mnist(*read_mnist(raw), train_size=train_size, validation_size=validation_size, **meta)


def main(argv: list[str] | None = None) -> None:
    args, params = cli(__doc__, argv, "--raw", "--out")
    make = lambda: run(args.raw, params.mnist.validation_size, params.mnist.train_size)
    save_processed("preprocess_mnist", make, args.out, IdxFormatError)


if __name__ == "__main__":
    main()

"""Stage preprocess@cifar-10-<prep>: CIFAR-10 as uint8 tensors plus the fitted input transform.

    python -m stages.preprocess_cifar --prep {zca|simple} --raw data/raw/cifar-10 \
        --out data/processed/cifar-10-<prep>.pt

Reads params.yaml keys cifar10.train_size, cifar10.zca_epsilon and cifar10.gcn (the latter two
only matter for zca). The transform is fitted on the training set only (paper §4, Table 3);
`advgrad.cifar.data.load_cifar` applies it on the training device.
"""

from __future__ import annotations

from pathlib import Path

from advgrad.cifar.data import prepare_cifar
from advgrad.data.cifar import CifarFormatError, read_cifar_tar
from advgrad.data.sources import CIFAR_ARCHIVE
from stages.common import cli
from stages.download import download_meta, save_processed
from stages.params import CIFAR_PREPS


def run(raw: str | Path, prep: str, train_size: int | None, zca_epsilon: float, gcn: bool) -> dict:
    """Read the downloaded archive in `raw` and return the dict to store."""
    meta = download_meta(raw)
    arrays = read_cifar_tar(Path(raw) / CIFAR_ARCHIVE)
    return prepare_cifar(arrays, prep=prep, train_size=train_size, zca_epsilon=zca_epsilon, gcn=gcn, **meta)


def main(argv: list[str] | None = None) -> None:
    args, params = cli(__doc__, argv, ("--prep", CIFAR_PREPS), "--raw", "--out")
    c = params.cifar10
    make = lambda: run(args.raw, args.prep, c.train_size, c.zca_epsilon, c.gcn)
    save_processed("preprocess_cifar", make, args.out, CifarFormatError)


if __name__ == "__main__":
    main()

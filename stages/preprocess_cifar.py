"""Stage preprocess@cifar-10-<prep>: CIFAR-10 as uint8 tensors plus the fitted input transform.

    python -m stages.preprocess_cifar --prep {zca|simple} --raw data/raw/cifar-10 \
        --out data/processed/cifar-10-<prep>.pt

Reads params.yaml keys cifar10.train_size, cifar10.zca_epsilon and cifar10.gcn (the latter two
only matter for zca). The transform is fitted on the training set only (paper §4, Table 3);
`advgrad.cifar.data.load_cifar` applies it on the training device.
"""

from __future__ import annotations

import logging
from pathlib import Path

from advgrad.cifar.data import prepare_cifar
from advgrad.core.io import OutputError, PrepareError, save_checked
from advgrad.data.cifar import CifarFormatError, read_cifar_tar
from advgrad.data.sources import CIFAR_ARCHIVE
from stages.common import cli
from stages.download import read_manifest
from stages.params import CIFAR_PREPS

log = logging.getLogger("advgrad")


def run(raw: str | Path, prep: str, train_size: int | None, zca_epsilon: float, gcn: bool) -> dict:
    """Read the downloaded archive in `raw` and return the dict to store."""
    manifest = read_manifest(raw)
    arrays = read_cifar_tar(Path(raw) / CIFAR_ARCHIVE)
    return prepare_cifar(
        arrays,
        prep=prep,
        train_size=train_size,
        zca_epsilon=zca_epsilon,
        gcn=gcn,
        dataset=manifest["dataset"],
        verified=manifest["verified"],
    )


def main(argv: list[str] | None = None) -> None:
    args, params = cli(__doc__, argv, ("--prep", CIFAR_PREPS), "--raw", "--out")
    c = params.cifar10
    try:
        blob = run(args.raw, args.prep, c.train_size, c.zca_epsilon, c.gcn)
        save_checked(blob, args.out)
    except (CifarFormatError, PrepareError, FileNotFoundError, OutputError) as e:
        raise SystemExit(f"preprocess_cifar: {e}") from None
    meta = blob["meta"]
    log.info(
        "%s (%s): %d training images, %d test -> %s%s",
        meta["dataset"],
        args.prep,
        meta["n_train"],
        meta["n_test"],
        args.out,
        "" if meta["verified"] else " (UNVERIFIED data)",
    )


if __name__ == "__main__":
    main()
